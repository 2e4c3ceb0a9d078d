"""An operator pauses a job from /ops/, the person waiting is told, the operator resumes it; and
runs a periodic job now (real consumer)."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.live_stack import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_an_operator_pauses_reports_the_person_waiting_is_told_and_resume_lets_it_run(
    start_live_stack, chromium, browser_page
):
    stack = start_live_stack()
    stack.create_user("ops", staff=True)
    stack.create_user("alice")
    ops = browser_page
    log_in(ops, stack, "ops")
    ops.goto(stack.url + "/ops/")
    assert ops.locator("#paused-banner").count() == 0
    ops.locator("#on-demand-jobs tr", has_text="report_build").get_by_role("button", name="Pause").click()
    banner = ops.locator("#paused-banner")
    assert "1 job is paused" in banner.inner_text() and "report_build" in banner.inner_text()
    assert ops.locator("#lanes tr", has_text="report_build (paused)").count() == 1

    alice_context = chromium.new_context(viewport={"width": 1280, "height": 900})
    alice = alice_context.new_page()
    log_in(alice, stack, "alice")
    alice.click("nav >> text=Reports")
    alice.select_option("select[name=format]", "csv")
    alice.click("main button[type=submit]")
    alice.locator("#reports .progress-text", has_text="paused by an operator").wait_for()
    assert alice.locator("#reports .status").first.inner_text() == "Paused"
    alice.screenshot(path=str(ARTIFACTS / "ops-report-paused.png"), full_page=True)

    ops.reload()  # the held run is counted in the banner and its lane
    assert "1 run held" in banner.inner_text()
    ops.screenshot(path=str(ARTIFACTS / "ops-paused-banner.png"))
    banner.get_by_role("button", name="Resume").click()
    ops.wait_for_load_state()
    assert ops.locator("#paused-banner").count() == 0
    alice.locator("#reports a.download").wait_for(timeout=20_000)  # resumed: it runs, the page reloads
    alice_context.close()


def test_an_operator_runs_a_periodic_job_now_from_its_page(start_live_stack, browser_page):
    stack = start_live_stack()
    stack.create_user("ops", staff=True)
    page = browser_page
    log_in(page, stack, "ops")
    page.goto(stack.url + "/ops/")
    row = page.locator("#schedule tr", has_text="stats_snapshot")
    assert "Record the hour that just ended" in row.inner_text()
    row.get_by_role("link", name="stats_snapshot").click()
    assert page.get_by_text("before the ledger").count() == 0  # a fresh install: nothing it never expected
    page.get_by_role("button", name="Run now").click()
    message = page.locator(".message", has_text="Started stats_snapshot now as job").inner_text()
    page.screenshot(path=str(ARTIFACTS / "ops-run-now.png"), full_page=True)

    page.goto(stack.url + f"/ops/jobs/{message.split('as job ')[1].rstrip('.')}/")

    def succeeded() -> bool:
        page.reload()
        return page.locator("h1 .state").inner_text() == "succeeded"

    wait_for(succeeded, timeout=20, interval=0.5, what="the run started by hand to succeed")
    assert page.get_by_role("row", name="Started by").inner_text().endswith("ops")
