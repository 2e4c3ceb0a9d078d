"""Each person's task counts (open, done, overdue), shown on their pages."""

from django.contrib.auth import get_user_model
from django.db import transaction

from tasks_app.models import Task, UserTaskStats


def user_stats_refresh(user) -> UserTaskStats:
    """Recount a user's open, done and overdue tasks into their UserTaskStats row.

    The row is locked before counting: two requests changing one person's tasks at once recount
    one after the other, and on PostgreSQL the second's count then sees the first's change.
    """
    with transaction.atomic():
        stats, _ = UserTaskStats.objects.select_for_update().get_or_create(user=user)
        owned = Task.objects.filter(owner=user)
        stats.open = owned.open().count()
        stats.done = owned.filter(status=Task.Status.DONE).count()
        stats.overdue = owned.overdue().count()
        stats.save()
    return stats


def user_stats_refresh_many(user_ids) -> None:
    """Recount each of these users (a task changed owner, or became overdue)."""
    for user in get_user_model().objects.filter(pk__in=set(user_ids)):
        user_stats_refresh(user)


def user_stats_for(user) -> UserTaskStats:
    """A user's counts, computed once if never recounted yet."""
    return UserTaskStats.objects.filter(user=user).first() or user_stats_refresh(user)
