"""The few functions through which the app talks to the queue (re-exported by `tasks_app.queue`).

Views, the API, the admin and management commands go through here rather than touching Huey,
so that delivery guarantees and job history live in one place.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from huey.api import Task, TaskWrapper, chord, group
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobEvent, JobRun, PausedJob
from tasks_app.queue import history, pause
from tasks_app.queue.context import acting_person as acting_person  # public
from tasks_app.queue.leased import LeasedHuey
from tasks_app.queue.unique import claim_unique as claim_unique  # public
from tasks_app.queue.writer import enqueueing


def enqueue_on_commit(job: TaskWrapper, *args, user=None, **kwargs) -> str:
    """Enqueue `job(*args, **kwargs)` once the current transaction commits; return its job id now.

    The job's history row is written now, in the caller's transaction: the work and the record
    of its job commit together or not at all. If the process dies after the commit and before
    the enqueue, the consumer finds the row and enqueues the job (`queue.recovery`).
    `user` (reserved: jobs take no argument of that name) is recorded as who started it;
    Huey's own options pass through (`priority=`, `id=` as given by `claim_unique`).
    """
    return enqueue_message_on_commit(job.s(*args, **kwargs), user=user)


def enqueue_message_on_commit(message: Task | group, *, user=None) -> str:
    """The same for a prepared message: a job with `.then()` steps, or a chord.

    Returns the id of the job whose end means the work is done: the last step of a pipeline,
    or a chord's callback. A chord's jobs are recorded as they are enqueued, after the commit.
    """
    user_id = user.pk if user is not None else None
    recorded = frozenset()
    if isinstance(message, Task):
        _record_enqueue(message, user_id)
        recorded = frozenset([message.id])
        message.handed_over = True  # enqueued once, by this request or by recovery (`queue.recovery`)

    def enqueue() -> None:
        with enqueueing(user_id, recorded):
            HUEY.enqueue(message)

    transaction.on_commit(enqueue)
    last = message.callback if isinstance(message, chord) else message
    while last.on_complete is not None:
        last = last.on_complete
    return last.id


def _record_enqueue(task: Task, user_id: int | None, **extra) -> None:
    """Write a job's history row and its `enqueued` event in the open transaction."""
    if not settings.JOB_HISTORY_ENABLED:
        return
    if task.expires:
        task.resolve_expires(HUEY.utc)
    message = bytes(HUEY.serialize_task(task))
    with connection.cursor() as cursor:
        history.insert_enqueued(cursor, task, now=timezone.now(), user_id=user_id, message=message, **extra)


def cancel(run: JobRun, *, note: str = "") -> bool:
    """Revoke a job that has not started; False when it already runs or has finished.

    A `note` (who canceled it, from where) is recorded as a `canceled` event in its history.
    """
    if run.state not in JobRun.WAITING_STATES:
        return False
    HUEY.revoke_by_id(run.id)
    canceled = bool(
        JobRun.objects.filter(pk=run.pk, state__in=JobRun.WAITING_STATES).update(
            state=JobRun.State.REVOKED,
            finished_at=timezone.now(),
            state_changed_at=timezone.now(),
            error="Canceled before it ran.",
        )
    )
    if canceled:
        history.finished_outside_the_writer(run, JobRun.State.REVOKED)
    if canceled and note:
        JobEvent.objects.create(job_id=run.pk, kind="canceled", at=timezone.now(), detail=note)
    return canceled


def retry(run: JobRun, *, user=None, note: str = "") -> str:
    """Enqueue a failed job again as a new job with its full retries; return the new job's id.

    A failed job is retried once: retrying it again returns the job already started for it.
    A `note` (who retried it, from where) is recorded as a `retried` event in the failed job's history.
    """
    if run.state != JobRun.State.FAILED or not run.message:
        raise ValueError("only a failed job whose message was kept can be retried")
    with transaction.atomic():
        run = JobRun.objects.select_for_update().get(pk=run.pk)
        earlier = run.retried_as.values_list("id", flat=True).first()
        if earlier is not None:
            return earlier
        task = HUEY.deserialize_task(bytes(run.message))
        task.id = task.create_id()
        task.revoke_id = f"r:{task.id}"
        task.retries = type(task).default_retries
        task.retry_delay = type(task).default_retry_delay
        task.eta = None
        user_id = user.pk if user else run.triggered_by_id
        _record_enqueue(task, user_id, retry_of_id=run.pk, task_id=run.task_id)
        JobRun.objects.filter(pk=run.pk).update(dismissed_at=timezone.now())
        if note:
            JobEvent.objects.create(
                job_id=run.pk, kind="retried", at=timezone.now(), detail=f"as job {task.id}, {note}"
            )

        def enqueue() -> None:
            with enqueueing(user_id, frozenset([task.id])):
                HUEY.enqueue(task)

        transaction.on_commit(enqueue)
    return task.id


def dismiss(run: JobRun) -> None:
    """Take a failed job off the failed-jobs list, keeping its history."""
    JobRun.objects.filter(pk=run.pk, state=JobRun.State.FAILED).update(dismissed_at=timezone.now())


def pause_job(name: str, *, user=None) -> None:
    """Hold every run of the job `name` until resumed (chords and pipelines wait)."""
    PausedJob.objects.get_or_create(name=name, defaults={"paused_by": user})
    pause.forget_paused_names()


def resume_job(name: str) -> None:
    """Run the job `name` again; its held runs go back to the queue at once."""
    PausedJob.objects.filter(name=name).delete()
    pause.forget_paused_names()
    if getattr(HUEY, "holds_until_resumed", False):
        HUEY.resume(name)


def run_now(name: str, *, user=None) -> str:
    """Enqueue one run of the periodic job `name` now, outside its schedule; return its job id.

    Its ledger is untouched (no tick was due). A job with a lock still never runs twice at once:
    a run that finds the lock held is skipped, as a scheduled one would be.
    """
    return enqueue_message_on_commit(HUEY._registry.string_to_task(name)(), user=user)


def pending_count() -> int:
    """Jobs waiting in the queue now (not those a consumer holds)."""
    return HUEY.pending_count()


def scheduled_count() -> int:
    """Jobs waiting for a later time (delayed, retrying or paused)."""
    return HUEY.scheduled_count()


def claimed_count() -> int | None:
    """Jobs a consumer holds now (running or about to); None where the queue cannot tell (Redis)."""
    return HUEY.storage.claimed_size() if isinstance(HUEY, LeasedHuey) and not HUEY.immediate else None


def job_name(job: TaskWrapper) -> str:
    """The name Huey registers a job under (and JobRun.name records)."""
    return history.job_name(job.task_class)
