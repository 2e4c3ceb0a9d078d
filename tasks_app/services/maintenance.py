"""Housekeeping of the task data: old done tasks, hourly statistics."""

import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tasks_app.models import Task, TaskStatsSnapshot
from tasks_app.services.user_stats import counts_outdated


def done_tasks_delete(*, older_than_days: int, now: datetime.datetime | None = None, dry_run: bool = False) -> int:
    """Delete tasks completed more than `older_than_days` ago; return how many (would be) deleted."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=older_than_days)
    old = Task.objects.filter(status=Task.Status.DONE, completed_at__lt=cutoff)
    if dry_run:
        return old.count()
    with transaction.atomic():
        owners = set(old.values_list("owner_id", flat=True).distinct())
        deleted = old.delete()[1].get("tasks_app.Task", 0)
        counts_outdated(owners)
    return deleted


def stats_snapshot(hour: datetime.datetime) -> TaskStatsSnapshot:
    """Record the hour starting at `hour`: tasks created, completed, and overdue at its end. Idempotent."""
    hour = hour.replace(minute=0, second=0, microsecond=0)
    end = hour + datetime.timedelta(hours=1)
    end_date = timezone.localdate(end)
    counts = {
        "created": Task.objects.filter(created_at__gte=hour, created_at__lt=end).count(),
        "completed": Task.objects.filter(completed_at__gte=hour, completed_at__lt=end).count(),
        "overdue": Task.objects.filter(Q(due_date__lt=end_date), ~Q(status=Task.Status.DONE)).count(),
    }
    snapshot, _ = TaskStatsSnapshot.objects.update_or_create(hour=hour, defaults=counts)
    return snapshot
