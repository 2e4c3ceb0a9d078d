"""A staff member sees a job that failed for good on the dashboard and retries it (real consumer)."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.live_stack import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

FAIL_AN_EMAIL = """
from django.contrib.auth import get_user_model
from tasks_app import jobs, queue
from tasks_app.services import emails
email = emails.email_create_welcome(get_user_model().objects.get(username="boss"))
print(queue.enqueue_message_on_commit(jobs.email_send.s(email.pk, retries=0)))
"""


def test_staff_retry_a_failed_job_from_the_dashboard(live_stack, browser_page):
    live_stack.create_user("boss", staff=True)
    # Break mail delivery the way a misconfiguration would: the mail folder is a file.
    (live_stack.data_dir / "mail").write_text("not a folder")
    job_id = live_stack.manage("shell", "--no-imports", "-c", FAIL_AN_EMAIL).stdout.strip().splitlines()[-1]

    page = browser_page
    log_in(page, live_stack, "boss")
    page.goto(live_stack.url + "/ops/")
    failed_row = page.locator("#failed-jobs tr", has_text="email_send")
    failed_row.wait_for()  # the panel refreshes itself until the consumer has failed the job
    page.screenshot(path=str(ARTIFACTS / "dashboard-failed-job.png"), full_page=True)

    (live_stack.data_dir / "mail").unlink()  # the operator fixes the cause, then retries
    failed_row.get_by_role("button", name="Retry").click()
    page.wait_for_url("**/ops/jobs/*/")
    assert job_id not in page.url  # a new job, linked to the failed one
    assert page.get_by_text("Retry of").is_visible()

    def succeeded() -> bool:
        page.reload()
        return page.locator("h1 .state").inner_text() == "succeeded"

    wait_for(succeeded, timeout=20, interval=0.5, what="the retried job to succeed")
    retry_url = page.url
    page.goto(live_stack.url + f"/ops/jobs/{job_id}/")  # the failed job: retried once, so a link, no button
    assert page.get_by_role("button", name="Retry").count() == 0
    page.get_by_role("row", name="Retried as").get_by_role("link").click()
    assert page.url == retry_url
    page.goto(live_stack.url + "/ops/jobs/?state=failed")
    assert page.locator("h1").inner_text() == "Jobs"
    assert page.locator("table").get_by_text("email_send").count() == 1
    page.screenshot(path=str(ARTIFACTS / "dashboard-retried-job.png"), full_page=True)
    sent = "".join(path.read_text() for path in (live_stack.data_dir / "mail").iterdir())
    assert sent.count("Subject: Welcome to the task tracker, boss") == 1  # the welcome email went out


def test_staff_open_a_periodic_job_s_ledger_from_the_schedule(live_stack, browser_page):
    live_stack.create_user("scheduler-watcher", staff=True)
    page = browser_page
    log_in(page, live_stack, "scheduler-watcher")
    page.goto(live_stack.url + "/ops/")
    row = page.locator("tr", has_text="daily at 08:00")
    assert "run once if within 4 h" in row.inner_text()
    row.get_by_role("link", name="digest_send").click()
    page.wait_for_url("**/ops/schedule/tasks_app.jobs.emails.digest_send/")
    assert page.locator("h1").inner_text() == "digest_send"
    assert (
        page.get_by_role("row", name="If a run is missed")
        .inner_text()
        .endswith("run once if within 4 h (a run is missed when no consumer runs at its time)")
    )
    # This stack's consumer started moments ago: the page shows no tick it never expected.
    assert page.get_by_text("before the ledger").count() == 0
    page.screenshot(path=str(ARTIFACTS / "dashboard-periodic-ledger.png"), full_page=True)
