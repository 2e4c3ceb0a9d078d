"""Settings for the task tracker, read from the environment (see README, "Configuration")."""

import datetime
import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from tasks_app.queue import lanes

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def postgres_dsn(url: str, *, setting: str) -> str:
    """A postgres:// URL as libpq's key=value connection string (what Huey's storage takes)."""
    try:
        parts = dj_database_url.parse(url)
    except ValueError as error:
        raise ImproperlyConfigured(f"{setting} cannot be read: {error}") from None
    if parts["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"{setting} must be a postgres:// URL for the queue; got {url.split(':')[0]}://")
    from psycopg.conninfo import make_conninfo

    names = {"NAME": "dbname", "USER": "user", "PASSWORD": "password", "HOST": "host", "PORT": "port"}
    return make_conninfo(
        **{key: parts[name] for name, key in names.items() if parts.get(name)}, **parts.get("OPTIONS", {})
    )


DEBUG = env_bool("DJANGO_DEBUG", False)

# All runtime state lives under DATA_DIR: both SQLite files, uploads, generated files, backups.
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "db"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)  # SQLite and the Huey queue open files here at startup.

# The key: DJANGO_SECRET_KEY, else the one `make run` generated under DATA_DIR (so that a command
# run from the checkout, `make manage ARGS=…` or `.venv/bin/python manage.py …`, uses it too).
_GENERATED_KEY = DATA_DIR / "secret_key"
SECRET_KEY = env_str("DJANGO_SECRET_KEY") or (_GENERATED_KEY.read_text().strip() if _GENERATED_KEY.exists() else "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`), or set DJANGO_DEBUG=1 for local development. "
            f"`make run` generates one for you in {_GENERATED_KEY}."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

# How the tool's hints tell a person to run a management command: "make" (`make manage ARGS="…"`,
# in a checkout), or a command to put before its arguments (the deploy kit's `tasks-manage`).
MANAGE_COMMAND = env_str("MANAGE_COMMAND", "make")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
# Behind a TLS proxy (README, "Deploying on one server"): the proxy says the request came over
# HTTPS in X-Forwarded-Proto, so request.is_secure() holds and reset links are https://. Only
# behind a proxy that sets that header itself: else any client could claim HTTPS.
if env_bool("DJANGO_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Only for a proxy that replaces the Host header with its own and passes the original in X-Forwarded-Host.
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)

MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"

INSTALLED_APPS = [
    "tasks_app",  # first, so its registration/ templates win over the admin's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "huey.contrib.djhuey",
    "axes",
    "django.forms",  # its widget templates, for FORM_RENDERER below
]

MIDDLEWARE = [
    "tasks_app.metrics.RequestMetricsMiddleware",  # first: every request counted and timed (/metrics)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "tasks_app.middleware.PersonTimeZoneMiddleware",  # the person's own zone, kept in the session
    "django.contrib.messages.middleware.MessageMiddleware",
    # Before any view (CSRF's check reads the form): an oversized body is refused unread.
    "tasks_app.middleware.RequestSizeLimitMiddleware",
    # A write that waited out the database's busy timeout: 503 with Retry-After, not a 500.
    "tasks_app.middleware.DatabaseBusyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a locked-out login into the lockout page
]

ROOT_URLCONF = "site_config.urls"
WSGI_APPLICATION = "site_config.wsgi.application"
# Forms render with the templates below, so that the app's own django/forms/widgets/select.html
# (each option written in place, not included) stands in for Django's.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tasks_app.context_processors.navigation",
            ],
        },
    },
]

# The app database: SQLite under DATA_DIR, or PostgreSQL with DATABASE_URL (postgres://user:pass@host/db).
# SQLite tuned for a web server and a consumer writing at once: WAL lets readers run beside
# the writer, IMMEDIATE transactions take the write lock up front so writers queue on the
# busy timeout instead of failing with "database is locked", NORMAL sync is safe with WAL.
# The engine is Django's SQLite backend with the write lock timed (tasks_app/sqlite_backend/).
SQLITE_ENGINE = "tasks_app.sqlite_backend"
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": env_int("SQLITE_BUSY_TIMEOUT", 20),
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
# A write transaction that held SQLite's write lock, or waited for it, this long is logged with
# the line that opened it (logger tasks_app.db); 0 logs every one.
DB_TRANSACTION_LOG_MS = env_float("DB_TRANSACTION_LOG_MS", 500)
DATABASE_URL = env_str("DATABASE_URL")
# Keep each thread's connection: djhuey closes "old" connections around every job, and
# opening one (with SQLite's PRAGMAs, or PostgreSQL's handshake) cost more than a small job itself.
CONN_MAX_AGE = 600
if DATABASE_URL:
    try:
        DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)}
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be read: {error}") from None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"].update(ENGINE=SQLITE_ENGINE, OPTIONS=SQLITE_OPTIONS)
    elif DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgres:// or sqlite:// URL; got {DATABASE_URL.split(':')[0]}://"
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": SQLITE_ENGINE,
            "NAME": DATA_DIR / "app.sqlite3",
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "OPTIONS": SQLITE_OPTIONS,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tasks:task-list"
LOGOUT_REDIRECT_URL = "login"
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)
# When set, sign-up takes addresses at these domains only (`manage.py check --deploy` asks for
# this, or sign-up off, on a site that may face the internet).
SIGNUP_ALLOWED_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SIGNUP_ALLOWED_DOMAINS")]

# Password guessing (django-axes): after LOGIN_FAILURE_LIMIT failed logins for one username from
# one client address, on the login page or the admin's, that pair is locked out for
# LOGIN_COOLOFF_MINUTES. Per pair, so a stranger cannot lock a colleague out from elsewhere.
# tasks_app.auth.OneQueryPermissions answers permission checks in one query; it logs no one in.
AUTHENTICATION_BACKENDS = [
    "tasks_app.client.LoginLockoutBackend",
    "tasks_app.auth.OneQueryPermissions",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
# ... and a client after LOGIN_CLIENT_FAILURE_LIMIT failures over any usernames (password spraying).
LOGIN_CLIENT_FAILURE_LIMIT = env_int("LOGIN_CLIENT_FAILURE_LIMIT", 20)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # tasks_app.client.LoginLockoutHandler
AXES_HANDLER = "tasks_app.client.LoginLockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_CLIENT_IP_CALLABLE = "tasks_app.client.client_ip"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# Email: SMTP when EMAIL_HOST is set, otherwise each message is written to DATA_DIR/mail/.
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "tasks@localhost")
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "mail"

REST_FRAMEWORK = {
    # Token first, so an unauthenticated request gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tasks_app.api.authentication.PersonalTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # A JSON API: bodies are JSON (a form cannot tell null from ""), but for the CSV upload of imports.
    "DEFAULT_PARSER_CLASSES": ["tasks_app.api.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "tasks_app.api.schema.AutoSchema",
    # Calls with an API token are limited to API_TOKEN_RATE per user (the web pages use the session).
    "DEFAULT_THROTTLE_CLASSES": ["tasks_app.client.TokenRateThrottle"],
}
API_TOKEN_RATE = env_str("API_TOKEN_RATE", "1200/minute")
# Password reset requests (tasks_app/client.py), DRF's rate format: per requested address
# (known or not, so the answer tells nothing) and per client address.
PASSWORD_RESET_EMAIL_RATE = env_str("PASSWORD_RESET_EMAIL_RATE", "3/hour")
PASSWORD_RESET_CLIENT_RATE = env_str("PASSWORD_RESET_CLIENT_RATE", "20/hour")
SIGNUP_EMAIL_RATE = env_str("SIGNUP_EMAIL_RATE", "3/hour")  # sign-ups (and "send the link again") per address
SIGNUP_CLIENT_RATE = env_str("SIGNUP_CLIENT_RATE", "10/hour")  # sign-ups per client address
# Mails one person's actions send to others (a completion mails the task's owner); past it, none.
MAIL_SENDER_RATE = env_str("MAIL_SENDER_RATE", "20/hour")
SPECTACULAR_SETTINGS = {
    "TITLE": "Task tracker API",
    "DESCRIPTION": "Tasks and notifications. Slow work runs in the background on Huey.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own: an upload is binary there, not a URL as in responses.
    "COMPONENT_SPLIT_REQUEST": True,
    # The schema and its docs list every endpoint and field: for logged-in users unless API_DOCS_PUBLIC.
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny"
        if env_bool("API_DOCS_PUBLIC", False)
        else "rest_framework.permissions.IsAuthenticated"
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "tasks_app.models.Task.Status",
        "FileJobStatusEnum": "tasks_app.models.files.FileJob.Status",
    },
}

# Rate limits (API throttling, password resets, mail senders) count atomically (tasks_app/rate_limits.py):
# in Redis when the queue is there, else in the PostgreSQL app database, else in this SQLite file.
RATE_LIMIT_DB = DATA_DIR / "limits.sqlite3"
HUEY_REDIS_URL = env_str("HUEY_REDIS_URL")

# Huey. `immediate` is set explicitly: djhuey would silently default it to DEBUG.
# Immediate mode runs jobs inline (development, unit tests); `make run` turns it off.
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", DEBUG)
# The queue follows the app database when that is PostgreSQL; HUEY_DATABASE_URL puts it in another one.
HUEY_DATABASE_URL = env_str("HUEY_DATABASE_URL")
# The leased queue (tasks_app/queue/): a consumer's claim on a job lasts this long past its last
# heartbeat (it beats every few seconds); a job delivered this many times without finishing is
# failed instead of run again (it may be what kills the consumer).
HUEY_LEASE_SECONDS = env_int("HUEY_LEASE_SECONDS", 30)
HUEY_MAX_DELIVERIES = env_int("HUEY_MAX_DELIVERIES", 3)
if HUEY_LEASE_SECONDS < 10:
    raise ImproperlyConfigured(
        f"HUEY_LEASE_SECONDS must be at least 10 (consumers beat every 5 s); got {HUEY_LEASE_SECONDS}"
    )
if HUEY_MAX_DELIVERIES < 1:
    raise ImproperlyConfigured(f"HUEY_MAX_DELIVERIES must be at least 1; got {HUEY_MAX_DELIVERIES}")
# Lanes (tasks_app/queue/lanes.py): each job runs in one lane, and a consumer runs at most a lane's
# limit of jobs at once, so slow work never holds every worker. The route table: job -> lane;
# a job not listed runs in "default".
HUEY_LANE_ROUTES = {
    "tasks_app.jobs.emails.email_send": "emails",
    "tasks_app.jobs.emails.password_reset_send": "emails",
    "tasks_app.jobs.emails.task_completed_notify": "emails",
    "tasks_app.jobs.emails.digest_send": "emails",
    "tasks_app.jobs.files.report_build": "reports",
    "tasks_app.jobs.files.import_run": "imports",
    "tasks_app.jobs.files.export_part": "reports",
    "tasks_app.jobs.files.export_combine": "reports",
    "tasks_app.jobs.files.report_cleanup": "maintenance",
    "tasks_app.jobs.files.import_export_cleanup": "maintenance",
    "tasks_app.jobs.maintenance.db_backup": "maintenance",
    "tasks_app.jobs.maintenance.done_tasks_cleanup": "maintenance",
    "tasks_app.jobs.maintenance.job_history_prune": "maintenance",
    "tasks_app.jobs.maintenance.stats_snapshot": "maintenance",
}
try:
    HUEY_LANES = lanes.parse_limits(
        env_str("HUEY_LANES", "default=2,emails=2,reports=2,imports=1,maintenance=1"), setting="HUEY_LANES"
    )
    # The lanes this consumer serves (a dedicated consumer for reports: HUEY_CONSUMER_LANES=reports).
    HUEY_CONSUMER_LANES = env_list("HUEY_CONSUMER_LANES") or list(HUEY_LANES)
    lanes.check_names(HUEY_LANE_ROUTES.values(), HUEY_LANES, setting="HUEY_LANE_ROUTES")
    lanes.check_names(HUEY_CONSUMER_LANES, HUEY_LANES, setting="HUEY_CONSUMER_LANES")
    # In these lanes one person's jobs never hold a consumer's last place (when it has two or more):
    # someone else's report starts while a person's long ones build. Jobs of no one are not held back.
    HUEY_FAIR_LANES = env_list("HUEY_FAIR_LANES", "reports")
    lanes.check_names(HUEY_FAIR_LANES, HUEY_LANES, setting="HUEY_FAIR_LANES")
except lanes.LaneError as error:
    raise ImproperlyConfigured(str(error)) from None
HUEY = {
    "name": "tasks_app",
    "immediate": HUEY_IMMEDIATE,
    "utc": True,
    # A job's outcome is its JobRun (tasks_app/queue/): nothing reads Huey's result store, which
    # would keep every return value forever at the cost of a write per job. Chords still pass
    # their members' results (Huey stores those regardless). Unit tests, in immediate mode,
    # keep results to read what a job returned.
    "results": HUEY_IMMEDIATE,
    "consumer": {
        # One thread per job the consumer may run at once: the sum of its lanes' limits.
        "workers": env_int("HUEY_WORKERS", sum(HUEY_LANES[lane] for lane in HUEY_CONSUMER_LANES)),
        "worker_type": "thread",
        # Huey's SQLite locks never expire: a crash would leave a periodic job locked forever.
        "flush_locks": True,
        "periodic": True,
        "check_worker_health": True,
        # SIGTERM (systemd, honcho) lets running jobs finish for up to this many seconds; SIGINT
        # stops at once. Jobs still running then go back to the queue for the next consumer.
        "graceful_signal": "TERM",
        "shutdown_timeout": env_int("HUEY_SHUTDOWN_TIMEOUT", 30),
    },
}
LEASED_QUEUE = {
    "lease_seconds": HUEY_LEASE_SECONDS,
    "max_deliveries": HUEY_MAX_DELIVERIES,
    "lane_limits": {lane: HUEY_LANES[lane] for lane in HUEY_CONSUMER_LANES},
    "lane_routes": HUEY_LANE_ROUTES,
    "fair_lanes": HUEY_FAIR_LANES,
}
if HUEY_REDIS_URL:
    HUEY.update({"huey_class": "tasks_app.queue.holding.HoldingRedisHuey", "url": HUEY_REDIS_URL})
elif HUEY_DATABASE_URL or DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    HUEY.update({"huey_class": "tasks_app.queue.leased.LeasedPostgresHuey", **LEASED_QUEUE})
    HUEY["dsn"] = postgres_dsn(
        HUEY_DATABASE_URL or DATABASE_URL, setting="HUEY_DATABASE_URL" if HUEY_DATABASE_URL else "DATABASE_URL"
    )
else:
    HUEY.update(
        {
            "huey_class": "tasks_app.queue.leased.LeasedSqliteHuey",
            "filename": str(DATA_DIR / "huey.sqlite3"),
            "timeout": 20,
            **LEASED_QUEUE,
        }
    )

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "huey": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "tasks_app": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

# Job history (tasks_app/queue/): one row per job in the app database.
JOB_HISTORY_ENABLED = env_bool("JOB_HISTORY_ENABLED", True)
JOB_HISTORY_DAYS = env_int("JOB_HISTORY_DAYS", 14)
# Keyword arguments whose names match one of these (case-insensitive) are shown as ***.
JOB_REDACTED_ARGUMENTS = env_list("JOB_REDACTED_ARGUMENTS", "password,secret,token,key")

# /healthz answers 503 when the consumer's heartbeat or the oldest pending job is older than these.
HEALTH_CONSUMER_MAX_AGE = env_int("HEALTH_CONSUMER_MAX_AGE", 30)
HEALTH_PENDING_MAX_AGE = env_int("HEALTH_PENDING_MAX_AGE", 300)
# ... or when a live consumer's job history writer has not written everything for this long.
HEALTH_HISTORY_MAX_AGE = env_int("HEALTH_HISTORY_MAX_AGE", 60)
# ... or when the newest verified backup is older than this (backups run every 6 hours), free disk
# under DATA_DIR is below this, or a SQLite file's WAL is bigger than this (tasks_app/services/file_health.py).
HEALTH_BACKUP_MAX_AGE_HOURS = env_int("HEALTH_BACKUP_MAX_AGE_HOURS", 26)
HEALTH_DISK_FREE_MIN_MB = env_int("HEALTH_DISK_FREE_MIN_MB", 500)
HEALTH_WAL_MAX_MB = env_int("HEALTH_WAL_MAX_MB", 256)
# GET /metrics (Prometheus): answered to these networks, and to `Authorization: Bearer <METRICS_TOKEN>` from anywhere.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(network) for network in env_list("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128")
    ]
except ValueError as error:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {error}") from None
# ... or, per lane, older than these ("reports=1800"); lanes not listed use HEALTH_PENDING_MAX_AGE.
try:
    HEALTH_LANE_MAX_AGE = lanes.parse_limits(
        env_str("HEALTH_LANE_MAX_AGE"), setting="HEALTH_LANE_MAX_AGE", need_default=False
    )
    lanes.check_names(HEALTH_LANE_MAX_AGE, HUEY_LANES, setting="HEALTH_LANE_MAX_AGE")
except lanes.LaneError as error:
    raise ImproperlyConfigured(str(error)) from None

# The job catalog (tasks_app/jobs/).
EMAIL_RATE_LIMIT_PER_MINUTE = env_int("EMAIL_RATE_LIMIT_PER_MINUTE", 10)
# Password resets' budget, and account mail's (sign-up links, address and password changes).
EMAIL_URGENT_RATE_LIMIT_PER_MINUTE = env_int("EMAIL_URGENT_RATE_LIMIT_PER_MINUTE", 10)
# ... and of the ordinary budget, one person's actions take at most this many a minute (the rest wait).
MAIL_SENDER_PER_MINUTE = env_int("MAIL_SENDER_PER_MINUTE", min(3, EMAIL_RATE_LIMIT_PER_MINUTE))
if not 1 <= MAIL_SENDER_PER_MINUTE <= EMAIL_RATE_LIMIT_PER_MINUTE:
    raise ImproperlyConfigured(
        f"MAIL_SENDER_PER_MINUTE must be from 1 to EMAIL_RATE_LIMIT_PER_MINUTE ({EMAIL_RATE_LIMIT_PER_MINUTE}); "
        f"got {MAIL_SENDER_PER_MINUTE}"
    )
EMAIL_RETRY_BASE_SECONDS = env_int("EMAIL_RETRY_BASE_SECONDS", 30)  # backoff: base * 2**attempt, jittered
EMAIL_RETRY_MAX_SECONDS = env_int("EMAIL_RETRY_MAX_SECONDS", 1800)  # ... capped here
DONE_TASK_RETENTION_DAYS = env_int("DONE_TASK_RETENTION_DAYS", 90)
BACKUP_KEEP = env_int("BACKUP_KEEP", 8)
REPORT_RETENTION_DAYS = env_int("REPORT_RETENTION_DAYS", 7)
IMPORT_RETENTION_DAYS = env_int("IMPORT_RETENTION_DAYS", 7)  # the uploaded CSV and its row report
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7)
REPORT_ROW_DELAY_SECONDS = env_float("REPORT_ROW_DELAY_SECONDS", 0.0)  # slows reports down, to watch progress
# Report files are built in a process of their own at this CPU priority (services/report_files.py);
# inline in immediate mode.
REPORT_BUILD_PROCESS = env_bool("REPORT_BUILD_PROCESS", not HUEY_IMMEDIATE)
REPORT_BUILD_NICE = env_int("REPORT_BUILD_NICE", 10)
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 2 * 1024 * 1024)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 10_000)
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 40)
# Reports, imports and exports one person may have waiting or being made at once (429 past it).
FILE_JOBS_PER_PERSON = env_int("FILE_JOBS_PER_PERSON", 3)  # a task has 5 fields; spreadsheets add a few
# Request bodies over this are refused with a 413 before they are read (tasks_app/middleware.py):
# the largest import plus 1 MB for the multipart framing and the other fields. Keep it under the
# proxy's own cap (deploy/Caddyfile: 10 MB), so people see this message rather than the proxy's.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", IMPORT_MAX_BYTES + 1024 * 1024)
