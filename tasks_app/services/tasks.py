"""Creating and changing tasks."""

from django.utils import timezone

from tasks_app.models import Task


def task_create(*, created_by, **fields) -> Task:
    """Create a task; the owner defaults to its creator."""
    fields.setdefault("owner", created_by)
    task = Task(created_by=created_by, **fields)
    _sync_completed_at(task)
    task.full_clean()
    task.save()
    return task


def task_update(task: Task, **fields) -> Task:
    """Change a task's fields; completed_at follows the status."""
    for name, value in fields.items():
        setattr(task, name, value)
    _sync_completed_at(task)
    task.full_clean()
    task.save()
    return task


def task_complete(task: Task) -> Task:
    return task_update(task, status=Task.Status.DONE)


def _sync_completed_at(task: Task) -> None:
    if task.status == Task.Status.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != Task.Status.DONE:
        task.completed_at = None
