"""A person asks for a report and watches its progress bar fill, then downloads it (real consumer)."""

import time

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.integration.test_files import make_tasks

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_report_page_shows_a_live_progress_bar_then_the_download(start_live_stack, browser_page):
    stack = start_live_stack(REPORT_ROW_DELAY_SECONDS="0.03")
    stack.create_user("alice")
    make_tasks(stack, "alice", 150)
    page = browser_page
    log_in(page, stack, "alice")

    page.click("nav >> text=Reports")
    page.select_option("select[name=format]", "pdf")
    page.click("main button[type=submit]")
    meter = page.locator("#reports .progress").first

    values = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(set(values)) < 3:
        if meter.count() and (value := meter.get_attribute("aria-valuenow")) and int(value) > 0:
            if not values or int(value) != values[-1]:
                values.append(int(value))
            if len(values) == 2:
                page.screenshot(path=str(ARTIFACTS / "report-progress.png"), full_page=True)
        page.wait_for_timeout(150)
    assert len(values) >= 2 and values == sorted(values) and values[0] < 100, values

    page.select_option("select[name=format]", "pdf")  # pressed again while it builds: the same report
    page.click("main button[type=submit]")
    assert page.get_by_text("Already building: report #").is_visible()
    assert page.locator("#reports .progress").count() == 1

    download_link = page.locator("#reports a.download").first
    download_link.wait_for(timeout=20_000)  # the page reloads itself when the job ends
    assert "Download (150 tasks)" in download_link.inner_text()
    with page.expect_download() as info:
        download_link.click()
    assert info.value.suggested_filename.endswith(".pdf")
    page.screenshot(path=str(ARTIFACTS / "report-done.png"), full_page=True)
