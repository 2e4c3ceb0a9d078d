"""What this thread is doing for the queue: the job it runs, or who it enqueues for."""

import threading

current = threading.local()  # .job_id/.task while a job runs; .user_id/.batch while enqueueing


def current_job_id() -> str | None:
    """The id of the job running in this thread, if any."""
    return getattr(current, "job_id", None)
