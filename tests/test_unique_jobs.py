"""Unique jobs: the same work asked for twice gets one job (`queue.claim_unique` and its users).

A job enqueued in a test's transaction stays pending (its on-commit enqueue never runs unless
the test asks for it): exactly "the first one is still waiting" for the second request.
"""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tasks_app import jobs, queue, workflows
from tasks_app.models import Email, JobEvent, JobRun, Report, TaskImport
from tests.backends import postgres_only
from tests.concurrency import at_once
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def csv_file(content: bytes = b"title\nWater the plants\n") -> SimpleUploadedFile:
    return SimpleUploadedFile("tasks.csv", content, content_type="text/csv")


class TestClaimUnique:
    def test_a_key_held_by_a_waiting_job_returns_that_job_and_says_so_in_its_history(self, alice):
        claimed = queue.claim_unique("k")
        assert claimed.created
        queue.enqueue_on_commit(jobs.task_assigned_notify, 1, id=claimed.job_id)
        again = queue.claim_unique("k", user=alice)
        assert (again.job_id, again.created) == (claimed.job_id, False)
        event = JobEvent.objects.get(job_id=claimed.job_id, kind="asked-again")
        assert event.detail == f"asked again by alice: same as job {claimed.job_id}, so no second job"

    def test_a_key_whose_job_was_never_recorded_is_free(self):
        assert queue.claim_unique("k").created  # the caller did not enqueue: no history row
        assert queue.claim_unique("k").created

    def test_a_key_is_free_once_its_job_finished_longer_ago_than_the_window(self):
        claimed = queue.claim_unique("k", window=datetime.timedelta(minutes=1))
        queue.enqueue_on_commit(jobs.task_assigned_notify, 1, id=claimed.job_id)
        JobRun.objects.filter(pk=claimed.job_id).update(state=JobRun.State.SUCCEEDED, finished_at=now())
        assert not queue.claim_unique("k", window=datetime.timedelta(minutes=1)).created
        with time_machine.travel(now() + datetime.timedelta(seconds=61), tick=False):
            assert queue.claim_unique("k", window=datetime.timedelta(minutes=1)).created

    def test_an_overlong_key_is_refused(self):
        with pytest.raises(ValueError, match="at most 200"):
            queue.claim_unique("k" * 201)

    @postgres_only  # SQLite runs one writer at a time (and the tests' in-memory database refuses a second)
    def test_two_requests_at_once_get_one_report(self, transactional_db):
        alice = make_user("alice")

        def request(_):
            try:
                return workflows.report_start(owner=alice, format="pdf")
            finally:
                connection.close()

        started = at_once(2, request)
        assert sorted(created for _, created in started) == [False, True]
        assert len({report.job_id for report, _ in started}) == 1
        assert Report.objects.count() == 1


@postgres_only  # SQLite runs one writer at a time
def test_one_person_s_requests_at_once_stay_within_their_limit(transactional_db, settings):
    settings.FILE_JOBS_PER_PERSON = 2
    settings.REPORT_ROW_DELAY_SECONDS = 0.2  # each report builds (inline, after its commit) for 2 s
    alice = make_user("alice")
    for n in range(10):
        make_task(alice, title=f"Row {n}")

    def request(n):
        try:
            return workflows.report_start(owner=alice, format="csv", date_from=datetime.date(2026, 1, n + 1))
        except workflows.TooMuchInProgress:
            return None
        finally:
            connection.close()

    started = at_once(6, request)
    assert sum(result is not None for result in started) == 2
    assert Report.objects.count() == 2


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TestReports:
    def test_the_same_report_asked_for_while_it_waits_is_that_report(self, alice):
        first, created = workflows.report_start(owner=alice, format="csv", task_status="todo")
        second, again = workflows.report_start(owner=alice, format="csv", task_status="todo")
        assert (created, again) == (True, False)
        assert second.pk == first.pk and Report.objects.count() == 1

    def test_other_choices_or_another_person_make_another_report(self, alice):
        first, _ = workflows.report_start(owner=alice, format="csv")
        assert workflows.report_start(owner=alice, format="xlsx")[1]
        assert workflows.report_start(owner=alice, format="csv", task_status="done")[1]
        assert workflows.report_start(owner=make_user("bob"), format="csv")[1]
        assert Report.objects.count() == 4 and first.pk

    def test_once_the_report_is_built_asking_again_builds_a_new_one(self, alice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            first, _ = workflows.report_start(owner=alice, format="csv")
        second, created = workflows.report_start(owner=alice, format="csv")
        assert created and second.pk != first.pk

    def test_a_refused_report_takes_no_key(self, alice):
        for _ in range(2):  # refused again, not "already building"
            with pytest.raises(ValidationError, match="Unknown status"):
                workflows.report_start(owner=alice, format="csv", task_status="nonsense")
        assert not Report.objects.exists()

    def test_the_api_answers_200_with_the_report_already_building(self, api):
        first = api.post("/api/reports/", {"format": "csv"}, format="json")
        second = api.post("/api/reports/", {"format": "csv"}, format="json")
        assert (first.status_code, second.status_code) == (202, 200)
        assert first.json()["created"] is True
        body = second.json()
        assert (body["id"], body["job_id"], body["created"]) == (first.json()["id"], first.json()["job_id"], False)
        assert body["detail"] == f"Already building: report {body['id']} has the same choices."

    def test_the_page_says_already_building(self, client, alice):
        client.force_login(alice)
        client.post("/reports/", {"format": "csv"})
        page = client.post("/reports/", {"format": "csv"}, follow=True).content.decode()
        assert "Already building: report #" in page
        assert Report.objects.count() == 1


class TestImports:
    def test_the_same_file_uploaded_again_is_the_same_import_for_ten_minutes_after_it_finished(
        self, alice, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            first, _ = workflows.import_start(owner=alice, uploaded=csv_file())
        assert TaskImport.objects.get(pk=first.pk).status == TaskImport.Status.SUCCEEDED
        again, created = workflows.import_start(owner=alice, uploaded=csv_file())
        assert (again.pk, created) == (first.pk, False)
        assert workflows.import_start(owner=alice, uploaded=csv_file(b"title\nOther\n"))[1]
        with time_machine.travel(now() + datetime.timedelta(minutes=11), tick=False):
            assert workflows.import_start(owner=alice, uploaded=csv_file())[1]

    def test_the_api_answers_200_with_the_earlier_import(self, api):
        first = api.post("/api/imports/", {"file": csv_file()}, format="multipart")
        second = api.post("/api/imports/", {"file": csv_file()}, format="multipart")
        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json()["id"] == first.json()["id"] and second.json()["created"] is False
        assert second.json()["detail"].startswith(f"Already imported: import {first.json()['id']} has the same file")


class TestTaskEmails:
    def test_email_me_this_task_twice_within_a_minute_sends_one(self, alice, django_capture_on_commit_callbacks):
        task = make_task(alice)
        with django_capture_on_commit_callbacks(execute=True):
            email, job_id = workflows.task_email(task, alice, base_url="http://testserver/")
            again, same_job = workflows.task_email(task, alice, base_url="http://testserver/")
        assert (again, same_job) == (None, job_id)
        assert Email.objects.filter(kind=Email.Kind.TASK).count() == 1 and email
        with time_machine.travel(now() + datetime.timedelta(seconds=61), tick=False):
            assert workflows.task_email(task, alice, base_url="http://testserver/")[0] is not None

    def test_the_api_answers_200_with_the_first_email_s_job(self, api, alice):
        task = make_task(alice)
        first = api.post(f"/api/tasks/{task.pk}/email/")
        second = api.post(f"/api/tasks/{task.pk}/email/")
        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json() == {
            "job_id": first.json()["job_id"],
            "status_url": first.json()["status_url"],
            "created": False,
            "detail": "Already on its way: you asked for this task less than a minute ago.",
        }
