"""What this thread is doing for the queue: the job it runs, or who it enqueues for."""

import threading

# .job_id/.task while a job runs, .run_events of a claimed one; .user_id/.batch while enqueueing,
# .batch also for a claimed job's events after its body
current = threading.local()


def current_job_id() -> str | None:
    """The id of the job running in this thread, if any."""
    return getattr(current, "job_id", None)


def acting_person() -> str | None:
    """Whose work this thread does: the person of the request enqueueing, or of the job running
    here (a claimed job's party, `queue.storage`): a job's follow-ups are its person's too."""
    person = getattr(current, "user_id", None) or getattr(current, "party", None)
    return None if person is None else str(person)
