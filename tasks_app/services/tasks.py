"""Creating, changing and deleting tasks; each write changes its owners' task counts in its transaction.

Their transactions take no savepoint inside a caller's (a workflow's): two statements fewer under
SQLite's write lock, and an error rolls the whole write back anyway.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models.sql import InsertQuery
from django.utils import timezone

from tasks_app.models import Task
from tasks_app.services.user_stats import TaskState, counts_change, task_state


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
    return task_save_new(task_build(created_by=created_by, **fields))


def task_save_new(task: Task) -> Task:
    """Save a task made by task_build, and count it."""
    with transaction.atomic(savepoint=False):
        task.save()
        counts_change(added=[task_state(task)])
    return task


@dataclass(frozen=True)
class CompiledInsert:
    """New tasks as INSERT statements, compiled outside the transaction that runs them."""

    statements: list[tuple[str, list]]
    states: list[TaskState]


def tasks_compile_insert(tasks: list[Task]) -> CompiledInsert:
    """The INSERT of tasks made by task_build, compiled as bulk_create would: preparing each value
    (time zones, dates) was three quarters of an import's time, and it need not hold the write lock."""
    fields = [field for field in Task._meta.concrete_fields if not field.primary_key]
    batch = max(connection.ops.bulk_batch_size(fields, tasks), 1)
    statements = []
    for start in range(0, len(tasks), batch):
        query = InsertQuery(Task)
        query.insert_values(fields, tasks[start : start + batch])
        statements += query.get_compiler(connection=connection).as_sql()
    return CompiledInsert(statements, [task_state(task) for task in tasks])


def tasks_insert(insert: CompiledInsert) -> None:
    """Run a compiled insert and count its tasks; call it in a transaction."""
    with connection.cursor() as cursor:
        for sql, params in insert.statements:
            cursor.execute(sql, params)
    counts_change(added=insert.states)


def task_update(task: Task, **fields) -> Task:
    """Change a task's fields; completed_at follows the status."""
    task_save(task_change(task, **fields))
    return task


def task_change(task: Task, **fields) -> Task:
    """Set a task's fields and check them, without saving; completed_at follows the status.
    Raises ValidationError. (Checks read the database: done before the write's transaction.)"""
    for name, value in fields.items():
        setattr(task, name, value)
    _sync_completed_at(task)
    task.full_clean()
    return task


def task_save(task: Task, *, by=None) -> TaskState | None:
    """Save a task changed by task_change, moving it in its owners' counts; return the state it
    replaced (None if the row was gone). A new owner is recorded as given by `by`."""
    with transaction.atomic(savepoint=False):
        # Read in the transaction: the state these counts hold is the one this write replaces.
        before = _state_locked(task)
        if before is not None and before[0] != task.owner_id and by is not None:
            task.given_by, task.given_at = by, timezone.now()
        task.save()
        counts_change(removed=[before] if before else [], added=[task_state(task)])
    return before


def task_complete(task: Task) -> Task:
    return task_update(task, status=Task.Status.DONE)


def task_delete(task: Task) -> None:
    """Delete a task."""
    with transaction.atomic(savepoint=False):
        before = _state_locked(task)
        task.delete()
        counts_change(removed=[before] if before else [])


def _state_locked(task: Task) -> TaskState | None:
    """The task's saved state, its row locked until the transaction ends (PostgreSQL: of two
    writes of one task at once, the second reads what the first wrote; SQLite's write lock
    serialises them anyway)."""
    return Task.objects.select_for_update().filter(pk=task.pk).values_list("owner_id", "status", "due_date").first()


def _sync_completed_at(task: Task) -> None:
    if task.status == Task.Status.DONE and task.completed_at is None:
        task.completed_at = timezone.now()
    elif task.status != Task.Status.DONE:
        task.completed_at = None
