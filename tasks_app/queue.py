"""The few functions through which the app talks to Huey's queue.

Views and services go through here rather than touching Huey's storage, so that delivery
guarantees (leases, requeueing) and job history can be added in one place.
"""

from django.db import transaction
from huey.api import TaskWrapper
from huey.contrib.djhuey import HUEY


def enqueue_on_commit(job: TaskWrapper, *args, **kwargs) -> str:
    """Enqueue `job(*args, **kwargs)` once the current transaction commits; return its job id now.

    If the transaction rolls back, nothing is enqueued: a job never sees a row that does not exist.
    """
    message = job.s(*args, **kwargs)
    transaction.on_commit(lambda: HUEY.enqueue(message))
    return message.id


def pending_count() -> int:
    """Jobs waiting in the queue now."""
    return HUEY.pending_count()


def scheduled_count() -> int:
    """Jobs waiting for a later time (delayed or retrying)."""
    return HUEY.scheduled_count()
