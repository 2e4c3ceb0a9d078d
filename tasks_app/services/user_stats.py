"""Each person's task counts (open, done, overdue), shown on their pages.

The counts are counters: a task write adds what it changed to its owners' counts in its own
transaction (`counts_change`), one short UPDATE per owner, counting nothing. "Overdue" depends on
the day, so the counts remember the day they were counted for: on a later day the first read
recounts them (`user_stats_refresh`), reading outside any write transaction and writing the
result only if no task write changed the counts meanwhile (their `version`).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Case, F, PositiveIntegerField, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from tasks_app.models import Task, UserTaskStats

RECOUNT_TRIES = 3  # a recount overtaken by task writes this often in a row is left for the next read

# What a task adds to its owner's counts, as (owner_id, status, due_date).
TaskState = tuple[int, str, datetime.date | None]


def task_state(task: Task) -> TaskState:
    return (task.owner_id, task.status, task.due_date)


def counts_change(*, removed: Iterable[TaskState] = (), added: Iterable[TaskState] = ()) -> None:
    """Take these task states out of their owners' counts and add those; call it in the write's transaction.

    Counts last counted on an earlier day keep their overdue figure as it was (it is recounted on
    the next read); a person with no counts yet gets them counted on their first read.
    """
    today = timezone.localdate()
    change = defaultdict(lambda: [0, 0, 0])
    for sign, states in ((-1, removed), (1, added)):
        for owner_id, status, due_date in states:
            is_open = status != Task.Status.DONE
            counts = change[owner_id]
            counts[0] += sign * is_open
            counts[1] += sign * (not is_open)
            counts[2] += sign * (is_open and due_date is not None and due_date < today)
    for owner_id, (opened, done, overdue) in change.items():
        if not (opened or done or overdue):
            continue
        row = UserTaskStats.objects.filter(user_id=owner_id)
        changes = {
            "open": _plus("open", opened),
            "done": _plus("done", done),
            "overdue": Case(When(counted_on=today, then=_plus("overdue", overdue)), default=F("overdue")),
            "version": F("version") + 1,
            "updated_at": timezone.now(),
        }
        if not row.update(**changes):
            # No row yet: make one, never counted (its first read recounts). On PostgreSQL a first
            # read's recount then waits for this transaction's commit instead of counting without
            # it; and if that read made the row meanwhile, the update below counts into it.
            UserTaskStats.objects.bulk_create([UserTaskStats(user_id=owner_id)], ignore_conflicts=True)
            row.update(**changes)


def _plus(name: str, change: int) -> Greatest:
    """The count `name` plus `change`, never below 0: tasks written around the services (a shell,
    a script) would otherwise make a later write fail on the column's check until the next recount."""
    return Greatest(F(name) + change, Value(0), output_field=PositiveIntegerField())


def counts_outdated(user_ids: Iterable[int]) -> None:
    """Have these users' counts recounted on their next read (after a bulk delete that did not count its rows)."""
    UserTaskStats.objects.filter(user_id__in=set(user_ids)).update(counted_on=None, version=F("version") + 1)


def user_stats_refresh(user) -> UserTaskStats:
    """Recount a user's open, done and overdue tasks into their UserTaskStats row.

    The counts are read outside any write transaction; the row is written only if its version is
    still the one read before counting, so a task write that landed in between is never lost.
    """
    # By id: given the user, get_or_create would leave its new, uncounted row cached on `user`,
    # and a serializer reading `user.task_stats` would show 0 open, 0 done.
    UserTaskStats.objects.get_or_create(user_id=user.pk)
    today = timezone.localdate()
    owned = Task.objects.filter(owner=user)
    for _ in range(RECOUNT_TRIES):
        version = UserTaskStats.objects.filter(user=user).values_list("version", flat=True).get()
        counts = {
            "open": owned.open().count(),
            "done": owned.filter(status=Task.Status.DONE).count(),
            "overdue": owned.overdue(today).count(),
        }
        if UserTaskStats.objects.filter(user=user, version=version).update(
            **counts, counted_on=today, version=version + 1, updated_at=timezone.now()
        ):
            break
    return UserTaskStats.objects.get(user=user)


def user_stats_for(user) -> UserTaskStats:
    """A user's counts, recounted first if they were counted on an earlier day (or never)."""
    stats = UserTaskStats.objects.filter(user=user).first()
    if stats is not None and stats.counted_on == timezone.localdate():
        return stats
    return user_stats_refresh(user)
