import datetime
import threading

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from tasks_app.models import Email, Notification, Task, UserTaskStats
from tasks_app.services import emails, notifications, tasks, user_stats
from tests.backends import postgres_only
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


class TestTasks:
    def test_it_makes_the_creator_the_owner_by_default(self):
        alice = make_user()
        task = tasks.task_create(created_by=alice, title="Write report")
        assert task.owner == alice
        assert task.status == Task.Status.TODO

    def test_it_sets_completed_at_on_done_and_clears_it_when_reopened(self):
        task = make_task(make_user())
        tasks.task_complete(task)
        assert task.completed_at is not None
        tasks.task_update(task, status=Task.Status.TODO)
        assert task.completed_at is None

    def test_it_rejects_a_title_over_200_characters(self):
        with pytest.raises(ValidationError) as error:
            tasks.task_create(created_by=make_user(), title="x" * 201)
        assert "title" in error.value.message_dict

    def test_it_finds_only_open_tasks_past_their_due_date_as_overdue(self):
        owner = make_user()
        today = datetime.date(2026, 5, 10)
        late = make_task(owner, due_date=today - datetime.timedelta(days=1))
        make_task(owner, due_date=today)
        make_task(owner, due_date=today - datetime.timedelta(days=3), status=Task.Status.DONE)
        assert list(Task.objects.overdue(today)) == [late]

    def test_it_shows_users_only_tasks_they_own_or_created_and_staff_everything(self):
        alice, bob, boss = make_user(), make_user(), make_user(staff=True)
        own = make_task(alice)
        given = make_task(bob, created_by=alice)
        make_task(bob)
        assert set(Task.objects.visible_to(alice)) == {own, given}
        assert Task.objects.visible_to(boss).count() == 3


class TestNotifications:
    def test_it_notifies_once_per_dedup_key(self):
        user = make_user()
        first = notifications.notify(user=user, kind="task_assigned", message="a", dedup_key="k")
        second = notifications.notify(user=user, kind="task_assigned", message="b", dedup_key="k")
        assert first.pk == second.pk
        assert Notification.objects.count() == 1

    def test_it_notifies_overdue_tasks_once_per_task_per_day(self):
        owner = make_user()
        today = datetime.date(2026, 5, 10)
        make_task(owner, title="Late", due_date=today - datetime.timedelta(days=2))
        assert notifications.notify_overdue(today=today) == 1
        assert notifications.notify_overdue(today=today) == 0
        assert notifications.notify_overdue(today=today + datetime.timedelta(days=1)) == 1
        assert Notification.objects.filter(user=owner, kind="task_overdue").count() == 2

    def test_it_marks_only_the_users_own_notifications_read(self):
        alice, bob = make_user(), make_user()
        mine = notifications.notify(user=alice, kind="task_assigned", message="a")
        theirs = notifications.notify(user=bob, kind="task_assigned", message="b")
        assert notifications.mark_read(alice, [mine.pk, theirs.pk]) == 1
        assert notifications.unread_count(alice) == 0
        assert notifications.unread_count(bob) == 1


class TestEmails:
    def test_it_writes_one_welcome_email_per_user(self):
        user = make_user()
        assert emails.email_create_welcome(user) == emails.email_create_welcome(user)
        assert Email.objects.get().subject == f"Welcome to the task tracker, {user.username}"

    def test_it_writes_no_welcome_email_without_an_address(self):
        assert emails.email_create_welcome(make_user(email="")) is None

    def test_it_sends_an_email_once_even_when_asked_twice(self):
        email = emails.email_create_welcome(make_user())
        assert emails.email_send(email.pk) is True
        assert emails.email_send(email.pk) is False
        assert len(mail.outbox) == 1
        email.refresh_from_db()
        assert email.status == Email.Status.SENT
        assert email.sent_at is not None

    def test_it_ends_quietly_when_the_email_was_deleted(self):
        email = emails.email_create_welcome(make_user())
        Email.objects.filter(pk=email.pk).delete()
        assert emails.email_send(email.pk) is False
        assert mail.outbox == []

    def test_it_drops_the_body_of_a_password_reset_once_sent(self):
        user = make_user()
        email = emails.email_create(
            kind=Email.Kind.PASSWORD_RESET, to=user.email, subject="Reset", body="https://x/reset/abc/", user=user
        )
        emails.email_send(email.pk)
        assert "reset/abc" in mail.outbox[0].body
        email.refresh_from_db()
        assert "reset/abc" not in email.body

    def test_it_requeues_a_failed_email_until_the_last_attempt(self, settings):
        settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
        email = emails.email_create_welcome(make_user())
        with pytest.raises(Exception, match="unexpectedly closed"):
            emails.email_send(email.pk, final_attempt=False)
        email.refresh_from_db()
        assert (email.status, email.error) == (
            Email.Status.QUEUED,
            "SMTPServerDisconnected: Connection unexpectedly closed",
        )
        with pytest.raises(Exception, match="unexpectedly closed"):
            emails.email_send(email.pk, final_attempt=True)
        email.refresh_from_db()
        assert email.status == Email.Status.FAILED

    def test_it_sends_a_failed_email_when_its_job_is_retried(self, settings):
        settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
        email = emails.email_create_welcome(make_user())
        with pytest.raises(OSError):
            emails.email_send(email.pk, final_attempt=True)
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        assert emails.email_send(email.pk) is True
        assert emails.email_send(email.pk) is False
        assert len(mail.outbox) == 1


def at_once(*work) -> None:
    """Run each function in a thread of its own, all at once, and wait for them."""
    threads = [threading.Thread(target=function) for function in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class TestUserStats:
    # SQLite runs one writer at a time anyway (and the tests' in-memory database refuses a second).
    @postgres_only
    def test_two_writers_of_one_persons_tasks_at_once_leave_the_right_counts(self, transactional_db):
        """Each adds its task to the counts with F(): the second's update waits for the first's row lock."""
        alice = make_user("alice")
        user_stats.user_stats_for(alice)
        first_counted, first_may_commit = threading.Event(), threading.Event()

        def first_writer():
            with transaction.atomic():
                tasks.task_create(created_by=alice, title="First")
                first_counted.set()
                first_may_commit.wait(timeout=0.5)  # the second writer starts meanwhile
            connection.close()

        def second_writer():
            first_counted.wait()
            tasks.task_create(created_by=alice, title="Second")
            connection.close()

        at_once(first_writer, second_writer)
        assert UserTaskStats.objects.get(user=alice).open == 2

    @postgres_only
    def test_a_first_read_while_the_first_write_is_uncommitted_counts_that_write(self, transactional_db):
        """The write finds no counts row: it makes one, so the read's recount waits for its commit
        (before, the write counted nothing, and the read counted without it: counts short for good)."""
        alice = make_user("alice")
        written, read = threading.Event(), threading.Event()

        def writer():
            with transaction.atomic():
                tasks.task_create(created_by=alice, title="Uncommitted")
                written.set()
                read.wait(timeout=0.5)  # the read goes on meanwhile, or waits for this commit
            connection.close()

        def reader():
            written.wait()
            user_stats.user_stats_refresh(alice)
            read.set()
            connection.close()

        at_once(writer, reader)
        assert user_stats.user_stats_for(alice).open == 1

    @postgres_only
    def test_two_completions_of_one_task_at_once_count_it_done_once(self, transactional_db):
        alice = make_user("alice")
        task = make_task(alice)
        user_stats.user_stats_for(alice)
        first_saved, first_may_commit = threading.Event(), threading.Event()

        def first():
            with transaction.atomic():
                tasks.task_complete(Task.objects.get(pk=task.pk))
                first_saved.set()
                first_may_commit.wait(timeout=0.5)
            connection.close()

        def second():
            first_saved.wait()
            tasks.task_complete(Task.objects.get(pk=task.pk))
            first_may_commit.set()
            connection.close()

        at_once(first, second)
        stats = UserTaskStats.objects.get(user=alice)
        assert (stats.open, stats.done) == (0, 1)
