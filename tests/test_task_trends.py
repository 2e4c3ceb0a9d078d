"""The 30-day chart of tasks created, completed and overdue, from the hourly snapshots."""

import datetime
import re

import pytest
import time_machine

from tasks_app.models import TaskStatsSnapshot
from tasks_app.services import task_trends
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NOON = datetime.datetime(2026, 1, 20, 12, 0, tzinfo=datetime.UTC)


def snapshot(hour: datetime.datetime, created: int, completed: int, overdue: int) -> None:
    TaskStatsSnapshot.objects.create(hour=hour, created=created, completed=completed, overdue=overdue)


def test_a_day_sums_its_hours_and_keeps_its_last_overdue_count(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 23:00 UTC on the 18th is already midnight of the 19th in Berlin.
    snapshot(datetime.datetime(2026, 1, 18, 21, tzinfo=datetime.UTC), 1, 0, 4)
    snapshot(datetime.datetime(2026, 1, 18, 22, tzinfo=datetime.UTC), 2, 1, 5)
    snapshot(datetime.datetime(2026, 1, 18, 23, tzinfo=datetime.UTC), 3, 2, 3)
    days = {day.day: day for day in task_trends.daily_trend(30, NOON)}
    eighteenth, nineteenth = days[datetime.date(2026, 1, 18)], days[datetime.date(2026, 1, 19)]
    assert (eighteenth.created, eighteenth.completed, eighteenth.overdue) == (3, 1, 5)
    assert (nineteenth.created, nineteenth.completed, nineteenth.overdue) == (3, 2, 3)


def test_the_window_is_thirty_days_up_to_today_with_empty_days_included():
    snapshot(datetime.datetime(2025, 12, 21, 23, tzinfo=datetime.UTC), 9, 9, 9)  # the day before the window
    snapshot(datetime.datetime(2025, 12, 22, 0, tzinfo=datetime.UTC), 1, 0, 0)  # its first hour
    days = task_trends.daily_trend(30, NOON)
    assert [days[0].day, days[-1].day] == [datetime.date(2025, 12, 22), datetime.date(2026, 1, 20)]
    assert len(days) == 30
    assert days[0].created == 1
    assert sum(day.created for day in days) == 1
    assert days[5].overdue is None  # no snapshot that day: no point on the overdue line


def chart_days(body: str) -> dict[str, tuple[str, str, str]]:
    return {
        day: (created, completed, overdue)
        for day, created, completed, overdue in re.findall(
            r'data-day="([\d-]+)" data-created="(\d+)" data-completed="(\d+)" data-overdue="(\d*)"', body
        )
    }


def test_everyone_sees_the_trend_on_the_tasks_page(client):
    snapshot(datetime.datetime(2026, 1, 19, 9, tzinfo=datetime.UTC), 4, 2, 1)
    client.force_login(make_user())
    with time_machine.travel(NOON, tick=False):
        body = client.get("/").content.decode()
    days = chart_days(body)
    assert len(days) == 30
    assert days["2026-01-19"] == ("4", "2", "1")
    assert "2026-01-19: 4 created, 2 completed, 1 overdue" in body
    assert '<polyline points="' in body


def test_staff_see_the_trend_on_the_dashboard(client):
    snapshot(datetime.datetime(2026, 1, 20, 10, tzinfo=datetime.UTC), 7, 0, 2)
    client.force_login(make_user(staff=True))
    with time_machine.travel(NOON, tick=False):
        body = client.get("/ops/?panel=1").content.decode()
    assert chart_days(body)["2026-01-20"] == ("7", "0", "2")


def test_with_no_snapshot_yet_the_page_says_so_instead_of_an_empty_chart(client):
    client.force_login(make_user())
    body = client.get("/").content.decode()
    assert "No snapshots yet" in body and "data-day=" not in body
