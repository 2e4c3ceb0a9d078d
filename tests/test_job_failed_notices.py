"""Staff hear of failed jobs: a burst of failures is one notice, not one per job (Huey in immediate mode)."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from huey.contrib.djhuey import db_task

from tasks_app.models import Notification
from tasks_app.services import notifications
from tests.backends import sqlite_only
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.django_db

FAILED_JOBS = "/ops/failed/"


@db_task(name="tests.failed_notices_divide")
def divide(a: int, b: int) -> float:
    return a / b


def _failure_notices(user) -> list[Notification]:
    return list(Notification.objects.filter(user=user, kind=Notification.Kind.JOB_FAILED))


def _fail(job_id: str) -> None:
    notifications.notify_staff_job_failed(job_id=job_id, job_name="report_build", error="OSError: disk full")


def test_failing_jobs_are_one_notice_to_each_staff_member_that_leads_to_the_failed_jobs(client):
    # 1,000 of them, from a bulk retry: test_jobs_command.test_a_bulk_retry_of_1000_failed_jobs.
    ops, boss, clerk = make_staff("ops", "view_all_jobs"), make_user("boss", staff=True), make_user()
    for _ in range(3):
        divide(1, 0)
    for person in (ops, boss):
        [notice] = _failure_notices(person)
        assert notice.message == "3 jobs failed, the last: failed_notices_divide: ZeroDivisionError: division by zero"
    assert not Notification.objects.filter(user=clerk).exists()
    client.force_login(ops)
    assert client.get(f"/notifications/{notice.pk}/").status_code == 404  # boss's, not ops'
    [notice] = _failure_notices(ops)
    assert client.get(f"/notifications/{notice.pk}/")["Location"] == FAILED_JOBS
    listed = client.get(FAILED_JOBS).content.decode()
    assert listed.count("failed_notices_divide") >= 3


def test_one_failure_is_a_notice_that_leads_to_its_job():
    boss = make_user("boss", staff=True)
    _fail("job-1")
    [notice] = _failure_notices(boss)
    assert (notice.message, notice.target_url()) == ("Job report_build failed: OSError: disk full", "/ops/jobs/job-1/")


def test_the_same_failure_told_twice_counts_once():
    boss = make_user("boss", staff=True)
    for job_id in ["job-1", "job-2", "job-2"]:
        _fail(job_id)
    [notice] = _failure_notices(boss)
    assert notice.message == "2 jobs failed, the last: report_build: OSError: disk full"


def test_a_failure_after_the_notice_was_read_after_ten_minutes_or_below_a_newer_notice_starts_a_new_one():
    boss = make_user("boss", staff=True)
    with time_machine.travel(datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
        _fail("job-1")
        _fail("job-2")
        clock.shift(datetime.timedelta(minutes=10, seconds=1))
        _fail("job-3")  # ten minutes after its burst began: a notice of its own
        notifications.mark_read(boss)
        _fail("job-4")  # the last one read
        notifications.notify(user=boss, kind=Notification.Kind.BROADCAST, message="Maintenance at noon")
        _fail("job-5")  # a newer notice above it
        _fail("job-6")
    messages = [notice.message for notice in reversed(_failure_notices(boss))]
    assert messages == [
        "2 jobs failed, the last: report_build: OSError: disk full",
        "Job report_build failed: OSError: disk full",
        "Job report_build failed: OSError: disk full",
        "2 jobs failed, the last: report_build: OSError: disk full",
    ]


@sqlite_only
def test_a_failure_reads_each_staff_members_latest_notice_as_one_row_of_their_index():
    boss = make_user("boss", staff=True)
    Notification.objects.bulk_create(
        [Notification(user=boss, kind=Notification.Kind.BROADCAST, message=f"news {n}") for n in range(1000)]
    )
    with CaptureQueriesContext(connection) as queries:
        _fail("job-1")
    latest = 'ORDER BY "tasks_app_notification"."id" DESC LIMIT 1'
    [lookup] = [query["sql"] for query in queries if query["sql"].endswith(latest)]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {lookup}")
        plan = [row[-1] for row in cursor.fetchall()]
    [step] = plan  # no sort, no scan: the newest entry of the user_id index
    assert step.startswith("SEARCH tasks_app_notification USING INDEX") and step.endswith("(user_id=?)"), plan
