"""Paused jobs: their runs are held until the job is resumed (on the leased queue), or wait in
the schedule, rechecking every PAUSE_RECHECK seconds (on Redis and in immediate mode).

A held run keeps its place in its chord or pipeline: it runs once its job is resumed.
"""

from __future__ import annotations

import datetime
import time

from django.utils import timezone

from tasks_app.models import PausedJob
from tasks_app.queue.history import job_name

PAUSE_RECHECK = 30  # seconds a paused job waits in the schedule before it looks again

_paused_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


def paused_names() -> frozenset[str]:
    """Names of paused jobs, read from the database at most once a second per process."""
    global _paused_cache
    read_at, names = _paused_cache
    if time.monotonic() - read_at > 1.0:
        names = frozenset(PausedJob.objects.values_list("name", flat=True))
        _paused_cache = (time.monotonic(), names)
    return names


def forget_paused_names() -> None:
    global _paused_cache
    _paused_cache = (0.0, frozenset())


def is_paused(task) -> bool:
    """Whether `task`'s job is paused. A pause is seen within a second; a resume at once, as a run
    held by a stale answer would wait for the next `resume_unpaused`."""
    name = job_name(type(task))
    if name not in paused_names():
        return False
    forget_paused_names()
    return name in paused_names()


def resume_unpaused(huey) -> int:
    """Put back in the queue the held runs of jobs no longer paused (a run held just as its job
    was resumed); return how many. Each consumer does it on every beat."""
    forget_paused_names()
    return sum(huey.resume(name) for name in set(huey.storage.held_names()) - paused_names())


def recheck_at() -> datetime.datetime:
    """When a held run looks again (naive UTC, as Huey keeps its times)."""
    return timezone.now().replace(tzinfo=None) + datetime.timedelta(seconds=PAUSE_RECHECK)
