"""The job catalog's job paths in Huey's immediate mode: what each run records and leaves behind."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.exceptions import TaskException

from tasks_app import jobs, queue
from tasks_app.models import Email, JobRun, Notification, Task, TaskStatsSnapshot
from tasks_app.services import emails, tasks
from tests.backends import sqlite_only
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db

EMAIL_SEND = queue.job_name(jobs.email_send)


def _run(result) -> JobRun:
    return JobRun.objects.get(pk=result.id)


class TestEmailSend:
    def test_an_email_deleted_before_its_job_ran_ends_the_job_quietly(self):
        email = emails.email_create_welcome(make_user())
        email_id = email.pk
        email.delete()
        result = jobs.email_send(email_id)
        assert result() is False
        assert _run(result).state == JobRun.State.SUCCEEDED
        assert not mail.outbox

    def test_bad_input_fails_the_job_at_once_with_a_readable_reason(self):
        result = jobs.email_send("not-an-id")
        with pytest.raises(TaskException):
            result()
        run = _run(result)
        assert (run.state, run.attempts) == (JobRun.State.FAILED, 1)
        assert run.error == "ValueError: Field 'id' expected a number but got 'not-an-id'."
        assert HUEY.scheduled_count() == 0

    def test_a_mail_misconfiguration_fails_for_good_at_once_and_staff_are_told(self, settings, tmp_path):
        settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
        settings.EMAIL_FILE_PATH = tmp_path / "mail"
        settings.EMAIL_FILE_PATH.write_text("a file where the mail folder should be")
        boss = make_user("boss", staff=True)
        email = emails.email_create_welcome(make_user())
        result = jobs.email_send(email.pk)
        run = _run(result)
        assert (run.state, run.attempts) == (JobRun.State.FAILED, 1)  # retrying would not fix it
        assert run.error.startswith("ImproperlyConfigured")
        assert "Traceback (most recent call last)" in run.traceback
        email.refresh_from_db()
        assert email.status == Email.Status.FAILED
        assert Notification.objects.get(user=boss, kind=Notification.Kind.JOB_FAILED).data == {"job_id": result.id}

    def test_a_refused_connection_is_retried_after_a_backoff_delay(self, settings):
        settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
        settings.EMAIL_RETRY_BASE_SECONDS = 30
        email = emails.email_create_welcome(make_user())
        result = jobs.email_send(email.pk)
        run = _run(result)
        assert (run.state, run.attempts, run.retries_left) == (JobRun.State.RETRYING, 1, 4)
        assert 14 <= (run.eta - timezone.now()).total_seconds() <= 30  # half fixed, half jitter
        email.refresh_from_db()
        assert email.status == Email.Status.QUEUED


class TestTaskCompletedNotify:
    def test_a_task_reopened_before_the_notice_went_out_gets_none(self):
        task = tasks.task_create(created_by=make_user(), title="Ship it", status=Task.Status.DONE)
        tasks.task_update(task, status=Task.Status.TODO)
        assert jobs.task_completed_notify(task.pk)() is False
        assert not Email.objects.exists()

    def test_an_owner_without_an_address_gets_no_notice(self):
        task = tasks.task_create(created_by=make_user(email=""), title="Ship it", status=Task.Status.DONE)
        assert jobs.task_completed_notify(task.pk)() is False
        assert not mail.outbox


class TestBroadcast:
    def test_the_fan_out_reports_how_many_users_and_each_got_it_once(self):
        users = [make_user(), make_user(), make_user(staff=True)]
        make_user(is_active=False)
        result = jobs.broadcast_send("  Office closed Friday  ")
        outcome = result()
        assert outcome["users"] == 3
        delivered = Notification.objects.filter(kind=Notification.Kind.BROADCAST, data__broadcast_id=result.id)
        assert sorted(delivered.values_list("user_id", flat=True)) == sorted(user.pk for user in users)
        assert set(delivered.values_list("message", flat=True)) == {"Office closed Friday"}
        assert JobRun.objects.get(pk=outcome["summary_job_id"]).result_summary == "{'delivered': 3, 'users': 3}"

    def test_an_empty_broadcast_enqueued_by_hand_fails_with_a_reason(self):
        make_user()
        result = jobs.broadcast_send("   ")
        with pytest.raises(TaskException):
            result()
        assert _run(result).error == "ValueError: A broadcast needs a message."
        assert not Notification.objects.exists()

    def test_a_delivery_to_a_user_gone_or_deactivated_meanwhile_ends_quietly(self):
        gone, deactivated = make_user(), make_user(is_active=False)
        gone_id = gone.pk
        gone.delete()
        assert jobs.broadcast_deliver(gone_id, "Hello", "b-1")() is False
        assert jobs.broadcast_deliver(deactivated.pk, "Hello", "b-1")() is False
        assert not Notification.objects.exists()


class TestDigest:
    EIGHT_IN_BERLIN = datetime.datetime(2026, 1, 5, 7, 0)  # naive UTC, as Huey's clock reads

    def _scheduled_digest(self):
        """The digest as the scheduler enqueues it at 08:00 local: its expiry counted from then."""
        [digest] = [
            job for job in HUEY.read_periodic(self.EIGHT_IN_BERLIN) if isinstance(job, jobs.digest_send.task_class)
        ]
        with time_machine.travel(self.EIGHT_IN_BERLIN.replace(tzinfo=datetime.UTC), tick=False):
            digest.resolve_expires(HUEY.utc)  # what HUEY.enqueue() does
        return digest

    def test_a_digest_picked_up_more_than_four_hours_late_is_dropped(self, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        make_task(make_user("busy"))
        digest = self._scheduled_digest()
        HUEY.execute(digest, timestamp=self.EIGHT_IN_BERLIN + datetime.timedelta(hours=4, minutes=1))
        assert JobRun.objects.get(pk=digest.id).state == JobRun.State.EXPIRED
        assert not Email.objects.exists()

    def test_a_digest_picked_up_in_time_is_sent_as_bulk_mail(self, settings, django_capture_on_commit_callbacks):
        settings.TIME_ZONE = "Europe/Berlin"
        make_task(make_user("busy"))
        digest = self._scheduled_digest()
        with django_capture_on_commit_callbacks(execute=True):
            HUEY.execute(digest, timestamp=self.EIGHT_IN_BERLIN + datetime.timedelta(hours=3, minutes=59))
        assert JobRun.objects.get(pk=digest.id).state == JobRun.State.SUCCEEDED
        assert [m.to for m in mail.outbox] == [["busy@example.com"]]
        assert list(JobRun.objects.filter(name=EMAIL_SEND).values_list("priority", flat=True)) == [jobs.PRIORITY_BULK]


class TestHousekeepingJobs:
    def test_the_hourly_snapshot_run_twice_keeps_one_row_for_the_hour_that_ended(self):
        with time_machine.travel(datetime.datetime(2026, 3, 1, 10, 0, 30, tzinfo=datetime.UTC), tick=False):
            make_task(make_user())  # created at 10:00:30, in the hour still running
            jobs.stats_snapshot()
            jobs.stats_snapshot()
        snapshot = TaskStatsSnapshot.objects.get()
        assert snapshot.hour == datetime.datetime(2026, 3, 1, 9, tzinfo=datetime.UTC)
        assert snapshot.created == 0

    def test_the_weekly_cleanup_deletes_old_done_tasks_and_a_second_run_nothing(self):
        owner = make_user()
        now = timezone.now()
        make_task(owner, status=Task.Status.DONE, completed_at=now - datetime.timedelta(days=91))
        kept = make_task(owner, status=Task.Status.DONE, completed_at=now - datetime.timedelta(days=89))
        first, second = jobs.done_tasks_cleanup(), jobs.done_tasks_cleanup()
        assert [_run(first).state, _run(second).state] == [JobRun.State.SUCCEEDED] * 2
        assert list(Task.objects.all()) == [kept]

    def test_a_cleanup_that_overlaps_a_running_one_is_skipped(self):
        make_task(make_user(), status=Task.Status.DONE, completed_at=timezone.now() - datetime.timedelta(days=91))
        with HUEY.lock_task("done-tasks-cleanup"):
            result = jobs.done_tasks_cleanup()
        run = _run(result)
        assert (run.state, run.error) == (JobRun.State.REVOKED, "Skipped: another run of this job holds its lock.")
        assert Task.objects.count() == 1

    def test_job_history_pruning_deletes_old_finished_jobs(self, settings):
        settings.JOB_HISTORY_DAYS = 14
        old = JobRun.objects.create(
            id="old",
            name="x",
            queue="q",
            state=JobRun.State.SUCCEEDED,
            finished_at=timezone.now() - datetime.timedelta(days=15),
        )
        result = jobs.job_history_prune()
        assert not JobRun.objects.filter(pk=old.pk).exists()
        assert _run(result).state == JobRun.State.SUCCEEDED

    @sqlite_only
    def test_a_backup_that_cannot_be_made_fails_its_job_with_the_reason(self):
        # Unit tests run on an in-memory database: there is no file to back up.
        result = jobs.db_backup()
        run = _run(result)
        assert run.state == JobRun.State.FAILED
        assert run.error.startswith("BackupError: no database file at file:memorydb")
