"""Lanes on a real consumer: slow reports never hold the workers that e-mails and notifications need."""

import json

import pytest

from tests.integration.test_files import make_tasks
from tests.live_stack import wait_for

pytestmark = pytest.mark.integration

RUNS = """
import json
from tasks_app.models import JobRun
rows = JobRun.objects.values("name", "lane", "state", "started_at", "finished_at")
print(json.dumps([{**row, "name": row["name"].rsplit(".", 1)[-1]} for row in rows], default=str))
"""


def runs(stack) -> list[dict]:
    return json.loads(stack.shell(RUNS))


def most_at_once(intervals: list[tuple[str, str]]) -> int:
    """The largest number of (start, end) intervals that overlap at one moment."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_emails_and_notifications_run_at_once_while_reports_fill_their_lane(start_live_stack):
    stack = start_live_stack(
        REPORT_ROW_DELAY_SECONDS="0.15", EMAIL_RATE_LIMIT_PER_MINUTE="100", MAIL_SENDER_PER_MINUTE="100"
    )
    token, colleague = stack.create_user("alice"), stack.create_user("colleague")
    make_tasks(stack, "alice", 25)  # a report takes ~4 s
    for format in ("csv", "xlsx"):  # two reports (the same one twice would be one: unique jobs)
        assert stack.api("POST", "/api/reports/", token, {"format": format})[0] == 202
    wait_for(lambda: any(r["name"] == "report_build" and r["state"] == "running" for r in runs(stack)))

    status, listed = stack.api("GET", "/api/tasks/?page_size=20", token)
    for task in listed["results"]:
        assert stack.api("POST", f"/api/tasks/{task['id']}/email/", token)[0] == 202
        assert stack.give_task(token, colleague, {"title": "Another one"})[0] == 201  # a notice for the colleague

    def quick_jobs_done() -> bool:
        quick = [r for r in runs(stack) if r["name"] in ("email_send", "task_assigned_notify")]
        return len(quick) == 40 and all(r["state"] == "succeeded" for r in quick)

    assert wait_for(quick_jobs_done, timeout=8, what="the e-mails and notifications, while reports build")
    assert any(r["name"] == "report_build" and r["state"] != "succeeded" for r in runs(stack))  # still building

    done = wait_for(
        lambda: [r["state"] for r in runs(stack) if r["name"] == "report_build"] == ["succeeded"] * 2,
        timeout=30,
        what="both reports",
    )
    assert done
    by_lane: dict[str, list] = {}
    for run in runs(stack):
        by_lane.setdefault(run["lane"], []).append((run["started_at"], run["finished_at"]))
    assert most_at_once(by_lane["reports"]) == 1  # one person's: the lane's second place is kept for another
    assert most_at_once(by_lane["emails"]) <= 2
    assert most_at_once(by_lane["default"]) <= 2


def test_a_second_persons_report_starts_while_the_firsts_long_ones_build(start_live_stack):
    stack = start_live_stack(REPORT_ROW_DELAY_SECONDS="0.15")
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    make_tasks(stack, "alice", 25)  # each of her reports takes ~4 s
    for format in ("csv", "xlsx", "pdf"):
        assert stack.api("POST", "/api/reports/", alice, {"format": format})[0] == 202
    wait_for(lambda: any(r["name"] == "report_build" and r["state"] == "running" for r in runs(stack)))
    status, started = stack.api("POST", "/api/reports/", bob, {"format": "csv"})
    assert status == 202

    def bobs_report_state() -> str:
        return stack.api("GET", f"/api/jobs/{started['job_id']}/", bob)[1]["state"]

    assert wait_for(lambda: bobs_report_state() == "succeeded", timeout=3, what="bob's report, beside alice's")
    states = [r["state"] for r in runs(stack) if r["name"] == "report_build"]
    assert states.count("pending") >= 1  # alice's last one still waits for her first


def test_a_consumer_restricted_to_reports_never_runs_an_email(start_live_stack):
    stack = start_live_stack(HUEY_CONSUMER_LANES="reports")
    token = stack.create_user("bob")
    make_tasks(stack, "bob", 3)
    status, listed = stack.api("GET", "/api/tasks/", token)
    status, emailed = stack.api("POST", f"/api/tasks/{listed['results'][0]['id']}/email/", token)
    assert status == 202
    status, started = stack.api("POST", "/api/reports/", token, {"format": "csv"})
    assert status == 202

    built = wait_for(lambda: stack.api("GET", f"/api/jobs/{started['job_id']}/", token)[1]["state"] == "succeeded")
    assert built
    status, email_job = stack.api("GET", f"/api/jobs/{emailed['job_id']}/", token)
    assert email_job["state"] == "pending"  # waits for a consumer that serves the emails lane
