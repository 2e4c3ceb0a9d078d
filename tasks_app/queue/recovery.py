"""Jobs whose history committed but whose message never reached the queue.

A request writes its job's history row in its own transaction and enqueues the message once that
commits; a web process that dies in between leaves a `pending` row and no message. The consumer
looks for such rows on every beat and enqueues them from the message kept on the row (or, when
none was kept, marks them failed with the reason), so no job is lost and /healthz settles.
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobEvent, JobRun

logger = logging.getLogger("huey")

LOST_AFTER = datetime.timedelta(seconds=10)  # an enqueue follows its commit within milliseconds
BATCH = 500

State = JobRun.State


def requeue_lost(now: datetime.datetime) -> int:
    """Enqueue (or settle) the waiting jobs that have no message in the queue; return how many."""
    waiting = JobRun.objects.filter(
        state__in=[State.PENDING, State.SCHEDULED], enqueued_at__lt=now - LOST_AFTER, updated_at__lt=now - LOST_AFTER
    )
    candidates = dict(waiting.order_by("enqueued_at").values_list("id", "updated_at")[:BATCH])
    if not candidates:
        return 0
    lost = set(candidates) - HUEY.storage.job_ids_present(list(candidates))
    for job_id in lost:
        # Unchanged since it was read: a consumer that ran and acked the message meanwhile wrote
        # the job's `running` first. Two consumers recovering at once: one update wins.
        if JobRun.objects.filter(pk=job_id, updated_at=candidates[job_id]).update(updated_at=timezone.now()):
            _recover(JobRun.objects.get(pk=job_id))
    return len(lost)


def _recover(run: JobRun) -> None:
    if not run.message:
        return _lose(run, "Lost: its message never reached the queue and no copy was kept.")
    try:
        task = HUEY.deserialize_task(bytes(run.message))
    except Exception as exc:  # a job renamed or removed since: its name is no longer registered
        return _lose(run, f"Lost: its message never reached the queue, and the copy kept cannot be read ({exc}).")
    HUEY.enqueue(task)
    detail = "its message never reached the queue (the process that enqueued it stopped): enqueued now"
    logger.warning("job %s recovered: %s", run.pk, detail)
    JobEvent.objects.create(job=run, kind="recovered", at=timezone.now(), detail=detail)
    return None


def _lose(run: JobRun, error: str) -> None:
    logger.error("job %s %s", run.pk, error)
    now = timezone.now()
    JobRun.objects.filter(pk=run.pk).update(state=State.FAILED, error=error, finished_at=now, state_changed_at=now)
    JobEvent.objects.create(job=run, kind="lost", at=now, detail=error)
