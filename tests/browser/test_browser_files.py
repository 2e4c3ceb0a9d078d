"""The import and export pages in a real browser, with a real consumer."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_person_imports_a_csv_and_sees_the_refused_rows(live_stack, browser_page, tmp_path):
    live_stack.create_user("alice")
    upload = tmp_path / "tasks.csv"
    upload.write_text("title,due_date\nBuy paint,2030-01-01\nPaint the shed,next week\n")
    page = browser_page
    log_in(page, live_stack, "alice")
    page.click("nav >> text=Import")
    assert page.locator("h1").inner_text() == "Import tasks from CSV or XLSX"
    page.click("main button[type=submit]")
    assert page.get_by_text("This field is required.").is_visible()

    page.set_input_files("input[name=file]", str(upload))
    page.click("main button[type=submit]")
    page.locator("#row-errors").wait_for(timeout=15_000)  # the page follows the job, then reloads
    assert page.locator("#row-errors td").nth(0).inner_text() == "3"
    assert "'next week' is not a date" in page.locator("#row-errors").inner_text()
    page.screenshot(path=str(ARTIFACTS / "import-result.png"), full_page=True)


def test_a_person_exports_the_workspace(live_stack, browser_page):
    live_stack.create_user("bob")
    page = browser_page
    log_in(page, live_stack, "bob")
    page.click("nav >> text=Export")
    page.click("main button:has-text('Prepare an export')")
    link = page.get_by_role("link", name="Download zip")
    for _ in range(20):  # the export runs in the consumer; reload until it is there
        if link.count():
            break
        page.wait_for_timeout(500)
        page.reload()
    with page.expect_download() as info:
        link.click()
    assert info.value.suggested_filename.endswith(".zip")
