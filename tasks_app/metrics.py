"""GET /metrics: the background jobs in Prometheus' text format, read from the database at scrape time.

Nothing is counted in the memory of a process: the numbers are the same whichever gunicorn
worker answers and however many consumers run, they survive restarts, and they agree with /ops/.

- Counters and histograms (jobs by final state, retried, requeued, wait and run times) are
  running totals (JobTotal) the history writer adds to as each job finishes: a scrape reads a
  few rows per job name, whatever the size of the history, and pruning the history changes
  nothing. They start from zero when the totals were added (migration 0018), not from the
  history kept before.
- Gauges (waiting, paused, running, each lane's oldest wait) count the jobs in those states now,
  through the (state, enqueued_at) index.
- The files' health (`services.file_health`, as /healthz and /ops/ read it): free disk under
  DATA_DIR, the newest backup's age, each SQLite file's and its WAL's size (PostgreSQL: the
  database's size and connections).
- Web requests by status class and their latency are counted in each web process
  (`RequestMetricsMiddleware`); under gunicorn each worker writes its counts to files that a
  scrape adds up (prometheus-client's multiprocess mode, set up by gunicorn.conf.py), so every
  worker answers with the totals of all. They start from zero when gunicorn starts.

Access: from METRICS_ALLOWED_NETWORKS (default: this machine only), and from anywhere with
`Authorization: Bearer <METRICS_TOKEN>` when that is set; anyone else gets a 403.
"""

import hmac
import ipaddress
import os
import time
from collections import defaultdict

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from tasks_app.client import client_ip
from tasks_app.models import ConsumerHeartbeat, JobRun, JobTotal, PausedJob
from tasks_app.queue.history import BUCKETS
from tasks_app.services import file_health
from tasks_app.services.file_health import MB
from tasks_app.services.job_stats import HELD_STATES

State = JobRun.State
FINAL_STATES = [State.SUCCEEDED, State.FAILED, State.REVOKED, State.EXPIRED]
LABELS = ["lane", "name"]

# Registered in the scrape's registry: in a single process as they are, under gunicorn through the files.
WEB_REQUESTS = Counter("tasks_web_requests", "Web requests answered, by status class", ["status"], registry=None)
WEB_LATENCY = Histogram(
    "tasks_web_request_seconds",
    "Seconds to answer a web request",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=None,
)


class RequestMetricsMiddleware:
    """Count each web request by its status class ("2xx"…) and time it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        WEB_LATENCY.observe(time.perf_counter() - started)
        WEB_REQUESTS.labels(f"{response.status_code // 100}xx").inc()
        return response


def _totals() -> dict[tuple[str, str], dict]:
    """Each lane's and job name's running totals: {(lane, name): {(series, le): value}}."""
    totals: dict[tuple[str, str], dict] = defaultdict(dict)
    for lane, name, series, le, value in JobTotal.objects.values_list("lane", "name", "series", "le", "value"):
        totals[lane, name][series, le] = value
    return totals


def _now_by_job() -> dict[tuple[str, str], dict]:
    """Each lane's and job name's jobs waiting, held and running now, and its oldest waiting one."""
    now: dict[tuple[str, str], dict] = defaultdict(lambda: {"running": 0, "pending": 0, "held": 0, "oldest": None})
    rows = (
        JobRun.objects.filter(state__in=[State.RUNNING, State.PENDING, *HELD_STATES])
        .values_list("lane", "name", "state")
        .annotate(jobs=Count("id"), oldest=Min("enqueued_at"))
    )
    for lane, name, state, jobs, oldest in rows:
        job = now[lane, name]
        if state == State.RUNNING:
            job["running"] += jobs
        if state == State.PENDING:
            job["pending"] += jobs
            job["oldest"] = oldest
        if state in HELD_STATES:
            job["held"] += jobs
    return now


def _histogram(totals: dict, series: str) -> tuple[list[tuple[str, float]], float]:
    buckets = [(floatToGoString(bound), totals.get((f"{series}_le", bound), 0)) for bound in BUCKETS]
    return [*buckets, ("+Inf", totals.get((f"{series}_count", 0), 0))], totals.get((f"{series}_sum", 0), 0)


class JobCollector:
    """prometheus-client's custom collector: reads the database on each scrape."""

    def collect(self):
        now = timezone.now()
        paused = set(PausedJob.objects.values_list("name", flat=True))
        finished = CounterMetricFamily(
            "tasks_jobs_finished", "Jobs finished, by final state", labels=[*LABELS, "state"]
        )
        retried = CounterMetricFamily("tasks_jobs_retried", "Finished jobs that ran more than once", labels=LABELS)
        requeued = CounterMetricFamily(
            "tasks_jobs_requeued", "Finished jobs handed out again after their consumer died", labels=LABELS
        )
        running = GaugeMetricFamily("tasks_jobs_running", "Jobs running now", labels=LABELS)
        waiting = GaugeMetricFamily(
            "tasks_jobs_waiting", "Jobs waiting for a worker now (paused ones apart)", labels=LABELS
        )
        held = GaugeMetricFamily("tasks_jobs_paused", "Jobs held now because their job is paused", labels=LABELS)
        wait = HistogramMetricFamily("tasks_job_wait_seconds", "Seconds from enqueued to started", labels=LABELS)
        run = HistogramMetricFamily("tasks_job_run_seconds", "Seconds the last attempt ran", labels=LABELS)
        totals, current = _totals(), _now_by_job()
        oldest_by_lane = dict.fromkeys(settings.HUEY_LANES)
        for lane, name in sorted(totals.keys() | current.keys()):
            job, total, state = [lane, name], totals.get((lane, name), {}), current.get((lane, name))
            is_paused = name in paused
            for final in FINAL_STATES:
                finished.add_metric([*job, final], total.get((f"finished:{final}", 0), 0))
            retried.add_metric(job, total.get(("retried", 0), 0))
            requeued.add_metric(job, total.get(("requeued", 0), 0))
            wait.add_metric(job, *_histogram(total, "wait"))
            run.add_metric(job, *_histogram(total, "run"))
            state = state or {"running": 0, "pending": 0, "held": 0, "oldest": None}
            running.add_metric(job, state["running"])
            waiting.add_metric(job, 0 if is_paused else state["pending"])
            held.add_metric(job, state["held"] if is_paused else 0)
            oldest = oldest_by_lane.get(lane)
            if state["oldest"] and not is_paused and (oldest is None or state["oldest"] < oldest):
                oldest_by_lane[lane] = state["oldest"]
        oldest_age = GaugeMetricFamily(
            "tasks_lane_oldest_waiting_seconds",
            "Age of the lane's oldest waiting job; 0 when none waits",
            labels=["lane"],
        )
        for lane, oldest in oldest_by_lane.items():
            oldest_age.add_metric([lane], (now - oldest).total_seconds() if oldest else 0)
        yield from [finished, retried, requeued, running, waiting, held, oldest_age, wait, run]
        yield from _consumers(now)
        yield from _files()


def _consumers(now):
    beat_age = GaugeMetricFamily(
        "tasks_consumer_heartbeat_age_seconds", "Seconds since the consumer's last heartbeat", labels=["consumer"]
    )
    flush_age = GaugeMetricFamily(
        "tasks_consumer_history_flush_age_seconds",
        "Seconds since the consumer's history writer last had everything written",
        labels=["consumer"],
    )
    for consumer_id, beat_at, flushed_at in ConsumerHeartbeat.objects.values_list(
        "consumer_id", "beat_at", "history_flushed_at"
    ):
        beat_age.add_metric([consumer_id], (now - beat_at).total_seconds())
        if flushed_at:
            flush_age.add_metric([consumer_id], (now - flushed_at).total_seconds())
    return [beat_age, flush_age]


COLLECTOR = JobCollector()


def allowed(request: HttpRequest) -> bool:
    """Whether `request` may read the figures: a METRICS_TOKEN bearer, or a METRICS_ALLOWED_NETWORKS address."""
    given = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and hmac.compare_digest(given.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:  # no usable client address
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The job metrics for Prometheus; 403 to a client neither allowed by network nor with the token."""
    if not allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    registry = CollectorRegistry()
    registry.register(COLLECTOR)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(WEB_REQUESTS)
        registry.register(WEB_LATENCY)
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _files():
    figures = file_health.measure().checks
    yield GaugeMetricFamily("tasks_disk_free_bytes", "Free disk under DATA_DIR", value=figures["disk_free_mb"] * MB)
    if figures["backup"] is not None:
        yield GaugeMetricFamily(
            "tasks_backup_age_seconds", "Age of the newest verified backup", value=figures["backup"]["age_hours"] * 3600
        )
    sizes = GaugeMetricFamily("tasks_sqlite_file_bytes", "A SQLite file's size, and its WAL's", labels=["file", "part"])
    for name, file in figures["sqlite_files"].items():
        sizes.add_metric([name, "database"], file["mb"] * MB)
        sizes.add_metric([name, "wal"], file["wal_mb"] * MB)
    yield sizes
    if "postgres" in figures:
        yield GaugeMetricFamily(
            "tasks_postgres_database_bytes", "The database's size", value=figures["postgres"]["database_mb"] * MB
        )
        yield GaugeMetricFamily(
            "tasks_postgres_connections", "Connections to the database", value=figures["postgres"]["connections"]
        )
