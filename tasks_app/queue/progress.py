"""A running job publishes how far it is; any web process reads it from the job's JobRun."""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from tasks_app.queue.context import current, current_job_id
from tasks_app.queue.history import Event
from tasks_app.queue.writer import writer

PROGRESS_INTERVAL = 0.5  # a job's progress is written at most this often (and always at the end)


def report_progress(current_step: int, total: int, message: str = "") -> None:
    """Publish the running job's progress.

    Writes are throttled to one per PROGRESS_INTERVAL; the last step reported is always written,
    at the latest when the job ends. Outside a job (a service called directly) it does nothing.

    It is also where a job's `timeout=` bites with thread workers: Huey enforces timeouts with
    SIGALRM only in process workers; elsewhere a job must look, and this looks for it.
    """
    job_id = current_job_id()
    if job_id is None:
        return
    check_timeout()
    if not settings.JOB_HISTORY_ENABLED:
        return
    current.unwritten_progress = {
        "progress_current": max(current_step, 0),
        "progress_total": max(total, 0),
        "progress_message": message[:300],
    }
    now = time.monotonic()
    if current_step >= total or now - getattr(current, "progress_written", 0.0) >= PROGRESS_INTERVAL:
        current.progress_written = now
        write_progress(job_id)


def check_timeout() -> None:
    """Raise TaskTimeout when the running job is past its `timeout=` (outside a job: nothing).
    Long work that reports no progress (reading a file) calls it now and then."""
    if current_job_id() is not None:
        current.task.check_timeout()


def start_job(task) -> None:
    current.job_id, current.task = task.id, task
    current.progress_written = 0.0
    current.unwritten_progress = None


def write_progress(job_id: str) -> None:
    changes, current.unwritten_progress = getattr(current, "unwritten_progress", None), None
    if changes:
        writer.add(Event(job_id=job_id, kind="progress", at=timezone.now(), identity={}, changes=changes))
