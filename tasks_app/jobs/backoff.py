"""Retrying with exponential backoff, jitter and a cap.

Huey's own `retry_backoff` multiplies the delay with no jitter and no ceiling, so many jobs that
failed together retry together, and a long outage grows delays without bound.
"""

import random

from huey.exceptions import RetryTask

from tasks_app.queue.signals import record_retry


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Seconds to wait before retry number `attempt` (0 for the first): "equal jitter".

    Half of min(cap, base * 2**attempt) is fixed and half random, so delays grow from one attempt
    to the next yet jobs that failed together spread out.
    """
    ceiling = min(cap, base * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_later(task, exc: Exception, *, base: float = 10.0, cap: float = 600.0) -> None:
    """Schedule the running job (`context=True` gives it as `task`) again, or re-raise when out of retries."""
    if task.retries <= 0:
        raise exc
    attempt = type(task).default_retries - task.retries
    delay = backoff_delay(attempt, base=base, cap=cap)
    record_retry(task, exc, delay)
    # Huey adds one retry back for RetryTask and takes one on requeue: spend one here.
    task.retries -= 1
    raise RetryTask(delay=delay) from exc
