"""Job history recorded from Huey's signals (immediate mode: events are written inline)."""

import datetime

import pytest
from django.core import mail
from huey.contrib.djhuey import HUEY, db_task
from huey.exceptions import TaskException

from tasks_app import jobs, queue
from tasks_app.models import JobEvent, JobRun, Notification
from tasks_app.queue import history, pause, writer
from tasks_app.queue.progress import report_progress
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


@db_task(name="tests.count_to")
def count_to(total: int, fail_at: int | None = None) -> int:
    for done in range(1, total + 1):
        if done == fail_at:
            raise ValueError(f"cannot count past {done - 1}")
        report_progress(done, total, f"counted {done}")
    return total


@db_task(name="tests.login", retries=0)
def login(username: str, password: str) -> str:
    return username


@db_task(name="tests.connect", retries=0)
def connect(host: str, api_key: str, *tokens: str) -> str:
    return host


def _kinds(job_id: str) -> list[str]:
    return list(JobEvent.objects.filter(job_id=job_id).values_list("kind", flat=True))


def test_it_records_a_succeeded_job_with_who_started_it(django_capture_on_commit_callbacks):
    user = make_user()
    task = make_task(make_user(), created_by=user)
    with django_capture_on_commit_callbacks(execute=True):
        job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk, user=user)
    run = JobRun.objects.get(pk=job_id)
    assert (run.name, run.state, run.triggered_by, run.args) == (
        "tasks_app.jobs.notifications.task_assigned_notify",
        JobRun.State.SUCCEEDED,
        user,
        [task.pk],
    )
    assert run.enqueued_at <= run.started_at <= run.finished_at
    assert run.duration is not None and run.duration >= 0
    assert run.attempts == 1
    assert run.result_summary == "True"
    assert run.message is None  # only kept while a retry may need it
    assert _kinds(job_id) == ["enqueued", "executing", "complete"]


def test_it_records_progress_and_the_last_step_is_always_written():
    result = count_to(1000)
    run = JobRun.objects.get(pk=result.id)
    assert (run.progress_current, run.progress_total, run.progress_percent) == (1000, 1000, 100)
    assert run.progress_message == "counted 1000"


def test_it_records_a_final_failure_with_its_error_and_traceback():
    result = count_to(5, fail_at=3)
    with pytest.raises(TaskException):
        result()
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.FAILED
    assert run.error == "ValueError: cannot count past 2"
    assert "Traceback" in run.traceback and "cannot count past 2" in run.traceback
    assert run.progress_current == 2
    assert run.message  # kept for a retry


def test_it_records_a_failure_with_retries_left_as_retrying(settings):
    settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
    from tasks_app.services import emails

    email = emails.email_create_welcome(make_user())
    result = jobs.email_send(email.pk)
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.RETRYING
    assert run.retries_left == 4
    assert run.error.startswith("SMTPServerDisconnected")
    assert _kinds(run.id) == ["enqueued", "executing", "error", "retrying", "scheduled"]


def test_it_retries_a_failed_job_as_a_new_job_linked_to_the_old_one(django_capture_on_commit_callbacks):
    failed = count_to(3, fail_at=2)
    run = JobRun.objects.get(pk=failed.id)
    staff = make_user(staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        new_id = queue.retry(run, user=staff)
    new_run = JobRun.objects.get(pk=new_id)
    assert new_run.retry_of == run
    assert new_run.triggered_by == staff
    assert new_run.state == JobRun.State.FAILED  # same arguments, same failure
    run.refresh_from_db()
    assert run.dismissed_at is not None
    assert queue.retry(run, user=staff) == new_id  # once per failed job: a second retry is the first
    assert JobRun.objects.filter(retry_of=run).count() == 1


def test_it_redacts_secret_looking_keyword_arguments():
    result = login("alice", password="hunter2")
    run = JobRun.objects.get(pk=result.id)
    assert run.args == ["alice"]
    assert run.kwargs == {"password": "***"}


def test_it_redacts_secret_looking_positional_arguments_and_keeps_no_message_of_them(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_on_commit(connect, "db.example", "s3cr3t", "t-1")
        result = connect("db.example", "s3cr3t", "t-2")  # enqueued outside a request: from the signal
    runs = JobRun.objects.filter(name__endswith="tests.connect")
    assert [run.args for run in runs] == [["db.example", "***", "***"]] * 2
    assert [run.message for run in runs] == [None, None]
    assert JobRun.objects.get(pk=result.id).state == JobRun.State.SUCCEEDED


def test_it_keeps_the_message_of_a_job_without_secrets(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job_id = queue.enqueue_on_commit(count_to, 3)
    assert JobRun.objects.get(pk=job_id).message is not None


def test_redacted_names_are_matched_as_text_not_as_patterns(settings):
    settings.JOB_REDACTED_ARGUMENTS = ["pass.ord", "(x"]  # unescaped: "." would match any character, "(" fail
    run = JobRun.objects.get(pk=login("alice", password="hunter2").id)
    assert run.kwargs == {"password": "hunter2"}
    settings.JOB_REDACTED_ARGUMENTS = ["word"]
    assert JobRun.objects.get(pk=login("alice", password="hunter2").id).kwargs == {"password": "***"}


def test_it_cancels_a_scheduled_job_before_it_runs():
    result = count_to.schedule(args=(3,), delay=60)
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.SCHEDULED
    assert queue.cancel(run) is True
    run.refresh_from_db()
    assert run.state == JobRun.State.REVOKED
    assert queue.cancel(run) is False


def test_it_holds_a_paused_job_in_the_schedule_until_resumed():
    queue.pause_job(queue.job_name(count_to))
    result = count_to(3)
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.SCHEDULED
    assert "paused" in _kinds(run.id)
    assert HUEY.scheduled_count() == 1
    queue.resume_job(queue.job_name(count_to))
    assert queue.job_name(count_to) not in pause.paused_names()


def test_it_records_a_periodic_run_skipped_by_its_lock():
    with HUEY.lock_task("overdue-check"):
        result = jobs.overdue_check()
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.REVOKED
    assert run.periodic is True
    assert run.error.startswith("Skipped")


def test_it_records_nothing_when_history_is_off(settings):
    settings.JOB_HISTORY_ENABLED = False
    count_to(2)
    assert JobRun.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_consumer_writer_writes_events_that_came_together_in_one_batch():
    from tests.live_stack import wait_for

    flusher = writer.Writer()
    flusher.start()
    try:
        now = datetime.datetime.now(datetime.UTC)
        identity = {"name": "tests.count_to", "queue": "q", "priority": None, "args": [], "kwargs": {}}
        events = [
            history.Event(f"job-{n}", "enqueued", now, identity, {"state": JobRun.State.PENDING}) for n in range(50)
        ]
        flusher.add_many(events)  # as a burst of jobs would, while the writer gathers its batch
        wait_for(lambda: JobRun.objects.count() == 50, timeout=5, what="the writer thread")
    finally:
        flusher.stop()
    assert JobRun.objects.values("updated_at").distinct().count() == 1  # one transaction wrote them all
    assert mail.outbox == []


def test_it_tells_staff_when_a_job_fails_for_good():
    boss = make_user(staff=True)
    worker = make_user()
    count_to(3, fail_at=1)
    notice = Notification.objects.get(kind=Notification.Kind.JOB_FAILED)
    assert notice.user == boss
    assert "count_to failed: ValueError" in notice.message
    assert not Notification.objects.filter(user=worker).exists()


def test_staff_retry_a_failed_job_from_the_admin(client):
    boss = make_user(staff=True)
    result = count_to(3, fail_at=1)
    client.force_login(boss)
    response = client.post(
        "/admin/tasks_app/jobrun/", {"action": "retry_failed", "_selected_action": [result.id]}, follow=True
    )
    assert "Re-enqueued 1 failed job(s)" in response.content.decode()
    assert JobRun.objects.filter(retry_of_id=result.id).count() == 1
    assert client.get(f"/admin/tasks_app/jobrun/{result.id}/change/").status_code == 200


@db_task(name="slow_counter", timeout=0.05)
def slow_counter(steps: int) -> int:
    import time

    for done in range(1, steps + 1):
        time.sleep(0.02)
        report_progress(done, steps)
    return steps


def test_a_job_past_its_timeout_stops_at_its_next_progress_report():
    result = slow_counter(50)
    with pytest.raises(TaskException):
        result()
    run = JobRun.objects.get(pk=result.id)
    assert run.state == JobRun.State.FAILED
    assert run.error == "Timed out after 0.05s"
    assert run.progress_current < 50
