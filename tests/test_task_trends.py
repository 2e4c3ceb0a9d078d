"""The 30-day chart of tasks created, completed and overdue: from the tasks, and the hourly snapshots."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tasks_app.models import Task, TaskStatsSnapshot
from tasks_app.services import task_trends
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db

NOON = datetime.datetime(2026, 1, 20, 12, 0, tzinfo=datetime.UTC)
TODAY, YESTERDAY = datetime.date(2026, 1, 20), datetime.date(2026, 1, 19)


def snapshot(hour: datetime.datetime, created: int, completed: int, overdue: int) -> None:
    TaskStatsSnapshot.objects.create(hour=hour, created=created, completed=completed, overdue=overdue)


def task(owner, created: datetime.datetime, completed: datetime.datetime | None = None, **fields) -> Task:
    """A task created (and completed) then, whatever the clock says now."""
    made = make_task(owner, status=Task.Status.DONE if completed else Task.Status.TODO, **fields)
    Task.objects.filter(pk=made.pk).update(created_at=created, completed_at=completed)
    return made


def trend_by_day(now: datetime.datetime = NOON) -> dict[datetime.date, tuple[int, int, int | None]]:
    return {day.day: (day.created, day.completed, day.overdue) for day in task_trends.daily_trend(30, now)}


def test_a_task_created_a_minute_ago_is_in_todays_column_with_no_snapshot_yet(alice):
    with time_machine.travel(NOON - datetime.timedelta(minutes=1), tick=False):
        make_task(alice)
    task(alice, created=NOON - datetime.timedelta(hours=3), completed=NOON - datetime.timedelta(minutes=1))
    assert not TaskStatsSnapshot.objects.exists()
    assert trend_by_day()[TODAY] == (2, 1, 0)


def test_days_are_days_in_the_time_zone(settings, alice):
    settings.TIME_ZONE = "Europe/Berlin"
    task(alice, created=datetime.datetime(2026, 1, 18, 22, 30, tzinfo=datetime.UTC))  # 23:30 on the 18th in Berlin
    # 00:30 on the 19th in Berlin, completed at 00:30 on the 20th.
    task(
        alice,
        created=datetime.datetime(2026, 1, 18, 23, 30, tzinfo=datetime.UTC),
        completed=datetime.datetime(2026, 1, 19, 23, 30, tzinfo=datetime.UTC),
    )
    days = trend_by_day()
    assert days[datetime.date(2026, 1, 18)][:2] == (1, 0)
    assert days[YESTERDAY][:2] == (1, 0)
    assert days[TODAY][:2] == (0, 1)


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu"])  # days starting at :30 and :45 UTC
def test_days_of_a_zone_off_the_hour_split_on_the_minute(settings, alice, zone):
    settings.TIME_ZONE = zone
    midnight = datetime.datetime(2026, 1, 19, tzinfo=ZoneInfo(zone)).astimezone(datetime.UTC)
    task(alice, created=midnight - datetime.timedelta(minutes=1))
    task(alice, created=midnight + datetime.timedelta(minutes=1))
    days = trend_by_day()
    assert (days[datetime.date(2026, 1, 18)][0], days[YESTERDAY][0]) == (1, 1)


def test_the_month_takes_one_query_however_many_days_have_tasks_and_snapshots(alice, django_assert_num_queries):
    for days_ago in range(10):
        created = NOON - datetime.timedelta(days=days_ago, hours=2)
        task(alice, created=created, completed=created + datetime.timedelta(hours=1))
        snapshot(created, 1, 0, days_ago)
    # Per day: created, completed, the snapshots' sums and last overdue; then today's overdue tasks.
    with django_assert_num_queries(1):
        days = task_trends.daily_trend(30, NOON)
    assert [(day.created, day.completed) for day in days[-10:]] == [(1, 1)] * 10


def test_the_window_is_thirty_days_up_to_today_with_empty_days_included(alice):
    task(alice, created=datetime.datetime(2025, 12, 21, 23, 59, tzinfo=datetime.UTC))  # the day before the window
    snapshot(datetime.datetime(2025, 12, 21, 23, tzinfo=datetime.UTC), 9, 9, 9)
    task(alice, created=datetime.datetime(2025, 12, 22, 0, 0, tzinfo=datetime.UTC))  # its first minute
    days = task_trends.daily_trend(30, NOON)
    assert [days[0].day, days[-1].day] == [datetime.date(2025, 12, 22), TODAY]
    assert len(days) == 30
    assert days[0].created == 1
    assert sum(day.created for day in days) == 1
    assert days[5].overdue is None  # no snapshot that day: no point on the overdue line


def test_a_days_snapshots_still_count_the_tasks_deleted_since(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 23:00 UTC on the 18th is already midnight of the 19th in Berlin.
    snapshot(datetime.datetime(2026, 1, 18, 21, tzinfo=datetime.UTC), 1, 0, 4)
    snapshot(datetime.datetime(2026, 1, 18, 22, tzinfo=datetime.UTC), 2, 1, 5)
    snapshot(datetime.datetime(2026, 1, 18, 23, tzinfo=datetime.UTC), 3, 2, 3)
    days = trend_by_day()
    assert days[datetime.date(2026, 1, 18)] == (3, 1, 5)
    assert days[YESTERDAY] == (3, 2, 3)


def test_a_day_counts_its_tasks_where_they_are_more_than_its_snapshots_counted(alice):
    snapshot(datetime.datetime(2026, 1, 20, 9, tzinfo=datetime.UTC), 1, 1, 0)
    for _ in range(3):  # imported after the 9 o'clock snapshot, stamped with the time of the import
        task(alice, created=datetime.datetime(2026, 1, 20, 9, 59, tzinfo=datetime.UTC))
    assert trend_by_day()[TODAY][:2] == (3, 1)


def test_todays_overdue_tasks_are_counted_now_and_an_earlier_days_at_its_last_snapshot(alice):
    snapshot(datetime.datetime(2026, 1, 19, 22, tzinfo=datetime.UTC), 0, 0, 3)
    snapshot(datetime.datetime(2026, 1, 20, 10, tzinfo=datetime.UTC), 0, 0, 7)
    created = NOON - datetime.timedelta(days=3)
    task(alice, created=created, due_date=YESTERDAY)  # overdue
    task(alice, created=created, completed=created, due_date=YESTERDAY)  # done
    task(alice, created=created, due_date=TODAY)  # due, not late yet
    days = trend_by_day()
    assert days[YESTERDAY][2] == 3
    assert days[TODAY][2] == 1


def chart_days(body: str) -> dict[str, tuple[str, str, str]]:
    return {
        day: (created, completed, overdue)
        for day, created, completed, overdue in re.findall(
            r'data-day="([\d-]+)" data-created="(\d+)" data-completed="(\d+)" data-overdue="(\d*)"', body
        )
    }


def test_everyone_sees_the_trend_on_the_tasks_page_from_the_first_minute(client):
    user = make_user()
    task(user, created=NOON - datetime.timedelta(minutes=1), due_date=YESTERDAY)
    snapshot(datetime.datetime(2026, 1, 19, 9, tzinfo=datetime.UTC), 4, 2, 1)
    client.force_login(user)
    with time_machine.travel(NOON, tick=False):
        body = client.get("/").content.decode()
    days = chart_days(body)
    assert len(days) == 30
    assert days["2026-01-19"] == ("4", "2", "1")
    assert days["2026-01-20"] == ("1", "0", "1")
    assert "2026-01-20: 1 created, 0 completed, 1 overdue" in body
    assert '<polyline points="' in body


def test_staff_see_the_trend_on_the_dashboard(client):
    staff = make_user(staff=True)
    for _ in range(7):
        task(staff, created=NOON - datetime.timedelta(minutes=5))
    client.force_login(staff)
    with time_machine.travel(NOON, tick=False):
        body = client.get("/ops/?panel=1").content.decode()
    assert chart_days(body)["2026-01-20"] == ("7", "0", "0")


def test_with_nothing_in_thirty_days_the_page_says_so_instead_of_an_empty_chart(client):
    client.force_login(make_user())
    body = client.get("/").content.decode()
    assert "No task created, completed or overdue in these 30 days." in body and "data-day=" not in body
