"""What each page and API endpoint people use costs in SQL queries: pinned, and the same whatever the
size of the data (a person with 5 tasks or 60, other people's tasks, notices, files, mails and jobs
beside them). Times are in bench/page_cost.py, never here.

Each count is a second visit's: the first of the day also recounts the person's counts, and the
first after a task write draws the 30-day chart again (pinned on its own below).
"""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks_app import workflows
from tasks_app.models import JobRun, Notification, Report, Task, TaskImport, WorkspaceExport
from tasks_app.services import accounts
from tests.backends import sqlite_only
from tests.factories import make_user

pytestmark = pytest.mark.django_db

SMALL, LARGE = 5, 60
_numbers = itertools.count()


def grow(people: dict, tasks: int) -> None:
    """Give the person `tasks` more tasks (a third given by someone else, a few completed by them)
    and as many of other people's, notices, reports, imports, exports and tokens in proportion."""
    pat, bob = people["pat"], people["bob"]
    today = timezone.localdate()
    for n in range(tasks):
        due = today + datetime.timedelta(days=n % 7 - 3) if n % 2 else None  # some overdue
        giver = bob if n % 3 == 0 else pat  # Bob's: a notice for Pat, and a job about the task
        task = workflows.task_create(created_by=giver, owner=pat, title=f"Write report {next(_numbers)}", due_date=due)
        if n % 10 == 0:
            workflows.task_complete(task, by=bob)  # mails Pat: an email and a job about the task
        workflows.task_create(created_by=bob, owner=bob, title=f"Bob's report {next(_numbers)}")
        workflows.task_create(created_by=pat, owner=bob, title=f"For Bob {next(_numbers)}")
    Notification.objects.bulk_create(
        Notification(
            user=pat, kind=Notification.Kind.BROADCAST, message="Hello", read_at=None if n % 2 else timezone.now()
        )
        for n in range(tasks)
    )
    for model, extra in ((Report, {"format": "csv"}), (TaskImport, {}), (WorkspaceExport, {})):
        for n in range(max(tasks // 10, 1)):
            running = n == 0
            row = model.objects.create(
                owner=pat, status=model.Status.RUNNING if running else model.Status.SUCCEEDED, **extra
            )
            row.job_id = f"{model.__name__}-{row.pk}"
            row.save(update_fields=["job_id"])
            JobRun.objects.create(
                id=row.job_id,
                name="tasks_app.jobs.files.report_build",
                queue="tasks_app",
                state=JobRun.State.RUNNING if running else JobRun.State.SUCCEEDED,
                enqueued_at=timezone.now(),
                progress_current=1,
                progress_total=4,
            )
    existing = pat.personal_tokens.count()
    for n in range(existing, min(existing + max(tasks // 10, 1), accounts.TOKENS_PER_PERSON)):
        accounts.token_create(pat, f"token {n}")


@pytest.fixture
def people(db):
    return {"pat": make_user("pat"), "bob": make_user("bob"), "ops": make_user("ops", staff=True)}


def queries(client, method: str, url: str, **kwargs) -> int:
    """The queries of a second request (the first one warms up: counts recounted, chart drawn)."""
    getattr(client, method)(url, **kwargs)
    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code < 400, response.content[:500]
    return len(captured)


def task_of(people) -> int:
    """A task of Pat's given by Bob and completed: its page lists a mail and jobs."""
    return Task.objects.filter(owner=people["pat"], created_by=people["bob"], status=Task.Status.DONE).first().pk


def import_of(people) -> int:
    return TaskImport.objects.filter(owner=people["pat"]).first().pk


# (url, queries): session, user, and what the page itself reads. `{task}` and `{import}` are filled in.
PAGES = [
    # Task list: permissions, count, page, counts, chart version, unread badge.
    ("/", 8),
    ("/?q=report", 8),
    ("/?status=todo&sort=priority", 8),
    ("/?overdue=1&mine=1&sort=due", 8),
    ("/?page=2", 8),
    ("/tasks/{task}/", 7),
    ("/tasks/new/", 4),
    ("/tasks/{task}/edit/", 6),
    ("/notifications/", 5),
    ("/notifications/badge/", 3),
    ("/reports/", 5),
    ("/imports/", 4),
    ("/imports/{import}/", 6),
    ("/exports/", 4),
    ("/account/", 6),
    ("/api/tasks/?page_size=20", 5),
    ("/api/tasks/?mine=true&ordering=-due_date", 5),
    ("/api/tasks/{task}/", 4),
    ("/api/me/", 3),
    ("/api/notifications/", 4),
]


@pytest.mark.parametrize(("url", "expected"), PAGES)
def test_a_page_costs_the_same_queries_for_5_tasks_as_for_60(client, people, url, expected):
    client.force_login(people["pat"])
    counts = []
    for size in (SMALL, LARGE - SMALL):
        grow(people, size)
        filled = url.format(task=task_of(people), **{"import": import_of(people)})
        counts.append(queries(client, "get", filled))
    assert counts == [expected, expected]


def test_creating_a_task_through_the_api_costs_the_same_queries_for_5_tasks_as_for_60(client, people):
    client.force_login(people["pat"])
    counts = []
    for size in (SMALL, LARGE - SMALL):
        grow(people, size)
        counts.append(queries(client, "post", "/api/tasks/", data={"title": "New"}, content_type="application/json"))
    # session, user, the insert, the owner's counts; SAVEPOINT and RELEASE around DRF's view
    assert counts == [6, 6]


def test_the_task_list_after_a_task_write_draws_the_chart_again_in_the_same_queries(client, people):
    client.force_login(people["pat"])
    counts = []
    for size in (SMALL, LARGE - SMALL):
        grow(people, size)
        client.get("/")
        workflows.task_create(created_by=people["bob"], owner=people["bob"], title="Written between two views")
        with CaptureQueriesContext(connection) as captured:
            body = client.get("/").content.decode()
        counts.append(len(captured))
        assert 'data-created="' in body
    # The chart's own: every day's figures in one query (services/task_trends.py).
    assert counts == [8 + 1, 8 + 1]


OPS_PAGES = ["/ops/", "/ops/?panel=1", "/ops/jobs/", "/ops/schedule/tasks_app.jobs.maintenance.stats_snapshot/"]


@pytest.mark.parametrize("url", OPS_PAGES)
def test_an_operations_page_costs_the_same_queries_for_5_tasks_as_for_60(client, people, url):
    """Equal at both sizes; the exact counts of each tab are pinned in tests/test_dashboard.py."""
    client.force_login(people["ops"])
    counts = []
    for size in (SMALL, LARGE - SMALL):
        grow(people, size)
        counts.append(queries(client, "get", url))
    assert counts[0] == counts[1]


@sqlite_only
@pytest.mark.django_db(transaction=True)  # `optimize` waits for no open transaction
def test_a_connection_keeps_the_planners_statistics_as_it_closes(people):
    """`PRAGMA optimize` before a connection closes (tasks_app/sqlite_backend): with statistics the
    task list reads a person's tasks from the owner and creator indexes, not every open task
    (bench/page_cost.py: "/?status=todo" with 100,000 tasks)."""
    grow(people, SMALL)
    list(Task.objects.visible_to(people["pat"]).filter(status=Task.Status.TODO))
    connection._optimize()
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tbl FROM sqlite_stat1")
        assert "tasks_app_task" in {table for (table,) in cursor.fetchall()}
