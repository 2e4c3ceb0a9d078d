"""Creating, changing and deleting tasks; each write recounts its owners' task counts."""

from django.db import transaction
from django.utils import timezone

from tasks_app.models import Task
from tasks_app.services.user_stats import user_stats_refresh_many


def task_create(*, created_by, **fields) -> Task:
    """Create a task; the owner defaults to its creator."""
    fields.setdefault("owner", created_by)
    task = Task(created_by=created_by, **fields)
    _sync_completed_at(task)
    task.full_clean()
    with transaction.atomic():
        task.save()
        user_stats_refresh_many([task.owner_id])
    return task


def task_update(task: Task, **fields) -> Task:
    """Change a task's fields; completed_at follows the status."""
    old_owner_id = Task.objects.filter(pk=task.pk).values_list("owner_id", flat=True).first()
    for name, value in fields.items():
        setattr(task, name, value)
    _sync_completed_at(task)
    task.full_clean()
    with transaction.atomic():
        task.save()
        user_stats_refresh_many([old_owner_id, task.owner_id])
    return task


def task_complete(task: Task) -> Task:
    return task_update(task, status=Task.Status.DONE)


def task_delete(task: Task) -> None:
    """Delete a task."""
    with transaction.atomic():
        task.delete()
        user_stats_refresh_many([task.owner_id])


def _sync_completed_at(task: Task) -> None:
    if task.status == Task.Status.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != Task.Status.DONE:
        task.completed_at = None
