"""The job catalog's services, called directly: backups, job-history pruning, emails."""

import datetime
import sqlite3
import subprocess
from contextlib import closing
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from tasks_app.models import ConsumerHeartbeat, Email, JobEvent, JobRun, Task
from tasks_app.services import backups, emails, job_runs, tasks
from tests.backends import postgres_only, sqlite_only
from tests.factories import make_task, make_user


def _rows(path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


class TestBackups:
    @postgres_only
    def test_a_postgres_backup_is_a_dump_that_pg_restore_reads_back_with_the_tasks(self, transactional_db, tmp_path):
        make_task(make_user("alice"), title="Keep me safe")
        first = backups.backup_create(keep=1)
        second = backups.backup_create(keep=1)

        assert second.parent == tmp_path / "backups" and second.suffix == ".dump"
        assert not first.exists()  # rotated
        restored = subprocess.run(
            ["pg_restore", "--data-only", "--table=tasks_app_task", "--file=-", str(second)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Keep me safe" in restored.stdout
        with pytest.raises(backups.BackupError, match="is a PostgreSQL dump: restore it with pg_restore"):
            backups.backup_restore(second, tmp_path / "out.sqlite3")

    @sqlite_only
    def test_a_backup_restored_into_a_fresh_file_holds_the_apps_tasks(self, transactional_db, tmp_path):
        make_task(make_user("alice"), title="Keep me safe")
        # Unit tests run on an in-memory database: give it a file, as the app's database has.
        app_db = tmp_path / "app.sqlite3"
        connection.ensure_connection()
        with closing(sqlite3.connect(app_db)) as file:
            connection.connection.backup(file)

        backup = backups.backup_create(keep=3, source=app_db)
        restored = tmp_path / "restored.sqlite3"
        backups.backup_restore(backup, restored)

        assert backup.parent == tmp_path / "backups"
        assert _rows(restored, "select title from tasks_app_task") == [("Keep me safe",)]
        assert _rows(restored, "select username from auth_user") == [("alice",)]

    def test_a_backup_of_a_database_in_wal_mode_is_one_self_contained_file(self, tmp_path):
        live = tmp_path / "live.sqlite3"
        writer = sqlite3.connect(live)
        try:
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("create table tasks_app_task (id integer primary key, title text)")
            writer.execute("insert into tasks_app_task (title) values ('Only in the WAL so far')")
            writer.commit()  # the open connection keeps the commit in the -wal file, uncheckpointed
            backup = backups.backup_create(keep=3, source=live)
        finally:
            writer.close()

        assert [path.name for path in backups.backups_dir().iterdir()] == [backup.name]  # no -wal, -shm
        assert _rows(backup, "PRAGMA journal_mode") == [("delete",)]
        assert _rows(backup, "select title from tasks_app_task") == [("Only in the WAL so far",)]

    def test_a_copy_that_fails_its_integrity_check_is_deleted_and_the_reason_given(self, tmp_path):
        broken = tmp_path / "app.sqlite3"
        with closing(sqlite3.connect(broken)) as conn:
            conn.execute("create table tasks_app_task (id integer primary key, title text check (title <> ''))")
            conn.execute("PRAGMA ignore_check_constraints=ON")  # lets in a row that breaks the table's rule
            conn.execute("insert into tasks_app_task (title) values ('')")
            conn.commit()

        with pytest.raises(
            backups.BackupError, match="^integrity check failed: CHECK constraint failed in tasks_app_task$"
        ):
            backups.backup_create(keep=3, source=broken)
        assert list(backups.backups_dir().iterdir()) == []

    def test_it_refuses_to_back_up_a_database_file_that_is_not_there(self, tmp_path):
        missing = tmp_path / "gone.sqlite3"
        with pytest.raises(backups.BackupError, match="no database file at"):
            backups.backup_create(keep=3, source=missing)
        assert not missing.exists()  # sqlite3.connect would have made an empty one, and backed it up

    def test_it_refuses_to_restore_a_file_that_is_not_a_database(self, tmp_path):
        junk = tmp_path / "junk.sqlite3"
        junk.write_bytes(b"not a database at all" * 200)
        with pytest.raises(backups.BackupError, match="refusing to restore a damaged backup: file is not a database"):
            backups.backup_restore(junk, tmp_path / "out.sqlite3")
        assert not (tmp_path / "out.sqlite3").exists()


@pytest.mark.django_db
class TestJobHistoryPrune:
    @pytest.fixture
    def history(self):
        now = timezone.now()

        def run(pk: str, state: str, finished_days_ago: float | None = None) -> JobRun:
            finished = None if finished_days_ago is None else now - datetime.timedelta(days=finished_days_ago)
            return JobRun.objects.create(
                id=pk, name="tasks_app.jobs.x", queue="tasks_app", state=state, finished_at=finished
            )

        old = run("old", JobRun.State.SUCCEEDED, 15)
        JobEvent.objects.create(job=old, kind="complete", at=now)
        run("old-failed", JobRun.State.FAILED, 20)
        run("recent", JobRun.State.SUCCEEDED, 13)
        run("waiting", JobRun.State.SCHEDULED)
        for consumer_id, beat_days_ago in (("silent:1", 2), ("alive:2", 0)):
            beat = now - datetime.timedelta(days=beat_days_ago)
            ConsumerHeartbeat.objects.create(
                consumer_id=consumer_id, hostname="h", pid=1, workers=2, started_at=beat, beat_at=beat
            )

    def test_a_dry_run_counts_and_deletes_nothing(self, history):
        assert job_runs.job_history_prune(older_than_days=14, dry_run=True) == (2, 1)
        assert (JobRun.objects.count(), ConsumerHeartbeat.objects.count()) == (4, 2)

    def test_it_deletes_finished_jobs_past_the_retention_and_consumers_silent_for_a_day(self, history):
        assert job_runs.job_history_prune(older_than_days=14) == (2, 1)
        assert sorted(JobRun.objects.values_list("pk", flat=True)) == ["recent", "waiting"]
        assert not JobEvent.objects.exists()
        assert list(ConsumerHeartbeat.objects.values_list("consumer_id", flat=True)) == ["alive:2"]
        assert job_runs.job_history_prune(older_than_days=14) == (0, 0)

    def test_the_command_says_what_it_would_delete_then_deletes_it(self, history):
        out = StringIO()
        call_command("prune_job_history", "--dry-run", "--days", "14", stdout=out)
        call_command("prune_job_history", "--days", "14", stdout=out)
        assert out.getvalue().splitlines() == [
            "Would delete 2 job(s) finished over 14 days ago and 1 silent consumer(s).",
            "Deleted 2 job(s) finished over 14 days ago and 1 silent consumer(s).",
        ]


@pytest.mark.django_db
class TestEmails:
    def test_the_digest_goes_to_active_users_with_an_address_and_open_tasks(self):
        busy = make_user("busy")
        make_task(busy)
        make_task(busy)
        make_task(make_user("gone", is_active=False))
        make_task(make_user("nomail", email=""))
        make_task(make_user("finished"), status=Task.Status.DONE)
        make_user("idle")
        assert list(emails.digest_recipients(datetime.date(2026, 1, 5))) == [busy]

    def test_a_user_sent_todays_digest_gets_no_second_one_that_day(self):
        make_task(make_user("busy"))
        today = datetime.date(2026, 1, 5)
        [digest] = emails.email_create_digests(today)
        emails.email_send(digest.pk)
        assert list(emails.digest_recipients(today)) == []
        assert [user.username for user in emails.digest_recipients(today + datetime.timedelta(days=1))] == ["busy"]

    @time_machine.travel(datetime.datetime(2026, 1, 5, 9, 0, tzinfo=datetime.UTC), tick=False)
    def test_the_digest_dry_run_counts_what_the_real_run_sends(self, django_capture_on_commit_callbacks):
        make_task(make_user("busy"))
        sent = make_user("sent")
        make_task(sent)
        make_task(make_user("gone", is_active=False))
        make_task(make_user("nomail", email=""))
        key = f"digest:{sent.pk}:{timezone.localdate().isoformat()}"
        already = emails.email_create(
            kind=Email.Kind.DIGEST, to=sent.email, subject="s", body="b", user=sent, dedup_key=key
        )
        emails.email_send(already.pk)
        mail.outbox.clear()
        out = StringIO()
        call_command("send_digest", "--dry-run", stdout=out)
        assert out.getvalue() == "Would send 1 digest(s): busy\n"
        assert Email.objects.count() == 1  # only the one sent before
        with django_capture_on_commit_callbacks(execute=True):
            call_command("send_digest", stdout=out)
        assert out.getvalue().endswith("Queued 1 digest(s).\n")
        assert [m.to for m in mail.outbox] == [["busy@example.com"]]

    def test_email_me_this_task_needs_an_address(self):
        user = make_user(email="")
        with pytest.raises(ValueError, match="no email address"):
            emails.email_create_task(make_task(user), user, base_url="http://testserver/", job_id="j")

    def test_a_task_s_completions_get_one_notice_a_day(self):
        owner = make_user()
        task = tasks.task_create(created_by=owner, title="Ship it")
        assert emails.email_create_task_completed(task) is None  # not done yet
        tasks.task_complete(task)
        first = emails.email_create_task_completed(task)
        assert emails.email_create_task_completed(task) == first
        tasks.task_update(task, status=Task.Status.TODO)
        assert emails.email_create_task_completed(task) is None  # reopened
        tasks.task_complete(task)
        assert emails.email_create_task_completed(task) == first  # completed again the same day: no second
        with time_machine.travel(timezone.now() + datetime.timedelta(days=1)):
            tasks.task_update(task, status=Task.Status.TODO)
            tasks.task_complete(task)
            assert emails.email_create_task_completed(task) != first
        assert Email.objects.filter(kind=Email.Kind.TASK_COMPLETED).count() == 2

    def test_an_email_that_is_gone_is_not_sent(self):
        assert emails.email_send(987654) is False

    def test_a_mail_misconfiguration_fails_the_email_even_with_attempts_left(self, settings, tmp_path):
        settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
        settings.EMAIL_FILE_PATH = tmp_path / "mail"
        settings.EMAIL_FILE_PATH.write_text("a file where the mail folder should be")
        email = emails.email_create_welcome(make_user())
        with pytest.raises(ImproperlyConfigured):
            emails.email_send(email.pk, final_attempt=False)
        email.refresh_from_db()
        assert email.status == Email.Status.FAILED
        assert email.error.startswith(
            "ImproperlyConfigured: Path for saving email messages exists, but is not a directory"
        )
