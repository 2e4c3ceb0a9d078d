"""A task's page reads the emails and jobs about it from their `task` index (migration 0019)."""

import importlib
import types

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app import jobs, queue
from tasks_app.models import Email, JobRun, Task
from tests.backends import sqlite_only
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db

ASSIGNED, COMPLETED = queue.job_name(jobs.task_assigned_notify), queue.job_name(jobs.task_completed_notify)


@pytest.fixture
def task_with_history(client, alice, django_capture_on_commit_callbacks) -> Task:
    """A task bob gave alice, that alice had mailed to her and bob completed: two jobs, two emails."""
    bob = make_user("bob")
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/tasks/new/", {"title": "Book the room", "owner": alice.pk, "status": "todo", "priority": "high"})
    task = Task.objects.get()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/tasks/{task.pk}/email/")
    client.force_login(bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/tasks/{task.pk}/complete/")
    client.force_login(alice)
    return task


def _other_history(rows: int, start: int = 0) -> None:
    """`rows` jobs and emails about other tasks (most long deleted), as a busy site's history has."""
    now, owner = timezone.now(), make_user()
    task_ids = [10**6 + n for n in range(start, start + rows)]
    JobRun.objects.bulk_create(
        [
            JobRun(id=f"other-{n}", name=ASSIGNED, queue="q", args=[n], task_id=n, state="succeeded", enqueued_at=now)
            for n in task_ids
        ]
    )
    Email.objects.bulk_create(
        [
            Email(kind=Email.Kind.TASK, to="o@example.com", subject="s", body="b", user=owner, task_id=n)
            for n in task_ids
        ]
    )


def _page(client, task: Task):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/tasks/{task.pk}/")
    assert response.status_code == 200
    return response, queries


def test_the_jobs_and_emails_about_a_task_carry_its_id_from_where_they_are_written(task_with_history):
    task = task_with_history
    assert sorted(JobRun.objects.filter(task=task).values_list("name", flat=True)) == sorted([COMPLETED, ASSIGNED])
    assert sorted(Email.objects.filter(task=task).values_list("kind", flat=True)) == [
        Email.Kind.TASK,
        Email.Kind.TASK_COMPLETED,
    ]


def test_a_tasks_page_costs_the_same_queries_with_10_or_1000_rows_of_other_history(client, task_with_history):
    task = task_with_history
    _page(client, task)  # the first view after a login does more (the session's own writes)
    _other_history(10)
    small_response, small = _page(client, task)
    _other_history(990, start=10)
    large_response, large = _page(client, task)
    assert len(small) == len(large), [query["sql"][:60] for query in large]
    for queries in (small, large):  # of which the history's: one query each for its jobs and its emails
        history = [
            query["sql"] for query in queries if "tasks_app_jobrun" in query["sql"] or "tasks_app_email" in query["sql"]
        ]
        assert len(history) == 2, history
    for response in (small_response, large_response):  # the task's own history, none of the others'
        assert [email.kind for email in response.context["emails"]] == [Email.Kind.TASK_COMPLETED, Email.Kind.TASK]
        assert [label for label, _ in response.context["job_runs"]] == [
            "Email the owner it was completed",
            "Tell the owner it was given to them",
        ]


@sqlite_only
def test_a_tasks_page_searches_the_task_index_of_jobs_and_emails_instead_of_scanning(client, task_with_history):
    _other_history(1000)
    _, queries = _page(client, task_with_history)
    plans = {}
    with connection.cursor() as cursor:
        for query in queries:
            for table in ("tasks_app_jobrun", "tasks_app_email"):
                if f'FROM "{table}"' in query["sql"]:
                    cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
                    plans[table] = [row[-1] for row in cursor.fetchall()]
    assert set(plans) == {"tasks_app_jobrun", "tasks_app_email"}
    for table, plan in plans.items():
        assert any(step.startswith(f"SEARCH {table} USING INDEX") and "(task_id=?)" in step for step in plan), plan
        assert not any(step.startswith(f"SCAN {table}") for step in plan), plan


def test_deleting_a_task_keeps_its_history_and_its_id_without_touching_the_history(client, task_with_history):
    task = task_with_history
    task_id = task.pk
    with CaptureQueriesContext(connection) as queries:
        task.delete()
    assert not [query for query in queries if "tasks_app_jobrun" in query["sql"] or "tasks_app_email" in query["sql"]]
    assert JobRun.objects.filter(task_id=task_id).count() == 2
    assert Email.objects.filter(task_id=task_id).count() == 2
    assert make_task(make_user()).pk > task_id  # ids are never reused: that history never speaks of a new task
    client.force_login(make_user("root", staff=True))
    for run in JobRun.objects.filter(task_id=task_id):  # the admin shows a job whose task is gone
        assert client.get(f"/admin/tasks_app/jobrun/{run.pk}/change/").status_code == 200


def test_the_migration_fills_in_the_task_of_the_history_written_before_it():
    fill = importlib.import_module("tasks_app.migrations.0019_task_references").fill_task_references
    now = timezone.now()
    JobRun.objects.bulk_create(
        [
            JobRun(id="assigned", name=ASSIGNED, queue="q", args=[7], enqueued_at=now),
            JobRun(id="completed", name=COMPLETED, queue="q", args=[8], enqueued_at=now),
            JobRun(id="by-hand", name=ASSIGNED, queue="q", args=["not-an-id"], enqueued_at=now),
            JobRun(id="other", name="tasks_app.jobs.emails.email_send", queue="q", args=[9], enqueued_at=now),
        ]
    )
    made = {
        key: Email.objects.create(kind=kind, to="o@example.com", subject="s", body="b", dedup_key=key)
        for kind, key in [
            (Email.Kind.TASK, "task-email:7:some-job-id"),
            (Email.Kind.TASK_COMPLETED, "task-completed:8:2026-01-02"),
            (Email.Kind.DIGEST, "digest:3:2026-01-02"),
            (Email.Kind.TASK, None),
        ]
    }
    at_0019 = MigrationLoader(connection).project_state(("tasks_app", "0019_task_references")).apps
    fill(at_0019, types.SimpleNamespace(connection=connection))
    assert dict(JobRun.objects.values_list("id", "task_id")) == {
        "assigned": 7,
        "completed": 8,
        "by-hand": None,
        "other": None,
    }
    assert {key: Email.objects.get(pk=email.pk).task_id for key, email in made.items()} == {
        "task-email:7:some-job-id": 7,
        "task-completed:8:2026-01-02": 8,
        "digest:3:2026-01-02": None,
        None: None,
    }


def test_a_retried_job_about_a_task_is_about_the_same_task(
    task_with_history, alice, django_capture_on_commit_callbacks
):
    failed = JobRun.objects.get(task=task_with_history, name=ASSIGNED)
    # As if it had failed for good, with its message kept for a retry (the real one succeeded).
    message = bytes(HUEY.serialize_task(jobs.task_assigned_notify.s(task_with_history.pk)))
    JobRun.objects.filter(pk=failed.pk).update(state=JobRun.State.FAILED, message=message)
    failed.refresh_from_db()
    with django_capture_on_commit_callbacks():  # recorded, not run
        retried = queue.retry(failed, user=alice)
    assert JobRun.objects.get(pk=retried).task_id == task_with_history.pk
