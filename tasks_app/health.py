"""GET /healthz: is the database writable, the queue reachable, the consumer alive and keeping up,
and are the files under DATA_DIR in shape (recent backup, free disk, WAL size)?"""

import datetime

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection, transaction
from django.db.models import Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tasks_app import metrics, queue
from tasks_app.models import ConsumerHeartbeat, JobRun
from tasks_app.services import file_health


def _database_writable() -> bool:
    try:
        # transaction_mode IMMEDIATE takes SQLite's write lock when the transaction begins.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return False
    return True


def _age(moment) -> float | None:
    return round((timezone.now() - moment).total_seconds(), 1) if moment else None


def _oldest_waiting_by_lane() -> dict:
    """Per lane, when its oldest waiting job was enqueued, leaving out the jobs of a person who has
    a job running in that lane: those wait for their own person's work (a fair lane gives one
    person only some of its places), and one person's flood must not page the operators."""
    running = set(
        JobRun.objects.filter(state=JobRun.State.RUNNING, triggered_by__isnull=False).values_list(
            "lane", "triggered_by_id"
        )
    )
    waiting = (
        JobRun.objects.filter(state=JobRun.State.PENDING)
        .values("lane", "triggered_by_id")
        .annotate(oldest=Min("enqueued_at"))
        .values_list("lane", "triggered_by_id", "oldest")
    )
    oldest_by_lane = {}
    for lane, person, oldest in waiting:
        if (lane, person) not in running and oldest is not None:
            oldest_by_lane[lane] = min(oldest_by_lane.get(lane, oldest), oldest)
    return oldest_by_lane


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when healthy, 503 otherwise, with the names of the failing checks. What is wrong and
    the figures (free disk, files' sizes, queue depth, lanes' waits) only for staff and for the
    metrics' callers (METRICS_ALLOWED_NETWORKS, METRICS_TOKEN): a load balancer needs no more."""
    checks: dict = {"database_writable": _database_writable()}
    try:
        checks["queue_depth"] = queue.pending_count()
        checks["queue_reachable"] = True
    except Exception:
        checks["queue_depth"] = None
        checks["queue_reachable"] = False

    newest_beat = ConsumerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    live = ConsumerHeartbeat.objects.filter(
        beat_at__gte=timezone.now() - datetime.timedelta(seconds=settings.HEALTH_CONSUMER_MAX_AGE)
    )
    behind = {beat.consumer_id: _age(beat.history_flushed_at) for beat in live if beat.history_flushed_at}
    checks["history_writer_age"] = max(behind.values(), default=None)
    oldest_by_lane = _oldest_waiting_by_lane()
    checks["consumer_heartbeat_age"] = _age(newest_beat)
    checks["oldest_pending_age"] = _age(min(oldest_by_lane.values(), default=None))
    checks["oldest_pending_age_by_lane"] = {lane: _age(oldest) for lane, oldest in sorted(oldest_by_lane.items())}
    files = file_health.measure()
    checks["files"] = files.checks

    problems: list[tuple[str, str]] = []  # (the check's name, what is wrong)
    if not checks["database_writable"]:
        problems.append(("database", "database is not writable"))
    if not checks["queue_reachable"]:
        problems.append(("queue", "queue is not reachable"))
    if settings.HUEY_IMMEDIATE:
        checks["consumer"] = "immediate mode: jobs run inline, no consumer needed"
    elif newest_beat is None:
        problems.append(("consumer", "no consumer is running"))
    elif checks["consumer_heartbeat_age"] > settings.HEALTH_CONSUMER_MAX_AGE:
        problems.append(("consumer", f"consumer heartbeat older than {settings.HEALTH_CONSUMER_MAX_AGE}s"))
    for consumer_id, age in sorted(behind.items()):
        if age > settings.HEALTH_HISTORY_MAX_AGE:
            problems.append(("history", f"consumer {consumer_id} has not written its job history for {age:.0f}s"))
    for lane, age in checks["oldest_pending_age_by_lane"].items():
        limit = settings.HEALTH_LANE_MAX_AGE.get(lane, settings.HEALTH_PENDING_MAX_AGE)
        if age > limit:
            problems.append(("lanes", f"a job in lane {lane!r} has waited longer than {limit}s"))
    problems += [("files", problem) for problem in files.problems]

    status = 503 if problems else 200
    failing = sorted({name for name, _ in problems})
    body = {"status": "fail" if problems else "ok", "failing": failing}
    if request.user.is_staff or metrics.allowed(request):
        body |= {"problems": [problem for _, problem in problems], "checks": checks}
    return JsonResponse(body, status=status)
