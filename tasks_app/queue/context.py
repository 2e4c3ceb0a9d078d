"""What this thread is doing for the queue: the job it runs, or who it enqueues for."""

import threading

# .job_id/.task while a job runs, .run_events of a claimed one; .user_id/.batch while enqueueing,
# .batch also for a claimed job's events after its body
current = threading.local()


def current_job_id() -> str | None:
    """The id of the job running in this thread, if any."""
    return getattr(current, "job_id", None)
