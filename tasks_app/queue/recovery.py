"""Jobs whose history committed but whose message never reached the queue.

A request writes its job's history row in its own transaction and enqueues the message once that
commits; a web process that dies in between leaves a `pending` row and no message. The consumer
looks for such rows on every beat and enqueues them from the message kept on the row (or, when
none was kept, marks them failed with the reason), so no job is lost and /healthz settles.

A row is handed to the queue once: the request's enqueue and the recovery's both go through the
queue's record of hand-overs (`storage.enqueue(once=True)`), and the first wins, however late
the other comes (a transaction that commits many jobs enqueues them one by one after its commit).
Each beat looks at the next BATCH waiting rows, going round them all, so a lost job is found
behind any number of jobs legitimately waiting.
"""

from __future__ import annotations

import datetime
import logging

from django.db.models import Q
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobEvent, JobRun
from tasks_app.queue import history

logger = logging.getLogger("huey")

LOST_AFTER = datetime.timedelta(seconds=10)  # an enqueue follows its commit within milliseconds
BATCH = 500
HANDED_KEPT = datetime.timedelta(days=7)  # how long the queue remembers a hand-over

State = JobRun.State

_after: tuple[datetime.datetime, str] | None = None  # where the last look ended: the next goes on from there
FORGET_EVERY = datetime.timedelta(hours=1)
_forgotten_at: datetime.datetime | None = None


def requeue_lost(now: datetime.datetime, huey=HUEY) -> int:
    """Enqueue (or settle) the next waiting jobs that have no message in `huey`'s queue; return how many."""
    global _after
    waiting = JobRun.objects.filter(
        state__in=[State.PENDING, State.SCHEDULED], enqueued_at__lt=now - LOST_AFTER, updated_at__lt=now - LOST_AFTER
    )
    if _after is not None:
        enqueued_at, job_id = _after
        waiting = waiting.filter(Q(enqueued_at__gt=enqueued_at) | Q(enqueued_at=enqueued_at, id__gt=job_id))
    rows = list(waiting.order_by("enqueued_at", "id").values_list("id", "enqueued_at", "updated_at")[:BATCH])
    if len(rows) < BATCH:  # the end of the round: the next look starts from the oldest again
        _after = None
        _forget_old_hand_overs(now, huey)
    else:
        _after = (rows[-1][1], rows[-1][0])
    candidates = {job_id: updated_at for job_id, _, updated_at in rows}
    if not candidates:
        return 0
    lost = set(candidates) - huey.storage.job_ids_present(list(candidates))
    recovered = 0
    for job_id in lost:
        # Unchanged since it was read: a consumer that ran and acked the message meanwhile wrote
        # the job's `running` first. Two consumers recovering at once: one update wins.
        if JobRun.objects.filter(pk=job_id, updated_at=candidates[job_id]).update(updated_at=timezone.now()):
            recovered += _recover(JobRun.objects.get(pk=job_id), huey)
    return recovered


def _forget_old_hand_overs(now: datetime.datetime, huey) -> None:
    """At most once an hour: a delete every beat would take the queue's write lock for nothing."""
    global _forgotten_at
    if _forgotten_at is None or now - _forgotten_at >= FORGET_EVERY:
        _forgotten_at = now
        huey.storage.forget_handed((now - HANDED_KEPT).timestamp())


def _recover(run: JobRun, huey) -> bool:
    if not run.message:
        _lose(run, "Lost: its message never reached the queue and no copy was kept.")
        return True
    try:
        task = huey.deserialize_task(bytes(run.message))
    except Exception as exc:  # a job renamed or removed since: its name is no longer registered
        _lose(run, f"Lost: its message never reached the queue, and the copy kept cannot be read ({exc}).")
        return True
    message = bytes(run.message)
    if not huey.storage.enqueue(message, task.priority, job_id=run.pk, lane=huey.lane_of(task), once=True):
        return False  # its request handed it over meanwhile (a transaction's enqueues come one by one)
    detail = "its message never reached the queue (the process that enqueued it stopped): enqueued now"
    logger.warning("job %s recovered: %s", run.pk, detail)
    JobEvent.objects.create(job=run, kind="recovered", at=timezone.now(), detail=detail)
    return True


def _lose(run: JobRun, error: str) -> None:
    logger.error("job %s %s", run.pk, error)
    now = timezone.now()
    JobRun.objects.filter(pk=run.pk).update(state=State.FAILED, error=error, finished_at=now, state_changed_at=now)
    history.finished_outside_the_writer(run, State.FAILED)
    JobEvent.objects.create(job=run, kind="lost", at=now, detail=error)
