"""The job catalog: emails, broadcast, periodic housekeeping, backups (Huey in immediate mode)."""

import datetime
import os
import sqlite3
import subprocess
import sys
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app import jobs
from tasks_app.models import Email, JobRun, Notification, Task, TaskStatsSnapshot
from tasks_app.queue.writer import enqueueing
from tasks_app.services import backups, emails, maintenance
from tests.factories import api_client, make_task, make_user
from tests.live_stack import ROOT, settings_error

pytestmark = pytest.mark.django_db


class TestEmailJobs:
    def test_email_me_this_task_sends_it_through_a_job(self, django_capture_on_commit_callbacks):
        alice = make_user("alice")
        task = make_task(alice, title="Renew the domain", description="Before it lapses")
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client(alice).post(f"/api/tasks/{task.pk}/email/")
        assert response.status_code == 202
        assert response.json()["status_url"] == f"/api/jobs/{response.json()['job_id']}/"
        assert mail.outbox[0].subject == "Task: Renew the domain"
        assert "Before it lapses" in mail.outbox[0].body
        assert JobRun.objects.get(pk=response.json()["job_id"]).state == JobRun.State.SUCCEEDED

    def test_email_me_this_task_needs_an_address_and_a_visible_task(self):
        nomail = make_user(email="")
        assert api_client(nomail).post(f"/api/tasks/{make_task(nomail).pk}/email/").status_code == 400
        assert api_client(make_user()).post(f"/api/tasks/{make_task(nomail).pk}/email/").status_code == 404
        assert not Email.objects.exists()

    def test_the_ui_button_emails_the_task(self, client, django_capture_on_commit_callbacks):
        alice = make_user("alice")
        client.force_login(alice)
        task = make_task(alice, title="From the page")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/tasks/{task.pk}/email/", follow=True)
        assert "On its way to alice@example.com" in response.content.decode()
        assert mail.outbox[0].subject == "Task: From the page"

    def test_completing_a_task_emails_its_owner_once(self, django_capture_on_commit_callbacks):
        owner, boss = make_user("owner"), make_user("boss", staff=True)
        task = make_task(owner, title="Ship it")
        with django_capture_on_commit_callbacks(execute=True):
            api_client(boss).post(f"/api/tasks/{task.pk}/complete/")
            api_client(boss).post(f"/api/tasks/{task.pk}/complete/")  # already done: no second notice
        assert [m.subject for m in mail.outbox] == ["Completed: Ship it"]
        assert mail.outbox[0].to == ["owner@example.com"]
        jobs.task_completed_notify(task.pk)  # the same completion never mails twice
        assert len(mail.outbox) == 1

    def test_a_deleted_task_ends_the_completion_notice_quietly(self):
        task = make_task(make_user(), status=Task.Status.DONE)
        task_id = task.pk
        task.delete()
        assert jobs.task_completed_notify(task_id)() is False

    def test_mail_past_a_minute_s_budget_waits_once_for_its_own_minute(self):
        user = make_user()
        noon = datetime.datetime(2026, 3, 1, 12, 0, 5, tzinfo=datetime.UTC)
        with time_machine.travel(noon, tick=False):
            rows = [emails.email_create(kind="task", to=user.email, subject=f"#{n}", body="b") for n in range(21)]
            for email in rows:
                jobs.email_send(email.pk)
        assert len(mail.outbox) == 10
        waiting = [JobRun.objects.get(args=[row.pk]) for row in rows[10:]]
        assert {(run.state, run.retries_left) for run in waiting} == {(JobRun.State.RETRYING, 5)}  # no retry spent
        one, two = noon.replace(minute=1, second=0), noon.replace(minute=2, second=0)
        assert [run.eta for run in waiting] == [one] * 10 + [two]  # the minutes after fill up in order
        kinds = [list(run.events.values_list("kind", flat=True)) for run in waiting]
        assert {tuple(k) for k in kinds} == {("enqueued", "executing", "retrying", "scheduled")}  # one wait each

        with time_machine.travel(one, tick=False):
            for held in HUEY.read_schedule():
                HUEY.execute(held)
        assert len(mail.outbox) == 20
        assert Email.objects.get(pk=rows[-1].pk).status == Email.Status.QUEUED  # its minute is the next

    def test_one_persons_flood_of_mail_leaves_room_for_everyone_elses(self, settings):
        # The shared budget is 10 a minute; the mail mallory's actions cause takes 3 of them at most.
        settings.MAIL_SENDER_PER_MINUTE = 3
        mallory, bob = make_user("mallory"), make_user("bob")
        noon = datetime.datetime(2026, 3, 1, 12, 0, 5, tzinfo=datetime.UTC)
        with time_machine.travel(noon, tick=False):
            with enqueueing(mallory.pk):
                flood = [
                    emails.email_create(kind="task", to=bob.email, subject=f"Flood {n}", body="b") for n in range(12)
                ]
                for email in flood:
                    jobs.email_send(email.pk)
            with enqueueing(bob.pk):
                jobs.email_send(emails.email_create(kind="task", to=bob.email, subject="Bob's own", body="b").pk)
        assert [m.subject for m in mail.outbox] == ["Flood 0", "Flood 1", "Flood 2", "Bob's own"]
        waiting = [JobRun.objects.get(args=[row.pk]) for row in flood[3:]]
        one, four = noon.replace(minute=1, second=0), noon.replace(minute=4, second=0)
        assert [run.eta for run in waiting] == [one] * 3 + [one.replace(minute=2)] * 3 + [one.replace(minute=3)] * 3
        assert max(run.eta for run in waiting) < four

        with time_machine.travel(one, tick=False):
            for held in HUEY.read_schedule():
                HUEY.execute(held)
        assert len(mail.outbox) == 7  # each waited once, for its place in mallory's budget

    def test_a_send_with_nothing_left_to_send_takes_no_place_in_the_budget(self, settings):
        settings.EMAIL_RATE_LIMIT_PER_MINUTE = 2
        user = make_user()
        first, second = (emails.email_create(kind="task", to=user.email, subject=s, body="b") for s in "AB")
        with time_machine.travel(datetime.datetime(2026, 3, 1, 12, 0, 5, tzinfo=datetime.UTC), tick=False):
            for _ in range(4):
                jobs.email_send(first.pk)  # sent once; the others: already sent (a completion asked again)
            jobs.email_send(second.pk)
        assert [m.subject for m in mail.outbox] == ["A", "B"]  # B in the same minute: 2 a minute

    def test_urgent_mail_is_picked_before_bulk_mail(self, queue_backend):
        # The project's queue storage, in a queue of this test's own: turning HUEY's
        # immediate mode off would open the real queue named in settings.
        storage = queue_backend.storage("priorities")
        for message in (
            jobs.email_send.s(1, priority=jobs.PRIORITY_BULK),
            jobs.email_send.s(2),
            jobs.email_send.s(3, priority=jobs.PRIORITY_URGENT),
        ):
            storage.enqueue(HUEY.serialize_task(message), message.priority)
        assert [HUEY.deserialize_task(storage.dequeue()).args[0] for _ in range(3)] == [3, 2, 1]

    def test_the_digest_goes_once_a_day_to_users_with_open_tasks(self, django_capture_on_commit_callbacks):
        busy, idle = make_user("busy"), make_user("idle")
        make_task(busy, title="Open one", due_date=datetime.date(2000, 1, 1))
        make_task(idle, status=Task.Status.DONE)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs.digest_send.call_local() == 1
            assert jobs.digest_send.call_local() == 0  # a second run the same day: today's digest has its job
        assert len(mail.outbox) == 1
        assert mail.outbox[0].to == ["busy@example.com"]
        assert "Open one" in mail.outbox[0].body and "OVERDUE" in mail.outbox[0].body


class TestBroadcast:
    def test_staff_broadcast_to_every_active_user_and_learn_how_many_got_it(self, django_capture_on_commit_callbacks):
        boss = make_user("boss", staff=True)
        make_user("a")
        make_user("b")
        make_user("gone", is_active=False)
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client(boss).post("/api/broadcasts/", {"message": "Office closed Friday"}, format="json")
        assert response.status_code == 202
        fan_out = JobRun.objects.get(pk=response.json()["job_id"])
        assert fan_out.state == JobRun.State.SUCCEEDED
        assert Notification.objects.filter(kind=Notification.Kind.BROADCAST).count() == 3
        summary = JobRun.objects.get(name="tasks_app.jobs.notifications.broadcast_summarize")
        assert summary.result_summary == "{'delivered': 3, 'users': 3}"

    def test_a_delivery_run_twice_notifies_once(self):
        user = make_user()
        jobs.broadcast_deliver(user.pk, "Hello", "b-1")
        jobs.broadcast_deliver(user.pk, "Hello", "b-1")
        assert Notification.objects.filter(user=user).count() == 1

    @pytest.mark.parametrize(("payload", "status"), [({"message": ""}, 400), ({}, 400), ({"message": "x" * 501}, 400)])
    def test_it_refuses_an_empty_or_too_long_message(self, payload, status):
        assert api_client(make_user(staff=True)).post("/api/broadcasts/", payload, format="json").status_code == status

    def test_it_is_for_staff_only(self):
        assert api_client(make_user()).post("/api/broadcasts/", {"message": "hi"}, format="json").status_code == 403
        assert not Notification.objects.exists()


class TestHousekeeping:
    def test_it_deletes_only_tasks_done_long_ago(self):
        owner = make_user()
        now = timezone.now()
        old = make_task(owner, status=Task.Status.DONE, completed_at=now - datetime.timedelta(days=91))
        make_task(owner, status=Task.Status.DONE, completed_at=now - datetime.timedelta(days=89))
        make_task(owner, created_at=now - datetime.timedelta(days=400))
        assert maintenance.done_tasks_delete(older_than_days=90, dry_run=True) == 1
        assert Task.objects.filter(pk=old.pk).exists()
        assert maintenance.done_tasks_delete(older_than_days=90) == 1
        assert not Task.objects.filter(pk=old.pk).exists()
        assert Task.objects.count() == 2

    def test_the_stats_snapshot_counts_one_hour_and_is_idempotent(self):
        owner = make_user()
        hour = datetime.datetime(2026, 3, 1, 10, tzinfo=datetime.UTC)
        with time_machine.travel(hour + datetime.timedelta(minutes=5)):
            make_task(owner)
            make_task(owner, status=Task.Status.DONE, completed_at=timezone.now())
        make_task(owner, due_date=datetime.date(2026, 2, 1))
        first = maintenance.stats_snapshot(hour)
        again = maintenance.stats_snapshot(hour + datetime.timedelta(minutes=30))
        assert first.pk == again.pk
        assert (again.created, again.completed) == (2, 1)
        assert again.overdue == 1
        assert TaskStatsSnapshot.objects.count() == 1

    def test_commands_run_by_hand_with_dry_run(self):
        make_task(make_user("busy"))
        out = StringIO()
        call_command("send_digest", "--dry-run", stdout=out)
        call_command("cleanup_done_tasks", "--dry-run", stdout=out)
        call_command("prune_job_history", "--dry-run", stdout=out)
        call_command("snapshot_stats", stdout=out)
        text = out.getvalue()
        assert "Would send 1 digest(s): busy" in text
        assert "Would delete 0 task(s) done over 90 days ago." in text
        assert "Would delete 0 job(s)" in text
        assert not mail.outbox


class TestBackups:
    @pytest.fixture
    def app_db(self, tmp_path):
        """A real SQLite file standing in for the app database (unit tests run on an in-memory one)."""
        path = tmp_path / "app.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.execute("create table tasks_app_task (id integer primary key, title text)")
            conn.execute("insert into tasks_app_task (title) values ('Keep me safe')")
        conn.close()
        return path

    def test_a_backup_restores_into_a_fresh_file_with_the_data(self, app_db, tmp_path):
        backup = backups.backup_create(keep=3, source=app_db)
        assert backup.parent == tmp_path / "backups"
        restored = tmp_path / "restored.sqlite3"
        backups.backup_restore(backup, restored)
        with sqlite3.connect(restored) as conn:
            assert conn.execute("select title from tasks_app_task").fetchall() == [("Keep me safe",)]
        conn.close()

    def test_it_keeps_only_the_newest_backups(self, app_db):
        made = [backups.backup_create(keep=2, source=app_db) for _ in range(4)]
        assert sorted(backups.backups_dir().glob("*.sqlite3")) == made[-2:]

    def test_it_refuses_to_restore_a_damaged_backup(self, app_db, tmp_path):
        damaged = tmp_path / "damaged.sqlite3"
        data = bytearray(app_db.read_bytes())
        data[4096:8192] = b"\xff" * 4096  # scribble over the table's page
        damaged.write_bytes(bytes(data))
        with pytest.raises((backups.BackupError, sqlite3.DatabaseError)):
            backups.backup_restore(damaged, tmp_path / "out.sqlite3")
        assert not (tmp_path / "out.sqlite3").exists()

    def test_the_command_restores_a_backup_and_explains_a_missing_target(self, app_db, tmp_path):
        backup = backups.backup_create(keep=1, source=app_db)
        out = StringIO()
        call_command("backup_db", "--restore", str(backup), "--into", str(tmp_path / "copy.sqlite3"), stdout=out)
        assert "Restored" in out.getvalue()
        with pytest.raises(CommandError, match="--restore needs --into PATH"):
            call_command("backup_db", "--restore", str(backup))


def test_a_sender_budget_above_the_shared_one_stops_the_start_with_the_reason():
    message = "MAIL_SENDER_PER_MINUTE must be from 1 to EMAIL_RATE_LIMIT_PER_MINUTE (10); got 20"
    assert message in settings_error(MAIL_SENDER_PER_MINUTE="20")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "site_config.settings", "EMAIL_RATE_LIMIT_PER_MINUTE": "2"}
    env.pop("MAIL_SENDER_PER_MINUTE", None)  # unset, it follows a shared budget below its default
    checked = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
