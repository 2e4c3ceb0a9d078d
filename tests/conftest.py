"""Unit tests run Huey in immediate mode: each job runs inline, in memory, when enqueued.

Integration tests use `live_stack`: real subprocesses with immediate mode off."""

import os
import shutil
import subprocess

import pytest
from django.conf import settings as django_settings

from tests.backends import BACKENDS, POSTGRES_URL, QueueBackend
from tests.live_stack import LiveStack, free_port, wait_for

# The settings read the environment, so it is set before they load; loading them here lets
# pytest-django set Django up in its pytest_configure hook.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("HUEY_IMMEDIATE", "1")
assert django_settings.HUEY["immediate"], "unit tests need Huey's immediate mode"


def pytest_collection_modifyitems(items):
    """The PostgreSQL pass runs every unit test, and of the slower integration tier the tests
    marked `postgres`: those where the engine under the queue and the app changes what happens.
    Tests marked `soak` (variants of a test `make test` runs, tens of seconds each) run only in
    `make soak` (RUN_SOAK=1)."""
    soak = pytest.mark.skip(reason="a soak variant: `make soak` runs it")
    sqlite_pass = pytest.mark.skip(reason="integration test of the SQLite pass (mark it `postgres` to run it on both)")
    for item in items:
        if item.get_closest_marker("soak") and not os.environ.get("RUN_SOAK"):
            item.add_marker(soak)
        elif POSTGRES_URL and item.get_closest_marker("integration") and not item.get_closest_marker("postgres"):
            item.add_marker(sqlite_pass)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Keep files a test writes out of the real db/ folder."""
    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


@pytest.fixture
def alice(db):
    from tests.factories import make_user

    return make_user("alice")


@pytest.fixture
def api(alice):
    """The API as alice."""
    from tests.factories import api_client

    return api_client(alice)


@pytest.fixture(autouse=True)
def empty_queue():
    """Immediate mode keeps retries, schedules and locks in memory: start each test empty."""
    from huey.contrib.djhuey import HUEY

    yield
    HUEY.storage.flush_all()


@pytest.fixture(autouse=True)
def empty_cache():
    """What pages keep in the cache (the trend chart, keyed by a version another test's database
    may share) starts empty in each test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """gunicorn serves static files through WhiteNoise from STATIC_ROOT, as in production."""
    LiveStack(tmp_path_factory.mktemp("static"), DATABASE_URL="").manage("collectstatic", "--noinput")


@pytest.fixture(scope="session")
def migrated_stack(tmp_path_factory):
    """`manage.py migrate` once for the session: every live stack starts from a copy of its database."""
    stack = LiveStack(tmp_path_factory.mktemp("migrated"))
    stack.migrate()
    yield stack
    stack.stop()


def _start_stack(data_dir, migrated: LiveStack, *, consumer: bool = True, **env: str) -> LiveStack:
    stack = LiveStack(data_dir, **env)
    data_dir.mkdir()
    stack.migrate(like=migrated)
    if consumer:
        stack.start_consumer()  # it starts up while the web server does
    stack.start_web()
    if consumer:
        stack.wait_for_consumer()
    return stack


@pytest.fixture
def start_live_stack(tmp_path, collected_static, migrated_stack):
    """Start a migrated database, gunicorn and a `run_huey` consumer on a temporary DATA_DIR.

    Keyword arguments become environment variables of both processes (settings);
    consumer=False: the web server only, for a test that starts consumers of its own.
    """
    stacks = []

    def start(*, consumer: bool = True, **env: str) -> LiveStack:
        stack = _start_stack(tmp_path / f"data{len(stacks)}", migrated_stack, consumer=consumer, **env)
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop()
        print(stack.logs())  # shown by pytest only when the test failed


@pytest.fixture(scope="module")
def module_live_stack(tmp_path_factory, collected_static, migrated_stack):
    """One stack for the tests of a module that take `live_stack`: each has users and data of its own."""
    stack = _start_stack(tmp_path_factory.mktemp("live") / "data", migrated_stack)
    yield stack
    stack.stop()


@pytest.fixture
def live_stack(module_live_stack) -> LiveStack:
    """The module's stack, with its consumer running (a test before may have stopped it)."""
    stack = module_live_stack
    if stack.consumer is None or stack.consumer.poll() is not None:
        stack.start_consumer()
        stack.wait_for_consumer()
    yield stack
    print(stack.logs())  # shown by pytest only when the test failed


@pytest.fixture(params=BACKENDS)
def queue_backend(request, tmp_path) -> QueueBackend:
    """A leased queue of the test's own, on each backend of this pass (see tests/backends.py)."""
    backend = QueueBackend(request.param, tmp_path)
    yield backend
    backend.drop()


@pytest.fixture(autouse=True)
def fresh_rate_limits(settings, tmp_path):
    """Each test starts with rate limits' counts of its own, empty (on PostgreSQL, its
    transaction's rollback empties them)."""
    settings.RATE_LIMIT_DB = tmp_path / "limits.sqlite3"


@pytest.fixture
def redis_url(tmp_path):
    """A throw-away redis-server (skipped where none is installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    wait_for(
        lambda: (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True).stdout.strip()
            == "PONG"
        ),
        what="redis-server",
    )
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)
