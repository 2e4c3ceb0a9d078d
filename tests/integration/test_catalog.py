"""The job catalog against a real `run_huey` consumer: retries, rate limit, lock, dead letters."""

import json
import re

import pytest

from tests.live_stack import wait_for
from tests.smtp_server import SMTPServer

pytestmark = pytest.mark.integration

JOB_EVENTS = """
import json
from tasks_app.models import JobRun
run = JobRun.objects.get(pk={job_id!r})
print(json.dumps({{"state": run.state, "attempts": run.attempts, "error": run.error, "traceback": run.traceback,
    "events": [[e.kind, e.at.timestamp(), e.detail] for e in run.events.all()]}}))
"""


def _job(stack, job_id: str) -> dict:
    out = stack.manage("shell", "--no-imports", "-c", JOB_EVENTS.format(job_id=job_id)).stdout
    return json.loads(out.strip().splitlines()[-1])


def _email_a_task(stack, token: str) -> str:
    status, task = stack.api("POST", "/api/tasks/", token, {"title": "Mail me"})
    assert status == 201
    status, body = stack.api("POST", f"/api/tasks/{task['id']}/email/", token)
    assert status == 202, body
    return body["job_id"]


def test_an_email_refused_twice_is_retried_with_growing_delays_then_sent(start_live_stack):
    with SMTPServer(refuse=2) as smtp:
        stack = start_live_stack(
            EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp.port), EMAIL_USE_TLS="0", EMAIL_RETRY_BASE_SECONDS="1"
        )
        token = stack.create_user("alice")
        job_id = _email_a_task(stack, token)
        wait_for(lambda: stack.api("GET", f"/api/jobs/{job_id}/", token)[1]["state"] == "succeeded", timeout=20)
        assert len(smtp.messages) == 1 and b"Subject: Task: Mail me" in smtp.messages[0]

    job = _job(stack, job_id)
    assert job["attempts"] == 3
    errors = [detail for kind, _, detail in job["events"] if kind == "error"]
    assert len(errors) == 2 and all("Service not available" in e for e in errors)
    delays = [float(re.search(r"retrying in ([0-9.]+)s", e).group(1)) for e in errors]
    assert 0.5 <= delays[0] <= 1 <= delays[1] <= 2  # base 1 s: half fixed, half jitter, doubling
    starts = [at for kind, at, _ in job["events"] if kind == "executing"]
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    # Each retry waited at least its delay; at most a scheduler tick and a worker poll (1 s each) more, plus slack.
    assert all(delay - 0.05 <= gap <= delay + 4 for gap, delay in zip(gaps, delays, strict=True))


SENT_PER_MINUTE = """
import collections, json
from tasks_app.models import Email
sent = Email.objects.filter(kind="task", status="sent").values_list("sent_at", flat=True)
print(json.dumps(collections.Counter(at.strftime("%H:%M") for at in sent)))
"""


def test_no_clock_minute_sends_more_emails_than_the_rate_limit(start_live_stack):
    stack = start_live_stack(EMAIL_RATE_LIMIT_PER_MINUTE="3")
    token = stack.create_user("bob")
    # The budget counts per clock minute. Seven sends, made in a few seconds, fall in at most two
    # minutes, which send six at most: whenever the test starts, at least one has to wait.
    job_ids = [_email_a_task(stack, token) for _ in range(7)]

    def states():
        return [stack.api("GET", f"/api/jobs/{job_id}/", token)[1]["state"] for job_id in job_ids]

    wait_for(lambda: {"pending", "running"}.isdisjoint(states()) and "retrying" in states(), timeout=20)
    per_minute = json.loads(stack.shell(SENT_PER_MINUTE).splitlines()[-1])
    assert 3 <= sum(per_minute.values()) <= 6
    assert max(per_minute.values()) <= 3
    waiting = next(job_id for job_id, state in zip(job_ids, states(), strict=True) if state == "retrying")
    assert [kind for kind, _, _ in _job(stack, waiting)["events"]].count("retrying") == 1  # it waits once


HOLD_LOCK_AND_RUN = """
import time
from huey.contrib.djhuey import HUEY
from tasks_app import jobs, queue
from tasks_app.models import JobRun
with HUEY.lock_task("overdue-check"):
    job_id = queue.enqueue_message_on_commit(jobs.overdue_check.s())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not JobRun.objects.filter(pk=job_id, state="revoked").exists():
        time.sleep(0.1)
print(job_id)
"""


def test_a_periodic_run_that_overlaps_a_running_one_is_skipped(live_stack):
    job_id = live_stack.manage("shell", "--no-imports", "-c", HOLD_LOCK_AND_RUN).stdout.strip().splitlines()[-1]
    job = _job(live_stack, job_id)
    assert job["state"] == "revoked"
    assert job["error"] == "Skipped: another run of this job holds its lock."


FAIL_FOR_GOOD = """
from django.contrib.auth import get_user_model
from tasks_app import jobs, queue
from tasks_app.services import emails
email = emails.email_create_welcome(get_user_model().objects.get(username="carol"))
print(queue.enqueue_message_on_commit(jobs.email_send.s(email.pk, retries=1)))
"""

EMAIL_STATUS = """
from tasks_app.models import Email
print(Email.objects.get(kind="welcome").status)
"""


def test_a_job_that_fails_for_the_last_time_is_kept_with_its_traceback_and_staff_are_told(start_live_stack):
    with SMTPServer(refuse=1000) as smtp:  # a mail server that stays down
        stack = start_live_stack(
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp.port),
            EMAIL_USE_TLS="0",
            # Backoff counts attempts from the job's default retries (5), so one retry of 1 waits
            # like a fifth: cap it.
            EMAIL_RETRY_BASE_SECONDS="1",
            EMAIL_RETRY_MAX_SECONDS="1",
        )
        boss_token = stack.create_user("boss", staff=True)
        stack.create_user("carol")
        job_id = stack.manage("shell", "--no-imports", "-c", FAIL_FOR_GOOD).stdout.strip().splitlines()[-1]
        wait_for(lambda: stack.api("GET", f"/api/jobs/{job_id}/", boss_token)[1]["state"] == "failed", timeout=15)

    job = _job(stack, job_id)
    assert job["attempts"] == 2  # the first run and its one retry
    assert job["error"].startswith("SMTPConnectError: (421")
    assert "Traceback (most recent call last)" in job["traceback"]
    assert stack.manage("shell", "--no-imports", "-c", EMAIL_STATUS).stdout.strip() == "failed"
    status, body = stack.api("GET", "/api/notifications/", boss_token)
    assert any(n["kind"] == "job_failed" and "email_send failed" in n["message"] for n in body["results"])
