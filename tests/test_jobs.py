"""The job path in Huey's immediate mode: enqueueing runs the job inline."""

import datetime

import pytest
from django.core import mail
from django.db import transaction
from huey.contrib.djhuey import HUEY
from huey.exceptions import TaskException

from tasks_app import jobs, queue
from tasks_app.models import Email, Notification
from tasks_app.services import emails
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def test_it_enqueues_only_after_the_transaction_commits(django_capture_on_commit_callbacks):
    task = make_task(make_user())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk)
        assert Notification.objects.count() == 0
    assert len(callbacks) == 1
    assert job_id
    assert Notification.objects.get().message == f"New task: {task.title}"


def test_it_enqueues_nothing_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    task = make_task(make_user())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert Notification.objects.count() == 0


def test_it_notifies_the_owner_once_when_the_job_runs_twice():
    task = make_task(make_user())
    assert jobs.task_assigned_notify(task.pk)() is True
    assert jobs.task_assigned_notify(task.pk)() is True
    assert Notification.objects.filter(user=task.owner).count() == 1


def test_it_skips_a_task_deleted_before_the_job_ran():
    task = make_task(make_user())
    task_id = task.pk
    task.delete()
    assert jobs.task_assigned_notify(task_id)() is False
    assert Notification.objects.count() == 0


def test_it_sends_an_email_through_the_job_once():
    email = emails.email_create_welcome(make_user())
    assert jobs.email_send(email.pk)() is True
    assert jobs.email_send(email.pk)() is False
    assert len(mail.outbox) == 1


def test_it_keeps_a_refused_email_queued_for_the_retry(settings):
    settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
    email = emails.email_create_welcome(make_user())
    jobs.email_send(email.pk)
    email.refresh_from_db()
    assert email.status == Email.Status.QUEUED  # retries are left: the retry will send it
    assert email.error.startswith("SMTPServerDisconnected")
    assert HUEY.scheduled_count() == 1


def test_it_gives_up_on_an_email_after_the_last_retry(settings):
    settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
    email = emails.email_create_welcome(make_user())
    result = HUEY.enqueue(jobs.email_send.s(email.pk, retries=0))
    with pytest.raises(TaskException, match="unexpectedly closed"):
        result()
    email.refresh_from_db()
    assert email.status == Email.Status.FAILED
    assert HUEY.scheduled_count() == 0


def test_it_notifies_overdue_owners_from_the_periodic_job():
    make_task(make_user(), due_date=datetime.date(2000, 1, 1))
    assert jobs.overdue_check.call_local() == 1
    assert Notification.objects.get().kind == Notification.Kind.TASK_OVERDUE


def test_it_skips_an_overdue_check_while_another_holds_its_lock():
    make_task(make_user(), due_date=datetime.date(2000, 1, 1))
    with HUEY.lock_task("overdue-check"):
        jobs.overdue_check()
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(("minute", "fires"), [(0, True), (10, True), (50, True), (5, False), (11, False), (59, False)])
def test_it_runs_the_overdue_check_every_ten_minutes(minute, fires):
    at = datetime.datetime(2026, 3, 1, 13, minute)
    assert jobs.overdue_check.task_class().validate_datetime(at) is fires
