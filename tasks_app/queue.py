"""The few functions through which the app talks to Huey's queue.

Views, the API and the admin go through here rather than touching Huey's storage, so that
delivery guarantees (leases, requeueing) and job history live in one place.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from huey.api import Task, TaskWrapper, chord, group
from huey.contrib.djhuey import HUEY

from tasks_app import job_history
from tasks_app.models import JobRun, PausedJob


def enqueue_on_commit(job: TaskWrapper, *args, user=None, **kwargs) -> str:
    """Enqueue `job(*args, **kwargs)` once the current transaction commits; return its job id now.

    If the transaction rolls back, nothing is enqueued: a job never sees a row that does not
    exist. `user` (reserved: jobs take no argument of that name) is recorded as who started it.
    """
    return enqueue_message_on_commit(job.s(*args, **kwargs), user=user)


def enqueue_message_on_commit(message: Task | group, *, user=None) -> str:
    """The same for a prepared message: a job with `.then()` steps, or a chord.

    Returns the id of the job whose end means the work is done: the last step of a pipeline,
    or a chord's callback.
    """
    user_id = user.pk if user is not None else None

    def enqueue() -> None:
        with job_history.enqueueing(user_id):
            HUEY.enqueue(message)

    transaction.on_commit(enqueue)
    last = message.callback if isinstance(message, chord) else message
    while last.on_complete is not None:
        last = last.on_complete
    return last.id


def cancel(run: JobRun) -> bool:
    """Revoke a job that has not started; False when it already runs or has finished."""
    if run.state not in JobRun.WAITING_STATES:
        return False
    HUEY.revoke_by_id(run.id)
    return bool(
        JobRun.objects.filter(pk=run.pk, state__in=JobRun.WAITING_STATES).update(
            state=JobRun.State.REVOKED, finished_at=timezone.now(), error="Canceled before it ran."
        )
    )


def retry(run: JobRun, *, user=None) -> str:
    """Enqueue a failed job again as a new job with its full retries; return the new job id."""
    if run.state != JobRun.State.FAILED or not run.message:
        raise ValueError("only a failed job whose message was kept can be retried")
    task = HUEY.deserialize_task(bytes(run.message))
    task.id = task.create_id()
    task.revoke_id = f"r:{task.id}"
    task.retries = type(task).default_retries
    task.retry_delay = type(task).default_retry_delay
    task.eta = None
    with job_history.enqueueing(user.pk if user else run.triggered_by_id):
        HUEY.enqueue(task)
    JobRun.objects.filter(pk=task.id).update(retry_of=run)
    JobRun.objects.filter(pk=run.pk).update(dismissed_at=timezone.now())
    return task.id


def dismiss(run: JobRun) -> None:
    """Take a failed job off the failed-jobs list, keeping its history."""
    JobRun.objects.filter(pk=run.pk, state=JobRun.State.FAILED).update(dismissed_at=timezone.now())


def pause(name: str, *, user=None) -> None:
    """Hold every run of the job `name` in the schedule until resumed."""
    PausedJob.objects.get_or_create(name=name, defaults={"paused_by": user})
    job_history.forget_paused_names()


def resume(name: str) -> None:
    PausedJob.objects.filter(name=name).delete()
    job_history.forget_paused_names()


def pending_count() -> int:
    """Jobs waiting in the queue now."""
    return HUEY.pending_count()


def scheduled_count() -> int:
    """Jobs waiting for a later time (delayed, retrying or paused)."""
    return HUEY.scheduled_count()


def job_name(job: TaskWrapper) -> str:
    """The name Huey registers a job under (and JobRun.name records)."""
    return HUEY._registry.task_to_string(job.task_class)
