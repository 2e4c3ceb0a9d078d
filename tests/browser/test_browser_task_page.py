"""The task list's search and sort headers, and a task's page, in a real browser: a person
searches, sorts by each column both ways, opens a task and emails it to herself, then sees the
email in its history once the consumer has sent it."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.live_stack import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def _titles(page) -> list[str]:
    return page.locator("table.tasks tbody td:first-child a").all_inner_texts()


def test_a_person_searches_sorts_and_opens_a_task(live_stack, browser_page):
    token = live_stack.create_user("erin")
    for title, description, priority, due in [
        ("Water the plants", "In the office", "low", "2030-03-01"),
        ("Renew the domain", "Before it lapses", "high", None),
        ("Order plant food", "", "normal", "2030-01-15"),
    ]:
        payload = {"title": title, "description": description, "priority": priority, "due_date": due}
        assert live_stack.api("POST", "/api/tasks/", token, payload)[0] == 201
    page = browser_page
    log_in(page, live_stack, "erin")
    assert _titles(page) == ["Order plant food", "Renew the domain", "Water the plants"]  # newest first

    page.fill("input[name=q]", "PLANT")
    page.click("main button:has-text('Filter')")
    assert _titles(page) == ["Order plant food", "Water the plants"]
    page.click("th >> text=Due")
    assert _titles(page) == ["Order plant food", "Water the plants"]
    page.click("th >> text=Due")
    assert _titles(page) == ["Water the plants", "Order plant food"]
    assert page.input_value("input[name=q]") == "PLANT"  # the sort kept the search
    page.screenshot(path=str(ARTIFACTS / "task-list-searched-sorted.png"), full_page=True)

    page.click("text=Clear")
    page.click("th >> text=Priority")
    assert _titles(page) == ["Renew the domain", "Order plant food", "Water the plants"]  # high first
    assert page.get_attribute("th[aria-sort=descending]", "aria-sort") == "descending"
    page.click("th >> text=Due")
    assert _titles(page) == ["Order plant food", "Water the plants", "Renew the domain"]  # no due date: last
    page.goto(live_stack.url + "/?sort=nonsense&page=zero")
    assert _titles(page) == ["Order plant food", "Renew the domain", "Water the plants"]

    page.click("table.tasks >> text=Renew the domain")
    assert page.locator("h1").inner_text() == "Renew the domain"
    assert page.get_by_text("Before it lapses").is_visible()
    page.click("button:has-text('Email me this task')")
    assert page.get_by_text("On its way to erin@example.com.").is_visible()

    def email_sent() -> bool:
        page.reload()
        return page.locator("table >> text=Sent").count() == 1

    wait_for(email_sent, what="the email shown as sent on the task's page")
    assert page.get_by_text("A task, on request").is_visible()
    page.screenshot(path=str(ARTIFACTS / "task-page.png"), full_page=True)

    page.click("button:has-text('Complete')")
    assert page.get_by_text("Completed “Renew the domain”.").is_visible()
