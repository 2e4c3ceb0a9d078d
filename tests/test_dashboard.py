"""The operations dashboard, through Django's test client (Huey in immediate mode)."""

import datetime

import pytest
from huey.contrib.djhuey import HUEY, db_task

from tasks_app import queue
from tasks_app.models import JobRun, PausedJob
from tasks_app.services import job_stats
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@db_task(name="tests.dashboard_divide")
def divide(a: int, b: int) -> float:
    return a / b


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(staff=True))
    return client


def test_it_forbids_the_dashboard_to_non_staff(client):
    client.force_login(make_user())
    for url in ["/ops/", "/ops/jobs/", "/ops/jobs/some-id/"]:
        assert client.get(url).status_code == 403
    assert client.post("/ops/jobs/pause/", {"name": queue.job_name(divide)}).status_code == 403
    assert not PausedJob.objects.exists()


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/ops/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_overview_shows_queue_failures_schedule_and_chart(staff_client):
    divide(1, 0)
    divide(4, 2)
    body = staff_client.get("/ops/").content.decode()
    assert "Failed jobs" in body and "ZeroDivisionError" in body
    assert "Retry" in body and "Discard" in body
    assert "overdue_check" in body and "Every 10 minutes" in body  # the schedule, in words
    assert "<svg" in body
    assert "No consumer is running" in body  # immediate mode: no consumer beats
    panel = staff_client.get("/ops/?panel=1").content.decode()
    assert "ZeroDivisionError" in panel and "<html" not in panel


def test_staff_retry_a_failed_job_from_the_dashboard(staff_client, django_capture_on_commit_callbacks):
    failed = divide(1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/ops/jobs/{failed.id}/retry/", follow=True)
    retry = JobRun.objects.get(retry_of_id=failed.id)
    assert response.redirect_chain[-1][0] == f"/ops/jobs/{retry.id}/"
    assert retry.state == JobRun.State.FAILED  # same arguments, same error
    assert JobRun.objects.get(pk=failed.id).dismissed_at is not None


def test_it_refuses_to_retry_a_job_that_did_not_fail(staff_client):
    ok = divide(4, 2)
    response = staff_client.post(f"/ops/jobs/{ok.id}/retry/", follow=True)
    assert "Only a failed job can be retried." in response.content.decode()
    assert not JobRun.objects.filter(retry_of_id=ok.id).exists()


def test_staff_discard_a_failed_job(staff_client):
    failed = divide(1, 0)
    staff_client.post(f"/ops/jobs/{failed.id}/dismiss/")
    assert "ZeroDivisionError" not in staff_client.get("/ops/?panel=1").content.decode()


def test_staff_cancel_a_scheduled_job(staff_client):
    later = divide.schedule(args=(1, 1), delay=600)
    staff_client.post(f"/ops/jobs/{later.id}/cancel/")
    assert JobRun.objects.get(pk=later.id).state == JobRun.State.REVOKED


def test_staff_pause_and_resume_a_job_by_name(staff_client):
    name = queue.job_name(divide)
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "pause"})
    held = divide(1, 1)
    assert JobRun.objects.get(pk=held.id).state == JobRun.State.SCHEDULED
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "resume"})
    assert not PausedJob.objects.exists()
    response = staff_client.post("/ops/jobs/pause/", {"name": "no.such.job"}, follow=True)
    assert "Unknown job name." in response.content.decode()


def test_the_job_list_filters_by_name_state_and_search(staff_client):
    divide(1, 0)
    divide(4, 2)
    name = queue.job_name(divide)
    assert staff_client.get("/ops/jobs/", {"name": name}).context["page"].paginator.count == 2
    assert staff_client.get("/ops/jobs/", {"state": "failed"}).context["page"].paginator.count == 1
    assert staff_client.get("/ops/jobs/", {"q": "ZeroDivision"}).context["page"].paginator.count == 1
    assert staff_client.get("/ops/jobs/", {"state": "nonsense", "since": "1h"}).status_code == 200


def test_the_job_detail_shows_arguments_timings_and_traceback(staff_client):
    failed = divide(1, 0)
    body = staff_client.get(f"/ops/jobs/{failed.id}/").content.decode()
    assert "[1, 0]" in body and "Traceback" in body and "executing" in body
    assert staff_client.get("/ops/jobs/no-such-job/").status_code == 404


def test_the_next_run_of_a_periodic_job_follows_its_crontab():
    overdue = next(job for job in job_stats.periodic_jobs() if job.short_name == "overdue_check")
    task = HUEY._registry.string_to_task(overdue.name)()
    after = datetime.datetime(2026, 1, 1, 9, 3, tzinfo=datetime.UTC)
    assert job_stats._next_run(task, after) == datetime.datetime(2026, 1, 1, 9, 10, tzinfo=datetime.UTC)


def test_throughput_counts_jobs_per_minute():
    divide(1, 0)
    divide(4, 2)
    bars = job_stats.throughput_per_minute(5)
    assert len(bars) == 5
    assert (bars[-1].succeeded, bars[-1].failed) == (1, 1)
