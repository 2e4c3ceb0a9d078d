"""The task a job or an email is about, as an indexed column (a task's page read them by scanning
the job history's arguments and the emails' dedup keys), filled in for the rows already there."""

import django.db.models.deletion
from django.db import migrations, models

# The jobs about one task (their one argument is its id), by their registered names (a wire
# format: they do not change, see docs/upgrading.md), and the emails' keys that name a task.
TASK_JOBS = ["tasks_app.jobs.notifications.task_assigned_notify", "tasks_app.jobs.emails.task_completed_notify"]
TASK_EMAIL_KINDS = {"task": "task-email:", "task_completed": "task-completed:"}
BATCH = 2000


def _task_id(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):  # a job enqueued by hand with something else: left without
        return None


def _fill(schema_editor, table: str, pairs) -> None:
    """Write (task id, row id) pairs into `table`'s task_id, BATCH rows an executemany."""
    batch = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == BATCH:
            _write(schema_editor, table, batch)
            batch = []
    _write(schema_editor, table, batch)


def _write(schema_editor, table: str, pairs: list[tuple[int, object]]) -> None:
    if pairs:
        with schema_editor.connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET task_id = %s WHERE id = %s", pairs)


def _job_tasks(JobRun):
    runs = JobRun.objects.filter(name__in=TASK_JOBS).values_list("id", "args").order_by()
    for job_id, args in runs.iterator(chunk_size=BATCH):
        task_id = _task_id(args[0]) if isinstance(args, list) and len(args) == 1 else None
        if task_id is not None:
            yield task_id, job_id


def _email_tasks(Email):
    emails = Email.objects.filter(kind__in=TASK_EMAIL_KINDS).values_list("id", "kind", "dedup_key").order_by()
    for email_id, kind, key in emails.iterator(chunk_size=BATCH):
        prefix = TASK_EMAIL_KINDS[kind]
        task_id = _task_id(key[len(prefix) :].split(":", 1)[0]) if key and key.startswith(prefix) else None
        if task_id is not None:
            yield task_id, email_id


def fill_task_references(apps, schema_editor) -> None:
    """Read the task of each existing job (its argument) and email (its dedup key), in batches."""
    JobRun, Email = apps.get_model("tasks_app", "JobRun"), apps.get_model("tasks_app", "Email")
    _fill(schema_editor, JobRun._meta.db_table, _job_tasks(JobRun))
    _fill(schema_editor, Email._meta.db_table, _email_tasks(Email))


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0018_job_totals"),
    ]

    operations = [
        migrations.AddField(
            model_name="email",
            name="task",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="emails",
                to="tasks_app.task",
            ),
        ),
        migrations.AddField(
            model_name="jobrun",
            name="task",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="job_runs",
                to="tasks_app.task",
            ),
        ),
        migrations.RunPython(fill_task_references, migrations.RunPython.noop),
    ]
