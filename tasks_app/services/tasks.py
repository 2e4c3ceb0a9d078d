"""Creating, changing and deleting tasks; each write changes its owners' task counts in its transaction."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from tasks_app.models import Task
from tasks_app.services.user_stats import counts_change, task_state


def task_build(*, created_by, **fields) -> Task:
    """A new task, checked but not saved; the owner defaults to its creator. Raises ValidationError.

    People passed as users read from the database are not looked up again: an import checks
    thousands of rows of one owner.
    """
    fields.setdefault("owner", created_by)
    task = Task(created_by=created_by, **fields)
    _sync_completed_at(task)
    people = {"owner": fields["owner"], "created_by": created_by}
    task.full_clean(exclude=[name for name, user in people.items() if isinstance(user, AbstractBaseUser) and user.pk])
    return task


def task_create(*, created_by, **fields) -> Task:
    """Create a task; the owner defaults to its creator."""
    task = task_build(created_by=created_by, **fields)
    with transaction.atomic():
        task.save()
        counts_change(added=[task_state(task)])
    return task


def tasks_create_many(tasks: list[Task]) -> None:
    """Insert tasks made by task_build in one statement, and count them; call it in a transaction."""
    Task.objects.bulk_create(tasks)
    counts_change(added=[task_state(task) for task in tasks])


def task_update(task: Task, **fields) -> Task:
    """Change a task's fields; completed_at follows the status."""
    for name, value in fields.items():
        setattr(task, name, value)
    _sync_completed_at(task)
    task.full_clean()
    with transaction.atomic():
        # Read in the transaction: the state these counts hold is the one this write replaces.
        before = Task.objects.filter(pk=task.pk).values_list("owner_id", "status", "due_date").first()
        task.save()
        counts_change(removed=[before] if before else [], added=[task_state(task)])
    return task


def task_complete(task: Task) -> Task:
    return task_update(task, status=Task.Status.DONE)


def task_delete(task: Task) -> None:
    """Delete a task."""
    with transaction.atomic():
        before = Task.objects.filter(pk=task.pk).values_list("owner_id", "status", "due_date").first()
        task.delete()
        counts_change(removed=[before] if before else [])


def _sync_completed_at(task: Task) -> None:
    if task.status == Task.Status.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != Task.Status.DONE:
        task.completed_at = None
