"""GET /api/jobs/<id>/ and POST /api/jobs/<id>/cancel/ (Huey in immediate mode)."""

import pytest
from django.test import Client
from huey.contrib.djhuey import db_task
from rest_framework.test import APIClient

from tasks_app import queue
from tasks_app.models import JobRun
from tasks_app.queue.progress import report_progress
from tasks_app.queue.writer import enqueueing
from tests.factories import api_client, make_task, make_user

pytestmark = pytest.mark.django_db


@db_task(name="api_halve")
def halve(n: int) -> float:
    report_progress(1, 2, "halfway")
    report_progress(2, 2, "done")
    return n / 2


def _start(job, *args, user):
    with enqueueing(user.pk):
        return job(*args)


def test_it_shows_the_state_progress_and_result_of_a_job_to_whoever_started_it():
    alice = make_user()
    result = _start(halve, 8, user=alice)
    body = api_client(alice).get(f"/api/jobs/{result.id}/").json()
    assert body["id"] == result.id
    assert body["name"] == "api_halve"
    assert body["state"] == "succeeded"
    assert body["progress"] == {"current": 2, "total": 2, "percent": 100, "message": "done"}
    assert body["result"] == "4.0"
    assert body["error"] == ""
    assert body["enqueued_at"] and body["started_at"] and body["finished_at"]


def test_it_shows_the_error_of_a_failed_job():
    alice = make_user()
    result = _start(halve, "x", user=alice)
    body = api_client(alice).get(f"/api/jobs/{result.id}/").json()
    assert body["state"] == "failed"
    assert body["error"].startswith("TypeError")


def test_it_hides_other_peoples_jobs_but_shows_them_to_staff():
    alice, bob, boss = make_user(), make_user(), make_user(staff=True)
    result = _start(halve, 8, user=alice)
    assert api_client(bob).get(f"/api/jobs/{result.id}/").status_code == 404
    assert api_client(boss).get(f"/api/jobs/{result.id}/").status_code == 200
    assert api_client(alice).get("/api/jobs/no-such-job/").status_code == 404


def test_system_jobs_are_visible_to_staff_only(django_capture_on_commit_callbacks):
    task = make_task(make_user())
    with django_capture_on_commit_callbacks(execute=True):
        from tasks_app import jobs

        job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk)
    assert api_client(task.owner).get(f"/api/jobs/{job_id}/").status_code == 404
    assert api_client(make_user(staff=True)).get(f"/api/jobs/{job_id}/").status_code == 200


def test_it_needs_authentication():
    result = halve(8)
    assert APIClient().get(f"/api/jobs/{result.id}/").status_code == 401


def test_it_cancels_a_scheduled_job_and_refuses_a_finished_one():
    alice = make_user()
    with enqueueing(alice.pk):
        later = halve.schedule(args=(8,), delay=600)
    response = api_client(alice).post(f"/api/jobs/{later.id}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    again = api_client(alice).post(f"/api/jobs/{later.id}/cancel/")
    assert again.status_code == 409
    assert "revoked" in again.json()["detail"]
    assert JobRun.objects.get(pk=later.id).state == JobRun.State.REVOKED


def test_others_cannot_cancel_my_job():
    alice, bob = make_user(), make_user()
    with enqueueing(alice.pk):
        later = halve.schedule(args=(8,), delay=600)
    assert api_client(bob).post(f"/api/jobs/{later.id}/cancel/").status_code == 404
    assert JobRun.objects.get(pk=later.id).state == JobRun.State.SCHEDULED


def test_a_job_waiting_while_an_operator_paused_it_shows_as_paused():
    alice = make_user()
    queue.pause_job(queue.job_name(halve))
    held = _start(halve, 8, user=alice)
    assert api_client(alice).get(f"/api/jobs/{held.id}/").json()["state"] == "paused"
    assert JobRun.objects.get(pk=held.id).state == JobRun.State.SCHEDULED  # as stored
    queue.resume_job(queue.job_name(halve))
    assert api_client(alice).get(f"/api/jobs/{held.id}/").json()["state"] == "scheduled"


def test_a_report_waiting_for_a_paused_job_says_so(django_capture_on_commit_callbacks):
    from tasks_app import jobs

    alice = make_user()
    queue.pause_job(queue.job_name(jobs.report_build))
    with django_capture_on_commit_callbacks(execute=True):
        report_id = api_client(alice).post("/api/reports/", {"format": "csv"}, format="json").json()["id"]
    body = api_client(alice).get(f"/api/reports/{report_id}/").json()
    assert (body["status"], body["paused"]) == ("pending", True)
    assert api_client(alice).get("/api/reports/").json()[0]["paused"] is True
    page = Client()
    page.force_login(alice)
    assert "paused by an operator" in page.get("/reports/").content.decode()
    queue.resume_job(queue.job_name(jobs.report_build))
    assert "waiting for a worker" in page.get("/reports/").content.decode()
    assert api_client(alice).get(f"/api/reports/{report_id}/").json()["paused"] is False
