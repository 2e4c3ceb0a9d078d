"""GET /metrics: the background jobs in Prometheus' text format, read from the database at scrape time.

Every number is computed from the job history (JobRun) and the consumers' heartbeats when
Prometheus scrapes, not counted in memory: it is the same whichever gunicorn worker answers and
however many consumers run, it survives restarts, and it agrees with /ops/.

The "counters" (jobs by final state, retried, requeued, and the histograms' buckets) count the
kept history, so they drop when the nightly prune deletes jobs older than JOB_HISTORY_DAYS:
Prometheus reads a drop as a counter reset, so rate() and increase() stay right, but a raw value
is "jobs in the last JOB_HISTORY_DAYS days", not "since the beginning".

Access: from METRICS_ALLOWED_NETWORKS (default: this machine only), and from anywhere with
`Authorization: Bearer <METRICS_TOKEN>` when that is set; anyone else gets a 403.
"""

import hmac
import ipaddress

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Count, FloatField, Min, Q, Sum
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from tasks_app.client import client_ip
from tasks_app.models import ConsumerHeartbeat, JobRun, PausedJob
from tasks_app.services.job_stats import HELD_STATES

State = JobRun.State
FINAL_STATES = [State.SUCCEEDED, State.FAILED, State.REVOKED, State.EXPIRED]
BUCKETS = [0.01, 0.1, 1, 10, 60, 600]  # seconds, for both the wait and the run time


def _wait_seconds() -> RawSQL:
    """Seconds from enqueued to started (of the last attempt: Huey's retry delays count as waiting)."""
    if connection.vendor == "postgresql":
        sql = "EXTRACT(EPOCH FROM started_at - enqueued_at)"
    else:  # SQLite has no interval type; julianday() is in days
        sql = "(julianday(started_at) - julianday(enqueued_at)) * 86400"
    return RawSQL(sql, [], output_field=FloatField())


def _per_job() -> list[dict]:
    """One row per lane and job name, in one grouped query over the whole kept history."""
    buckets = {}
    for i, bound in enumerate(BUCKETS):
        buckets[f"wait_le_{i}"] = Count("id", filter=Q(wait__lte=bound))
        buckets[f"run_le_{i}"] = Count("id", filter=Q(duration__lte=bound))
    return list(
        JobRun.objects.annotate(wait=_wait_seconds())
        .values("lane", "name")
        .annotate(
            **{state: Count("id", filter=Q(state=state)) for state in FINAL_STATES},
            retried=Count("id", filter=Q(attempts__gt=1)),
            requeued=Count("id", filter=Q(deliveries__gt=1)),
            running=Count("id", filter=Q(state=State.RUNNING)),
            pending=Count("id", filter=Q(state=State.PENDING)),
            held=Count("id", filter=Q(state__in=HELD_STATES)),
            oldest_pending=Min("enqueued_at", filter=Q(state=State.PENDING)),
            wait_count=Count("wait"),
            wait_sum=Sum("wait"),
            run_count=Count("duration"),
            run_sum=Sum("duration"),
            **buckets,
        )
        .order_by("lane", "name")
    )


def _histogram(row: dict, prefix: str) -> list[tuple[str, float]]:
    return [(floatToGoString(bound), row[f"{prefix}_le_{i}"]) for i, bound in enumerate(BUCKETS)] + [
        ("+Inf", row[f"{prefix}_count"])
    ]


class JobCollector:
    """prometheus-client's custom collector: reads the database on each scrape."""

    def collect(self):
        now = timezone.now()
        paused = set(PausedJob.objects.values_list("name", flat=True))
        labels = ["lane", "name"]
        finished = CounterMetricFamily(
            "tasks_jobs_finished", "Jobs in the kept history by final state", labels=[*labels, "state"]
        )
        retried = CounterMetricFamily(
            "tasks_jobs_retried", "Jobs in the kept history that ran more than once", labels=labels
        )
        requeued = CounterMetricFamily(
            "tasks_jobs_requeued", "Jobs in the kept history handed out again after their consumer died", labels=labels
        )
        running = GaugeMetricFamily("tasks_jobs_running", "Jobs running now", labels=labels)
        waiting = GaugeMetricFamily(
            "tasks_jobs_waiting", "Jobs waiting for a worker now (paused ones apart)", labels=labels
        )
        held = GaugeMetricFamily("tasks_jobs_paused", "Jobs held now because their job is paused", labels=labels)
        wait = HistogramMetricFamily("tasks_job_wait_seconds", "Seconds from enqueued to started", labels=labels)
        run = HistogramMetricFamily("tasks_job_run_seconds", "Seconds the last attempt ran", labels=labels)
        oldest_by_lane = dict.fromkeys(settings.HUEY_LANES)
        for row in _per_job():
            job = [row["lane"], row["name"]]
            is_paused = row["name"] in paused
            for state in FINAL_STATES:
                finished.add_metric([*job, state], row[state])
            retried.add_metric(job, row["retried"])
            requeued.add_metric(job, row["requeued"])
            running.add_metric(job, row["running"])
            waiting.add_metric(job, 0 if is_paused else row["pending"])
            held.add_metric(job, row["held"] if is_paused else 0)
            wait.add_metric(job, _histogram(row, "wait"), row["wait_sum"] or 0)
            run.add_metric(job, _histogram(row, "run"), row["run_sum"] or 0)
            oldest = oldest_by_lane.get(row["lane"])
            if row["oldest_pending"] and not is_paused and (oldest is None or row["oldest_pending"] < oldest):
                oldest_by_lane[row["lane"]] = row["oldest_pending"]
        oldest_age = GaugeMetricFamily(
            "tasks_lane_oldest_waiting_seconds",
            "Age of the lane's oldest waiting job; 0 when none waits",
            labels=["lane"],
        )
        for lane, oldest in oldest_by_lane.items():
            oldest_age.add_metric([lane], (now - oldest).total_seconds() if oldest else 0)
        yield from [finished, retried, requeued, running, waiting, held, oldest_age, wait, run]
        yield from _consumers(now)


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


def _allowed(request: HttpRequest) -> bool:
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
    if not _allowed(request):
        return HttpResponseForbidden("Forbidden\n", content_type="text/plain")
    return HttpResponse(generate_latest(COLLECTOR), content_type=CONTENT_TYPE_LATEST)
