"""The job path in Huey's immediate mode: enqueueing runs the job inline."""

import datetime

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from huey.exceptions import TaskException

from tasks_app import jobs, queue
from tasks_app.models import Email, Notification
from tasks_app.services import emails
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def given_task():
    """A task someone gave its owner (one's own tasks notify no one)."""
    return make_task(make_user(), created_by=make_user("giver"))


def test_it_enqueues_only_after_the_transaction_commits(django_capture_on_commit_callbacks):
    task = given_task()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk)
        assert Notification.objects.count() == 0
    assert len(callbacks) == 1
    assert job_id
    assert Notification.objects.get().message == f"giver gave you a task: {task.title}"


def test_it_enqueues_nothing_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    task = given_task()
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
    task = given_task()
    assert jobs.task_assigned_notify(task.pk)() is True
    assert jobs.task_assigned_notify(task.pk)() is True
    notice = Notification.objects.get(user=task.owner)
    assert notice.data["task_ids"] == [task.pk]


def test_a_task_made_for_oneself_notifies_no_one():
    task = make_task(make_user())
    assert jobs.task_assigned_notify(task.pk)() is False
    assert not Notification.objects.exists()


def test_a_burst_of_tasks_from_one_person_is_one_notice_until_read():
    owner, giver, other = make_user("owner"), make_user("giver", first_name="Gina", last_name="Giver"), make_user()
    burst = [make_task(owner, created_by=giver, title=f"Task {n}") for n in range(30)]
    for task in burst:
        jobs.task_assigned_notify(task.pk)
    jobs.task_assigned_notify(burst[-1].pk)  # a job run twice counts its task once
    notice = Notification.objects.get(user=owner)
    assert notice.message == "Gina Giver gave you 30 tasks, the last: Task 29"
    assert notice.target_url() == f"/tasks/{burst[-1].pk}/"
    jobs.task_assigned_notify(make_task(owner, created_by=other).pk)  # someone else's: a notice of its own
    notice.read_at = timezone.now()
    notice.save()
    jobs.task_assigned_notify(make_task(owner, created_by=giver, title="After").pk)  # read: a new notice
    assert Notification.objects.filter(user=owner).count() == 3


def test_it_skips_a_task_deleted_before_the_job_ran():
    task = given_task()
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
