"""Every page fits a phone's width (from 360 px): the menu folds behind a button and wide tables
scroll inside their own box instead of widening the page. Screenshots go to test-artifacts/."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE = {"width": 390, "height": 844}
SIGNED_IN_PAGES = {
    "task-list": "/",
    "task-new": "/tasks/new/",
    "notifications": "/notifications/",
    "reports": "/reports/",
    "imports": "/imports/",
    "exports": "/exports/",
    "ops": "/ops/",
    "ops-jobs": "/ops/jobs/",
    "ops-schedule": "/ops/schedule/tasks_app.jobs.emails.digest_send/",
    "task-page": "/tasks/1/",  # the busy staff member's first task
    "account": "/account/",
}
SIGNED_OUT_PAGES = {"login": "/accounts/login/", "signup": "/signup/"}
LONG_TITLE = "Collect the quarterly invoices from every regional office and reconcile them with the ledger"


def sideways_scroll(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the viewport)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def visit_all(page, url: str, pages: dict[str, str]) -> dict[str, int]:
    """Open each page, screenshot it as phone-<name>.png; return the ones that scroll sideways."""
    too_wide = {}
    for name, path in pages.items():
        page.goto(url + path)
        page.screenshot(path=str(ARTIFACTS / f"phone-{name}.png"), full_page=True)
        if overflow := sideways_scroll(page):
            too_wide[name] = overflow
    return too_wide


@pytest.fixture(scope="module")
def busy_staff(module_live_stack) -> str:
    """A staff member with a dozen long-titled tasks, one given by someone else, and a report asked."""
    stack = module_live_stack
    token, other = stack.create_user("erin", staff=True), stack.create_user("frank")
    for n in range(12):
        payload = {"title": f"{LONG_TITLE} ({n})", "priority": "high", "due_date": "2020-01-01"}
        assert stack.api("POST", "/api/tasks/", token, payload)[0] == 201
    assert stack.give_task(other, token, {"title": LONG_TITLE})[0] == 201
    assert stack.api("POST", "/api/reports/", token, {"format": "csv"})[0] == 202
    return "erin"


def test_no_page_scrolls_sideways_on_a_phone(live_stack, browser_page, busy_staff):
    page = browser_page
    page.set_viewport_size(PHONE)
    log_in(page, live_stack, busy_staff)
    assert visit_all(page, live_stack.url, SIGNED_IN_PAGES) == {}

    page.goto(live_stack.url + "/")
    page.get_by_text("Menu", exact=True).click()
    page.get_by_role("button", name="Log out").click()
    assert visit_all(page, live_stack.url, SIGNED_OUT_PAGES) == {}


def test_the_menu_opens_on_a_narrow_phone_and_logs_out(live_stack, browser_page, busy_staff):
    page = browser_page
    page.set_viewport_size({"width": 360, "height": 740})
    log_in(page, live_stack, busy_staff)
    log_out = page.get_by_role("button", name="Log out")
    assert log_out.is_hidden()
    assert sideways_scroll(page) == 0

    page.get_by_text("Menu", exact=True).click()
    assert page.get_by_role("link", name="Reports").is_visible()
    page.screenshot(path=str(ARTIFACTS / "phone-360-menu-open.png"))
    log_out.click()  # Playwright clicks only a visible, enabled, unobscured element
    assert page.locator("h1").inner_text() == "Log in"
    assert sideways_scroll(page) == 0


def test_the_desktop_keeps_its_menu_bar(live_stack, browser_page, busy_staff):
    page = browser_page  # 1280 wide
    log_in(page, live_stack, busy_staff)
    assert page.get_by_text("Menu", exact=True).is_hidden()
    assert page.get_by_role("button", name="Log out").is_visible()
    page.screenshot(path=str(ARTIFACTS / "desktop-task-list.png"), full_page=True)
