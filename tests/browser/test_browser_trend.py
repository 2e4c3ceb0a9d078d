"""The tasks page and /ops/ draw the 30-day trend from the tasks, before any hourly snapshot."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def day_counts(page) -> list[dict]:
    return page.locator("#task-trend g.day").evaluate_all(
        "days => days.map(d => ({day: d.dataset.day, created: +d.dataset.created,"
        " completed: +d.dataset.completed, overdue: d.dataset.overdue}))"
    )


def test_the_trend_chart_shows_the_tasks_created_completed_and_overdue(live_stack, browser_page):
    token = live_stack.create_user("boss", staff=True)
    for title, due in [("Write the plan", None), ("Late already", "2020-01-01"), ("Ship it", None)]:
        status, task = live_stack.api("POST", "/api/tasks/", token, {"title": title, "due_date": due})
        assert status == 201, task
    assert live_stack.api("POST", f"/api/tasks/{task['id']}/complete/", token)[0] == 200

    page = browser_page
    log_in(page, live_stack, "boss")
    chart = page.locator("#task-trend svg")
    assert chart.is_visible()
    days = day_counts(page)
    assert len(days) == 30
    assert sum(day["created"] for day in days) == 3
    assert sum(day["completed"] for day in days) == 1
    today = days[-1]  # no snapshot yet: all from the tasks, "Late already" overdue
    assert (today["created"], today["completed"], today["overdue"]) == (3, 1, "1")
    assert page.locator("#task-trend polyline.overdue-line").count() == 1
    assert page.locator("#my-stats").inner_text() == "Yours: 2 open, 1 overdue, 1 done."
    chart.screenshot(path=str(ARTIFACTS / "task-trend.png"))

    page.goto(live_stack.url + "/ops/")
    assert sum(day["created"] for day in day_counts(page)) == 3
    page.screenshot(path=str(ARTIFACTS / "dashboard-trend.png"), full_page=True)
