"""`manage.py jobs`, against the real queue in Huey's immediate mode."""

import datetime
import io
import json
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from huey.contrib.djhuey import db_task

from tasks_app import queue
from tasks_app.models import ConsumerHeartbeat, JobRun, Notification, PausedJob
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.django_db


@db_task(name="tests.jobs_command_divide")
def divide(a: int, b: int) -> float:
    return a / b


@db_task(name="tests.jobs_command_sign_in")
def sign_in(username: str, password: str) -> None:
    raise RuntimeError("no such account")


class Terminal(io.StringIO):
    """A stdin a person types answers on."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def ops():
    return make_staff("ops", "manage_jobs", "view_all_jobs")


def jobs(*args, **options) -> str:
    out = io.StringIO()
    call_command("jobs", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def jobs_error(*args, **options) -> tuple[CommandError, str, str]:
    """The error `manage.py jobs` stops with, and what it wrote on stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("jobs", *args, stdout=out, stderr=err, **options)
    return raised.value, out.getvalue(), err.getvalue()


def test_list_shows_jobs_newest_first_and_filters_them(django_capture_on_commit_callbacks):
    alice = make_user("alice")
    failed = divide(1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        ok = queue.enqueue_on_commit(divide, 4, 2, user=alice)
    table = jobs("list").splitlines()
    assert table[0].split() == ["ID", "JOB", "STATE", "LANE", "PERSON", "ENQUEUED", "DURATION", "ERROR"]
    assert [line.split()[0] for line in table[1:]] == [ok, failed.id]
    assert "ZeroDivisionError: division by zero" in table[2]
    assert [row["id"] for row in json.loads(jobs("list", "--state", "failed", "--json"))] == [failed.id]
    assert [row["id"] for row in json.loads(jobs("list", "--person", "alice", "--json"))] == [ok]
    for name in ["jobs_command_divide", queue.job_name(divide)]:
        assert len(json.loads(jobs("list", "--job", name, "--lane", "default", "--json"))) == 2
    assert len(json.loads(jobs("list", "--since", "1h", "--limit", "1", "--json"))) == 1
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    assert jobs("list", "--since", tomorrow) == "None.\n"
    assert len(json.loads(jobs("list", "--since", timezone.now().replace(year=2020).isoformat(), "--json"))) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job", "no_such_job"], "No job named 'no_such_job'"),
        (["--since", "yesterday"], "--since 'yesterday': give an ISO date"),
        (["--since", "2026-13-45"], "--since '2026-13-45'"),
        (["--person", "nobody"], "No user named 'nobody'"),
        (["--limit", "0"], "--limit takes a number of jobs"),
    ],
)
def test_list_refuses_bad_input_as_a_usage_error(args, message):
    error, _, _ = jobs_error("list", *args)
    assert message in str(error) and error.returncode == 2


def test_show_gives_the_arguments_redacted_the_events_and_the_traceback():
    failed = sign_in("alice", "hunter2")
    text = jobs("show", failed.id)
    assert f"id: {failed.id}" in text and "state: failed" in text
    assert 'args: ["alice", "***"]' in text and "hunter2" not in text
    assert "executing" in text and "RuntimeError: no such account" in text
    assert "Traceback:\n" in text
    shown = json.loads(jobs("show", failed.id, "--json"))
    assert shown["args"] == ["alice", "***"]
    assert [event["kind"] for event in shown["events"]][0] == "enqueued"
    assert "RuntimeError" in shown["traceback"]


def test_show_of_an_unknown_id_exits_1():
    error, _, _ = jobs_error("show", "no-such-id")
    assert "no-such-id: no such job" in str(error) and error.returncode == 1


def test_retry_records_the_user_and_the_command_line_in_the_history(ops, django_capture_on_commit_callbacks):
    failed = divide(1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        out = jobs("retry", failed.id, "--as", "ops")
    retry = JobRun.objects.get(retry_of_id=failed.id)
    assert out == f"Retried {failed.id} (jobs_command_divide) as {retry.id}.\n"
    assert retry.triggered_by == ops and retry.state == JobRun.State.FAILED  # same arguments, same error
    event = JobRun.objects.get(pk=failed.id).events.get(kind="retried")
    assert event.detail == f"as job {retry.id}, from the command line as ops"


def test_retry_of_several_ids_exits_1_with_a_line_per_failure(ops, django_capture_on_commit_callbacks):
    failed, ok, secret = divide(1, 0), divide(4, 2), sign_in("alice", "hunter2")
    with django_capture_on_commit_callbacks(execute=True):
        error, out, err = jobs_error("retry", failed.id, ok.id, secret.id, "nope", "--as", "ops", "--yes")
    assert error.returncode == 1 and str(error) == "3 of 4 failed."
    assert out.count("Retried") == 1 and JobRun.objects.filter(retry_of_id=failed.id).exists()
    assert err.splitlines() == [
        f"{ok.id}: not retryable: it is succeeded",
        f"{secret.id}: not retryable: its message was not kept",
        "nope: no such job",
    ]


def test_a_bulk_retry_on_a_non_interactive_stdin_without_yes_is_refused(ops):
    divide(1, 0)
    error, _, _ = jobs_error("retry", "--failed", "--as", "ops", stdin=io.StringIO("y\n"))
    assert error.returncode == 2 and "Retry 1 failed jobs? Not asked: stdin is not a terminal" in str(error)
    assert not JobRun.objects.exclude(retry_of=None).exists()


def test_a_bulk_retry_asks_first_and_does_nothing_on_no(ops, django_capture_on_commit_callbacks):
    first, second = divide(1, 0), divide(2, 0)
    error, out, _ = jobs_error("retry", first.id, second.id, "--as", "ops", stdin=Terminal("n\n"))
    assert out == "Retry 2 jobs? [y/N] " and error.returncode == 2 and str(error) == "Nothing done."
    assert not JobRun.objects.exclude(retry_of=None).exists()
    with django_capture_on_commit_callbacks(execute=True):
        jobs("retry", first.id, second.id, "--as", "ops", stdin=Terminal("y\n"))
    assert JobRun.objects.exclude(retry_of=None).count() == 2


def test_retry_failed_takes_the_failed_jobs_of_a_job_since_a_time(ops, django_capture_on_commit_callbacks):
    old, recent, other = divide(1, 0), divide(2, 0), sign_in("alice", "x")
    JobRun.objects.filter(pk=old.id).update(finished_at=timezone.now() - datetime.timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        out = jobs("retry", "--failed", "--job", "jobs_command_divide", "--since", "2d", "--as", "ops", "--yes")
    assert list(JobRun.objects.exclude(retry_of=None).values_list("retry_of_id", flat=True)) == [recent.id]
    assert out.startswith(f"Retried {recent.id}")
    assert other.id not in out
    kept_no_message = jobs("retry", "--failed", "--job", "jobs_command_sign_in", "--since", "1d", "--as", "ops")
    assert kept_no_message.startswith("No failed jobs of jobs_command_sign_in since ")
    error, _, _ = jobs_error("retry", "--as", "ops")
    assert error.returncode == 2 and "Give either job ids or --failed." in str(error)


def test_a_bulk_retry_of_1000_failed_jobs(ops, client, django_capture_on_commit_callbacks):
    boss = make_user("boss", staff=True)
    failed = JobRun.objects.get(pk=divide(1, 0).id)
    row = {field.attname: getattr(failed, field.attname) for field in JobRun._meta.concrete_fields}
    JobRun.objects.bulk_create([JobRun(**{**row, "id": f"failed-{n}"}) for n in range(999)], batch_size=500)
    started = time.perf_counter()
    with django_capture_on_commit_callbacks() as enqueues:
        out = jobs("retry", "--failed", "--as", "ops", "--yes")
    retried = time.perf_counter()
    for enqueue in enqueues:  # in immediate mode each enqueue runs the job (and it fails again)
        enqueue()
    ran = time.perf_counter()
    print(f"retried 1,000 failed jobs in {retried - started:.2f} s, ran them in {ran - retried:.2f} s")  # noqa: T201
    assert out.count("Retried") == 1000
    assert JobRun.objects.exclude(retry_of=None).filter(state=JobRun.State.FAILED).count() == 1000
    # Failing again, they are one notice to each staff member (the first failure's, folded into),
    # which leads to the failed jobs list.
    for person in (ops, boss):
        [notice] = Notification.objects.filter(user=person, kind=Notification.Kind.JOB_FAILED)
        assert notice.message.startswith("1001 jobs failed, the last: jobs_command_divide: ZeroDivisionError")
    client.force_login(boss)
    assert client.get(f"/notifications/{notice.pk}/")["Location"] == "/ops/failed/"


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (None, "No user named 'ops'"),
        ("plain", "ops may not act on jobs"),
        ("viewer", "ops may not act on jobs"),
    ],
)
def test_changes_take_a_known_user_with_manage_jobs(user, message):
    if user == "plain":
        make_user("ops")
    elif user == "viewer":
        make_staff("ops", "view_all_jobs")
    failed = divide(1, 0)
    for args in [["retry", failed.id], ["cancel", failed.id], ["pause", "jobs_command_divide"]]:
        error, _, _ = jobs_error(*args, "--as", "ops")
        assert message in str(error) and error.returncode == 2
    assert not PausedJob.objects.exists() and not JobRun.objects.exclude(retry_of=None).exists()


def test_changes_without_as_are_refused():
    for args in [["retry", "some-id"], ["cancel", "some-id"], ["pause", "x"], ["resume", "x"]]:
        error, _, _ = jobs_error(*args)
        assert "the following arguments are required: --as" in str(error)


def test_cancel_revokes_a_scheduled_job_and_fails_on_a_finished_one(ops):
    later, done = divide.schedule(args=(1, 1), delay=600), divide(4, 2)
    assert jobs("cancel", later.id, "--as", "ops") == f"Canceled {later.id} (jobs_command_divide).\n"
    canceled = JobRun.objects.get(pk=later.id)
    assert canceled.state == JobRun.State.REVOKED
    assert canceled.events.get(kind="canceled").detail == "from the command line as ops"
    error, _, err = jobs_error("cancel", done.id, "nope", "--as", "ops", "--yes")
    assert error.returncode == 1
    assert err.splitlines() == [
        f"{done.id}: not waiting, it is succeeded: only a waiting job can be canceled",
        "nope: no such job",
    ]


def test_pause_and_resume_a_job_by_its_short_name(ops):
    assert (
        jobs("pause", "jobs_command_divide", "--as", "ops")
        == f"Paused {queue.job_name(divide)}: its runs wait until resumed.\n"
    )
    assert PausedJob.objects.get(name=queue.job_name(divide)).paused_by == ops
    assert jobs("resume", queue.job_name(divide), "--as", "ops") == f"Resumed {queue.job_name(divide)}.\n"
    assert not PausedJob.objects.exists()
    error, _, _ = jobs_error("pause", "no_such_job", "--as", "ops")
    assert error.returncode == 2 and "No job named 'no_such_job'" in str(error)


def test_lanes_consumers_and_schedule_show_what_ops_shows():
    divide.schedule(args=(1, 1), delay=600)
    lanes = {row["lane"]: row for row in json.loads(jobs("lanes", "--json"))}
    assert "jobs_command_divide" in lanes["default"]["jobs"] and "report_build" in lanes["reports"]["jobs"]
    assert jobs("lanes").splitlines()[0].split()[:3] == ["LANE", "LIMIT", "RUNNING"]
    assert jobs("consumers") == "None.\n"
    now = timezone.now()
    ConsumerHeartbeat.objects.create(consumer_id="vm:7", hostname="vm", pid=7, workers=2, started_at=now, beat_at=now)
    assert jobs("consumers").splitlines()[1].startswith("vm:7")
    schedule = {row["job"]: row for row in json.loads(jobs("schedule", "--json"))}
    assert schedule["stats_snapshot"]["next_run"] and schedule["stats_snapshot"]["paused"] is False
    assert "NEXT RUN" in jobs("schedule")
