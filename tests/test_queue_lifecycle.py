"""The lifecycle of a job around failures: retries reopen claimed work, history only moves forward,
paused chord members wait (Huey in immediate mode)."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.exceptions import ConfigurationError

from tasks_app import jobs, queue
from tasks_app.models import Email, JobEvent, JobRun, Notification, Report
from tasks_app.queue import history, writer
from tasks_app.services import reports
from tests.factories import make_task, make_user
from tests.live_stack import settings_error, wait_for

pytestmark = pytest.mark.django_db


def _failed_job(job, *args) -> JobRun:
    """A job recorded as enqueued (its message kept) whose run then failed for good."""
    job_id = queue.enqueue_on_commit(job, *args)  # the commit never comes: recorded, not run
    JobRun.objects.filter(pk=job_id).update(state=JobRun.State.FAILED)
    return JobRun.objects.get(pk=job_id)


def _retry(run: JobRun, capture) -> JobRun:
    with capture(execute=True):
        new_id = queue.retry(run)
    return JobRun.objects.get(pk=new_id)


class TestRetryReopensClaimedWork:
    def test_an_email_left_sending_by_a_failed_job_is_sent_by_its_retry(
        self, alice, django_capture_on_commit_callbacks
    ):
        email = Email.objects.create(kind=Email.Kind.TASK, to="a@example.com", subject="Hi", body="Hello", user=alice)
        failed = _failed_job(jobs.email_send, email.pk)
        Email.objects.filter(pk=email.pk).update(status=Email.Status.SENDING, claimed_by=failed.pk)

        retry = _retry(failed, django_capture_on_commit_callbacks)
        assert retry.state == JobRun.State.SUCCEEDED
        assert Email.objects.get(pk=email.pk).status == Email.Status.SENT
        assert len(mail.outbox) == 1

    def test_an_email_a_live_job_is_sending_is_not_sent_again(self, alice):
        email = Email.objects.create(kind=Email.Kind.TASK, to="a@example.com", subject="Hi", body="Hello", user=alice)
        running = _failed_job(jobs.email_send, email.pk)
        JobRun.objects.filter(pk=running.pk).update(state=JobRun.State.RUNNING)
        Email.objects.filter(pk=email.pk).update(status=Email.Status.SENDING, claimed_by=running.pk)

        assert jobs.email_send(email.pk)() is False
        assert mail.outbox == []

    def test_a_report_left_running_by_a_failed_job_is_built_by_its_retry(
        self, alice, django_capture_on_commit_callbacks
    ):
        make_task(alice, title="In the report")
        report = reports.report_request(owner=alice, format="csv")
        failed = _failed_job(jobs.report_build, report.pk)
        Report.objects.filter(pk=report.pk).update(status=Report.Status.RUNNING, claimed_by=failed.pk)

        _retry(failed, django_capture_on_commit_callbacks)
        report.refresh_from_db()
        assert report.status == Report.Status.SUCCEEDED
        assert b"In the report" in report.file.read()

    def test_a_report_that_failed_is_rebuilt_once_the_cause_is_fixed(
        self, alice, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        make_task(alice)
        report = reports.report_request(owner=alice, format="csv")
        settings.MEDIA_ROOT = tmp_path / "not-a-folder"
        settings.MEDIA_ROOT.write_text("a file where the media folder should be")
        with django_capture_on_commit_callbacks(execute=True):
            job_id = queue.enqueue_on_commit(jobs.report_build, report.pk)
        assert Report.objects.get(pk=report.pk).status == Report.Status.FAILED

        settings.MEDIA_ROOT = tmp_path / "media"
        _retry(JobRun.objects.get(pk=job_id), django_capture_on_commit_callbacks)
        report.refresh_from_db()
        assert report.status == Report.Status.SUCCEEDED
        assert report.error == ""

    def test_a_failed_job_is_retried_once_and_its_page_links_to_the_retry(
        self, client, django_capture_on_commit_callbacks
    ):
        client.force_login(make_user(staff=True))
        failed = _failed_job(jobs.task_assigned_notify, 0)
        for _ in range(2):
            with django_capture_on_commit_callbacks(execute=True):
                client.post(f"/ops/jobs/{failed.pk}/retry/")
        retry = JobRun.objects.get(retry_of=failed)  # exactly one
        page = client.get(f"/ops/jobs/{failed.pk}/").content.decode()
        assert f'href="/ops/jobs/{retry.pk}/"' in page
        assert f'action="/ops/jobs/{failed.pk}/retry/"' not in page


class TestHistoryOnlyMovesForward:
    def _event(self, kind: str, at: datetime.datetime, **changes) -> history.Event:
        identity = {"name": "tests.job", "queue": "q", "priority": None, "args": [], "kwargs": {}}
        return history.Event("job-1", kind, at, identity, changes)

    def test_a_late_enqueued_event_does_not_turn_a_finished_job_back_into_pending(self):
        enqueued_at = timezone.now()
        later = enqueued_at + datetime.timedelta(seconds=1)
        history.write([self._event("executing", later, state=JobRun.State.RUNNING, started_at=later)])
        history.write([self._event("complete", later, state=JobRun.State.SUCCEEDED, finished_at=later)])
        history.write([self._event("enqueued", enqueued_at, state=JobRun.State.PENDING, enqueued_at=enqueued_at)])

        run = JobRun.objects.get(pk="job-1")
        assert run.state == JobRun.State.SUCCEEDED
        assert run.enqueued_at == enqueued_at  # what the late event knew is kept
        assert list(run.events.values_list("kind", flat=True)) == ["enqueued", "executing", "complete"]

    @pytest.mark.django_db(transaction=True)
    def test_the_writer_keeps_good_events_when_a_batch_cannot_be_written(self):
        flusher = writer.Writer()
        flusher.start()
        try:
            broken = self._event("enqueued", timezone.now(), state=JobRun.State.PENDING)
            broken.job_id, broken.identity = "broken", {**broken.identity, "name": None}  # NOT NULL: fails
            good = self._event("enqueued", timezone.now(), state=JobRun.State.PENDING)
            started = timezone.now()
            flusher.add_many([broken, good])
            # (no query meanwhile: the test database's shared cache refuses reads during a write)
            wait_for(lambda: flusher.flushed_at > started, timeout=30, what="the good event written, the bad dropped")
        finally:
            flusher.stop()
        assert not JobRun.objects.filter(pk="broken").exists()


def test_a_paused_chord_member_waits_and_its_chord_completes_after_resume(alice):
    others = [make_user() for _ in range(2)]
    queue.pause_job(queue.job_name(jobs.broadcast_deliver))
    send = jobs.broadcast_send("Fire drill at noon")
    summary_id = send()["summary_job_id"]
    assert not Notification.objects.filter(kind=Notification.Kind.BROADCAST).exists()
    assert JobEvent.objects.filter(kind="paused").count() == 3

    queue.resume_job(queue.job_name(jobs.broadcast_deliver))
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=1)):
        for held in HUEY.read_schedule():  # what the consumer's scheduler does once they are due
            HUEY.execute(held)
    assert Notification.objects.filter(kind=Notification.Kind.BROADCAST).count() == len(others) + 1
    summary = JobRun.objects.get(pk=summary_id)
    assert summary.state == JobRun.State.SUCCEEDED
    assert "'delivered': 3" in summary.result_summary


def test_the_dashboard_shows_jobs_requeued_after_a_consumer_died(client):
    client.force_login(make_user(staff=True))
    run = _failed_job(jobs.task_assigned_notify, 0)
    JobRun.objects.filter(pk=run.pk).update(state=JobRun.State.SUCCEEDED, deliveries=2)
    JobEvent.objects.create(job=run, kind="orphaned", at=timezone.now(), detail="held by consumer vm:1:ab")
    panel = client.get("/ops/?panel=1").content.decode()
    assert f'href="/ops/jobs/{run.pk}/"' in panel.split('id="requeued-jobs"')[1]
    assert "a consumer died while it held this job" in client.get(f"/ops/jobs/{run.pk}/").content.decode()


def test_the_consumer_refuses_process_workers_with_a_reason():
    with pytest.raises(ConfigurationError, match="thread workers only"):
        HUEY.create_consumer(workers=2, worker_type="process")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUEY_LEASE_SECONDS", "5", "HUEY_LEASE_SECONDS must be at least 10"),
        ("HUEY_MAX_DELIVERIES", "0", "HUEY_MAX_DELIVERIES must be at least 1"),
        ("HUEY_LEASE_SECONDS", "soon", "HUEY_LEASE_SECONDS must be a whole number"),
    ],
)
def test_bad_queue_settings_stop_the_start_with_a_clear_error(variable, value, message):
    assert message in settings_error(**{variable: value})
