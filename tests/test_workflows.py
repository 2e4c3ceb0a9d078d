"""Starting jobs: one workflow per start, the same from the web UI, the API and the admin (immediate mode)."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import jobs, queue, workflows
from tasks_app.models import Email, JobRun, Notification, Report, Task, TaskImport, UserTaskStats
from tasks_app.services import maintenance, tasks, user_stats
from tests.factories import api_client, make_task, make_user

pytestmark = pytest.mark.django_db


def job_names() -> list[str]:
    return sorted(JobRun.objects.values_list("name", flat=True))


class TestFiles:
    def test_a_report_is_recorded_then_built_by_its_job_after_the_commit(
        self, alice, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            report, created = workflows.report_start(owner=alice, format="csv")
        assert created
        report.refresh_from_db()
        assert report.status == Report.Status.SUCCEEDED
        assert JobRun.objects.get(pk=report.job_id).name == queue.job_name(jobs.report_build)

    def test_a_refused_report_leaves_no_row_and_no_job(self, alice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as refused:
            workflows.report_start(owner=alice, format="csv", task_status="nonsense")
        assert "status" in refused.value.message_dict
        assert not Report.objects.exists() and not JobRun.objects.exists()

    def test_an_empty_import_is_refused_before_any_job(self, alice, django_capture_on_commit_callbacks):
        empty = SimpleUploadedFile("tasks.csv", b"", content_type="text/csv")
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
            workflows.import_start(owner=alice, uploaded=empty)
        assert not TaskImport.objects.exists() and not JobRun.objects.exists()


class TestTasks:
    def test_a_new_task_notifies_its_owner(self, alice, django_capture_on_commit_callbacks):
        bob = make_user("bob")
        with django_capture_on_commit_callbacks(execute=True):
            workflows.task_create(created_by=alice, title="For Bob", owner=bob)
        assert Notification.objects.get().user == bob

    def test_completing_a_task_emails_its_owner_once(self, alice, django_capture_on_commit_callbacks):
        task = make_task(alice, title="Ship it")
        bob = make_user("bob")
        with django_capture_on_commit_callbacks(execute=True):
            workflows.task_complete(task, by=bob)
            workflows.task_complete(task, by=bob)  # already done: no second notice
        assert job_names() == [queue.job_name(jobs.email_send), queue.job_name(jobs.task_completed_notify)]
        assert [m.subject for m in mail.outbox] == ["Completed: Ship it"]

    def test_completing_one_s_own_task_mails_no_one(self, alice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            workflows.task_complete(make_task(alice), by=alice)
        assert mail.outbox == []

    def test_completing_and_reopening_a_task_all_day_mails_its_owner_once(
        self, alice, django_capture_on_commit_callbacks
    ):
        task, bob = make_task(alice, title="Flip-flop"), make_user("bob")
        for _ in range(5):
            with django_capture_on_commit_callbacks(execute=True):
                workflows.task_complete(task, by=bob)
            workflows.task_update(task, by=bob, status=Task.Status.TODO)
        assert [m.subject for m in mail.outbox] == ["Completed: Flip-flop"]

    def test_one_person_s_completions_mail_others_at_most_mail_sender_rate_times(
        self, alice, settings, django_capture_on_commit_callbacks
    ):
        settings.MAIL_SENDER_RATE = "3/hour"
        mallory = make_user("mallory")
        with django_capture_on_commit_callbacks(execute=True):
            for n in range(5):
                workflows.task_complete(make_task(alice, title=f"Phish {n}"), by=mallory)
            workflows.task_complete(make_task(mallory, title="Theirs"), by=alice)  # alice's own budget
        assert [m.subject for m in mail.outbox] == [*(f"Completed: Phish {n}" for n in range(3)), "Completed: Theirs"]

    def test_a_status_a_form_already_set_on_the_task_still_counts_as_a_completion(
        self, alice, django_capture_on_commit_callbacks
    ):
        task = make_task(alice)
        task.status = Task.Status.DONE  # what a ModelForm's validation does before the view calls
        with django_capture_on_commit_callbacks(execute=True):
            workflows.task_update(task, by=make_user("bob"))
        assert queue.job_name(jobs.task_completed_notify) in job_names()

    def test_email_me_this_task_writes_the_email_and_returns_its_job(self, alice, django_capture_on_commit_callbacks):
        task = make_task(alice)
        with django_capture_on_commit_callbacks(execute=True):
            email, job_id = workflows.task_email(task, alice, base_url="https://tasks.example.com/")
        assert JobRun.objects.get(pk=job_id).state == JobRun.State.SUCCEEDED
        assert Email.objects.get(pk=email.pk).status == Email.Status.SENT
        assert f"https://tasks.example.com/tasks/{task.pk}/" in email.body

    def test_a_broadcast_of_blanks_is_refused(self, alice):
        with pytest.raises(ValidationError):
            workflows.broadcast_start("   ", by=alice)
        assert not JobRun.objects.exists()


class TestTheAdminStartsTheSameJobs:
    @pytest.fixture
    def boss_client(self, client):
        boss = make_user("boss", staff=True)
        client.force_login(boss)
        return client

    def test_completing_tasks_from_the_admin_emails_their_owners(self, boss_client, django_capture_on_commit_callbacks):
        owner = make_user("owner")
        task = make_task(owner, title="From the admin")
        with django_capture_on_commit_callbacks(execute=True):
            response = boss_client.post(
                "/admin/tasks_app/task/", {"action": "complete", "_selected_action": [task.pk]}, follow=True
            )
        assert "Completed 1 task(s)." in response.content.decode()
        assert [(m.to, m.subject) for m in mail.outbox] == [(["owner@example.com"], "Completed: From the admin")]

    def test_a_task_added_in_the_admin_notifies_its_owner(self, boss_client, django_capture_on_commit_callbacks):
        owner = make_user("owner")
        form = {
            "title": "Added in the admin",
            "description": "",
            "owner": owner.pk,
            "status": "todo",
            "priority": "normal",
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = boss_client.post("/admin/tasks_app/task/add/", form)
        assert response.status_code == 302
        task = Task.objects.get(title="Added in the admin")
        notice = Notification.objects.get(user=owner)
        assert (notice.message, notice.data["task_id"]) == ("boss gave you a task: Added in the admin", task.pk)


def counts(user) -> tuple[int, int, int]:
    stats = UserTaskStats.objects.get(user=user)
    return (stats.open, stats.done, stats.overdue)


class TestUserTaskStats:
    def test_every_task_write_changes_the_counts_of_the_owners_it_touches_without_counting(self, alice):
        bob = make_user("bob")
        user_stats.user_stats_for(alice), user_stats.user_stats_for(bob)  # counted once: all zeros
        with CaptureQueriesContext(connection) as queries:
            task = tasks.task_create(created_by=alice, title="Moves around", due_date=datetime.date(2020, 1, 1))
            assert counts(alice) == (1, 0, 1)
            tasks.task_update(task, owner=bob)
            assert (counts(alice), counts(bob)) == ((0, 0, 0), (1, 0, 1))
            tasks.task_complete(task)
            assert counts(bob) == (0, 1, 0)
            tasks.task_update(task, status=Task.Status.TODO, due_date=None)
            assert counts(bob) == (1, 0, 0)
            tasks.task_delete(task)
            assert counts(bob) == (0, 0, 0)
        assert not [query["sql"] for query in queries if "COUNT(" in query["sql"].upper()]

    def test_counts_of_an_earlier_day_are_recounted_when_read(self, alice):
        with time_machine.travel(datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC), tick=False):
            tasks.task_create(created_by=alice, title="Due today", due_date=datetime.date(2026, 1, 5))
            assert user_stats.user_stats_for(alice).overdue == 0
        with time_machine.travel(datetime.datetime(2026, 1, 6, 0, 10, tzinfo=datetime.UTC), tick=False):
            tasks.task_create(created_by=alice, title="Written before anyone read the counts today")
            assert counts(alice) == (2, 0, 0)  # open follows the write; overdue waits for the recount
            stats = user_stats.user_stats_for(alice)
            assert (stats.open, stats.done, stats.overdue, stats.counted_on) == (2, 0, 1, datetime.date(2026, 1, 6))

    def test_a_task_written_around_the_services_never_makes_a_later_write_fail(self, alice):
        user_stats.user_stats_for(alice)  # counted: nothing open
        task = make_task(alice, title="Made in a shell, not counted")
        tasks.task_delete(task)
        assert counts(alice) == (0, 0, 0)  # not -1: the count stays at 0 until the next recount

    def test_a_person_never_counted_is_counted_on_the_first_read(self, alice):
        tasks.task_create(created_by=alice, title="Before any count")
        assert UserTaskStats.objects.get(user=alice).counted_on is None  # a write makes the row, uncounted
        tasks.task_create(created_by=alice, title="Another")
        assert user_stats.user_stats_for(alice).open == 2

    def test_deleting_old_done_tasks_has_their_owners_recounted(self, alice):
        with time_machine.travel(datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC), tick=False):
            tasks.task_complete(tasks.task_create(created_by=alice, title="Long done"))
        assert user_stats.user_stats_for(alice).done == 1
        assert maintenance.done_tasks_delete(older_than_days=30) == 1
        assert user_stats.user_stats_for(alice).done == 0

    def test_the_tasks_page_and_the_api_show_a_persons_counts(self, alice, client):
        tasks.task_create(created_by=alice, title="Late", due_date=datetime.date(2020, 1, 1))
        tasks.task_create(created_by=alice, title="Fine")
        client.force_login(alice)
        body = client.get("/").content.decode()
        assert "2 open</a>" in body and "1 overdue</a>" in body
        assert api_client(alice).get("/api/me/").json()["task_stats"]["overdue"] == 1
