"""Huey's signals (and the leased queue's own) become job history events."""

from __future__ import annotations

import datetime
import time

from django.conf import settings
from django.utils import timezone
from huey import signals as S
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobRun
from tasks_app.queue import history, leased, pause, progress
from tasks_app.queue.context import current, current_job_id
from tasks_app.queue.history import aware, job_name, jsonable, kept_message
from tasks_app.queue.holding import SIGNAL_READY
from tasks_app.queue.writer import record, writer
from tasks_app.services import notifications

State = JobRun.State


@HUEY.signal(S.SIGNAL_ENQUEUED)
def _on_enqueued(signal, task, *args) -> None:
    if task.id in getattr(current, "recorded", ()):
        return  # written with the request's own transaction
    eta = aware(task.eta)
    waiting = eta is not None and eta > timezone.now()
    record(
        task,
        signal,
        state=State.SCHEDULED if waiting else State.PENDING,
        enqueued_at=timezone.now(),
        eta=eta,
        triggered_by_id=getattr(current, "user_id", None),
        # Huey enqueues a job's next step or chord callback just after the job: still its parent.
        parent_id=current_job_id() or getattr(current, "last_job_id", None),
        message=kept_message(task, bytes(getattr(task, "message_data", None) or HUEY.serialize_task(task))),
        retries_left=task.retries,
    )


@HUEY.signal(S.SIGNAL_SCHEDULED)
def _on_scheduled(signal, task, *args) -> None:
    if getattr(task, "history_paused", False):
        return  # recorded once, as "paused" (below)
    record(task, signal, state=State.SCHEDULED, eta=aware(task.eta), retries_left=task.retries)


@HUEY.signal(S.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args) -> None:
    current.started = time.monotonic()
    claim = getattr(task, "claim", None)
    deliveries = {"deliveries": claim.deliveries} if claim else {}
    # Which consumer runs it: with several, the history says where each attempt ran.
    where = f"on {HUEY.consumer_id}" if getattr(HUEY, "consumer_id", None) else ""
    record(
        task, signal, where, state=State.RUNNING, started_at=timezone.now(), finished_at=None, eta=None, **deliveries
    )


def _finished() -> dict:
    """finished_at and, when the job ran in this thread, its duration in seconds."""
    started = getattr(current, "started", None)
    current.started = None
    changes = {"finished_at": timezone.now()}
    if started is not None:
        changes["duration"] = round(time.monotonic() - started, 4)
    return changes


@HUEY.signal(S.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args) -> None:
    record(
        task,
        signal,
        state=State.SUCCEEDED,
        result_summary=getattr(task, "history_result", ""),
        error="",
        traceback="",
        message=None,
        **_finished(),
    )


def _failure(task, kind: str, error: str, traceback: str = "") -> None:
    final = not task.retries
    if final:
        _tell_staff(task, error)
    record(
        task,
        kind,
        detail=error,
        state=State.FAILED if final else State.RETRYING,
        error=error,
        traceback=traceback,
        **_finished(),
    )


@HUEY.signal(S.SIGNAL_ERROR)
def _on_error(signal, task, exc=None, *args) -> None:
    tb = HUEY.build_error_result(task, exc)["traceback"] if exc is not None else ""
    _failure(task, signal, f"{type(exc).__name__}: {exc}" if exc is not None else "error", tb)


def record_retry(task, exc: Exception, delay: float) -> None:
    """A job asked to be retried after `exc` (Huey signals no error for RetryTask)."""
    record(
        task,
        S.SIGNAL_ERROR,
        detail=f"{type(exc).__name__}: {exc}; retrying in {delay:.1f}s",
        state=State.RETRYING,
        error=f"{type(exc).__name__}: {exc}",
        traceback=HUEY.build_error_result(task, exc)["traceback"],
        **_finished(),
    )


@HUEY.signal(S.SIGNAL_TIMEOUT)
def _on_timeout(signal, task, *args) -> None:
    _failure(task, signal, f"Timed out after {task.timeout}s")


def _tell_staff(task, error: str) -> None:
    if settings.JOB_HISTORY_ENABLED:
        name = job_name(type(task)).rsplit(".", 1)[-1]
        notifications.notify_staff_job_failed(job_id=task.id, job_name=name, error=error[:300])


@HUEY.signal(S.SIGNAL_INTERRUPTED)
def _on_interrupted(signal, task, *args) -> None:
    if getattr(task, "claim", None):  # the leased queue runs it again once this process has ended
        detail = "the consumer stopped while this job ran: it runs again once that process has ended"
        record(task, signal, detail=detail, state=State.PENDING, **_finished())
        return
    _tell_staff(task, "interrupted: the consumer stopped while it ran")
    record(
        task,
        signal,
        state=State.FAILED,
        **_finished(),
        error="Interrupted: the consumer stopped while this job ran. Retry it from the dashboard.",
    )


@HUEY.signal(leased.SIGNAL_FINISHED)
def _on_finished(signal, task, *args) -> None:
    writer.add_many(task.finished_events)


@HUEY.signal(leased.SIGNAL_ORPHANED)
def _on_orphaned(signal, task, *args) -> None:
    orphan = task.orphan
    since = datetime.datetime.fromtimestamp(orphan.claimed_at, datetime.UTC)
    held = f"held by consumer {orphan.claimed_by} since {since:%Y-%m-%d %H:%M:%S} UTC, now gone"
    if task.finished_events is not None:  # it had finished: what its consumer had not yet written
        record(task, signal, detail=f"{held}; it had finished: its history is written now")
        writer.add_many(history.unwritten(task.finished_events))
        return
    record(task, signal, detail=held)
    record(task, "requeued", detail="back in the queue for another consumer", state=State.PENDING)


@HUEY.signal(leased.SIGNAL_REDELIVERED)
def _on_redelivered(signal, task, *args) -> None:
    record(task, signal, detail=f"delivery {task.claim.deliveries}: its last consumer stopped while it ran")


@HUEY.signal(leased.SIGNAL_GAVE_UP)
def _on_gave_up(signal, task, *args) -> None:
    runs = task.claim.deliveries - 1
    error = (
        f"The consumer stopped {runs} times while running this job, so it was not run again "
        "(HUEY_MAX_DELIVERIES). Retry it from the dashboard once the cause is fixed."
    )
    _tell_staff(task, error)
    record(task, signal, detail=error, state=State.FAILED, error=error, finished_at=timezone.now())


@HUEY.signal(S.SIGNAL_RETRYING)
def _on_retrying(signal, task, *args) -> None:
    # Huey signals before it decrements the retries it has left.
    record(task, signal, state=State.RETRYING, retries_left=max(task.retries - 1, 0))


@HUEY.signal(S.SIGNAL_LOCKED)
def _on_locked(signal, task, *args) -> None:
    if task.retries:
        record(task, signal, state=State.RETRYING, detail="lock held by another run")
    else:
        record(
            task,
            signal,
            state=State.REVOKED,
            **_finished(),
            error="Skipped: another run of this job holds its lock.",
        )


@HUEY.signal(S.SIGNAL_RATE_LIMITED)
def _on_rate_limited(signal, task, *args) -> None:
    record(task, signal, state=State.RETRYING, detail="rate limited: waiting for the next window")


@HUEY.signal(SIGNAL_READY)
def _hold_if_paused(signal, task, *args) -> None:
    if not pause.is_paused(task):
        return
    task.held = True
    if getattr(HUEY, "holds_until_resumed", False):
        record(task, "paused", detail="job paused: runs once it is resumed", state=State.SCHEDULED, eta=None)
        return
    task.hold_until, task.history_paused = pause.recheck_at(), True
    record(task, "paused", detail="job paused", state=State.SCHEDULED, eta=aware(task.hold_until))


@HUEY.signal(S.SIGNAL_REVOKED, S.SIGNAL_EXPIRED, S.SIGNAL_CANCELED)
def _on_not_run(signal, task, *args) -> None:
    state = {S.SIGNAL_EXPIRED: State.EXPIRED}.get(signal, State.REVOKED)
    record(task, signal, state=state, **_finished())


@HUEY.pre_execute()
def _before_job(task) -> None:
    progress.start_job(task)


@HUEY.post_execute()
def _after_job(task, value, exception) -> None:
    progress.write_progress(task.id)
    current.job_id, current.last_job_id = None, task.id
    if exception is None:
        task.history_result = summarize(value)


@HUEY.on_startup()
def _consumer_started() -> None:
    writer.start()


@HUEY.on_shutdown()
def _consumer_stopping() -> None:
    writer.stop()


def summarize(value) -> str:
    """A short, human-readable form of a job's return value."""
    if value is None:
        return ""
    return repr(jsonable(value))[:500]
