"""Tasks created, completed and overdue per day in TIME_ZONE: counted from the tasks themselves,
with the hourly TaskStatsSnapshot rows for what the tasks no longer show."""

import datetime
from collections import Counter
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count
from django.db.models.functions import Substr, TruncDate
from django.utils import timezone

from tasks_app.models import Task, TaskStatsSnapshot

# Task.objects.overdue() as an IN: its NOT (status = 'done') makes SQLite scan every task, where
# this reads only the overdue ones from the (status, due_date) index.
OPEN = [status for status in Task.Status if status != Task.Status.DONE]


@dataclass
class TrendDay:
    day: datetime.date
    created: int = 0
    completed: int = 0
    overdue: int | None = None  # open tasks past due: today now, earlier at the day's last snapshot; None: no snapshot


def daily_trend(days: int = 30, now: datetime.datetime | None = None) -> list[TrendDay]:
    """The last `days` days in TIME_ZONE (today, up to this minute, included), oldest first, empty days included.

    A day's created and completed are its tasks' counts, or its snapshots' sums where those are
    higher: the snapshots still count tasks deleted (or reopened) since.
    """
    zone = timezone.get_default_timezone()
    today = timezone.localdate(now or timezone.now(), zone)
    first = today - datetime.timedelta(days=days - 1)
    dates = [first + datetime.timedelta(days=n) for n in range(days)]
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min), zone)
    end = timezone.make_aware(datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min), zone)
    created = _tasks_per_day("created_at", start, end, zone)
    completed = _tasks_per_day("completed_at", start, end, zone)
    recorded_created, recorded_completed, overdue = Counter(), Counter(), {}
    for snapshot in TaskStatsSnapshot.objects.filter(hour__gte=start, hour__lt=end).order_by("hour"):
        day = timezone.localdate(snapshot.hour, zone)
        recorded_created[day] += snapshot.created
        recorded_completed[day] += snapshot.completed
        overdue[day] = snapshot.overdue  # a level, not a flow: the day's latest one counts
    overdue[today] = Task.objects.filter(status__in=OPEN, due_date__lt=today).count()  # now, not at the last snapshot
    return [
        TrendDay(
            day,
            max(created[day], recorded_created[day]),
            max(completed[day], recorded_completed[day]),
            overdue.get(day),
        )
        for day in dates
    ]


def _tasks_per_day(field: str, start: datetime.datetime, end: datetime.datetime, zone: datetime.tzinfo) -> Counter:
    """How many tasks have `field` in [start, end), per day in `zone`: one grouped query."""
    tasks = Task.objects.filter(**{f"{field}__gte": start, f"{field}__lt": end})
    if connection.vendor != "sqlite":
        rows = tasks.values(day=TruncDate(field, tzinfo=zone)).annotate(tasks=Count("pk"))
        return Counter({row["day"]: row["tasks"] for row in rows})
    # SQLite's TruncDate calls Python for each row (10 µs a task: seconds after a big import).
    # Its stored text, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC, is grouped in SQL instead, by the
    # hour when every local midnight of the range falls on a UTC hour (most zones), else by the
    # minute, and the groups are folded into days here.
    midnights = [start + datetime.timedelta(days=n) for n in range((end - start).days + 1)]
    on_the_hour = all(zone.utcoffset(midnight.replace(tzinfo=None)).seconds % 3600 == 0 for midnight in midnights)
    prefix, suffix = (13, ":00") if on_the_hour else (16, "")  # "YYYY-MM-DD HH" or "YYYY-MM-DD HH:MM"
    groups = tasks.values(at=Substr(field, 1, prefix)).annotate(tasks=Count("pk")).values_list("at", "tasks")
    per_day = Counter()
    for at, count in groups:
        utc = datetime.datetime.fromisoformat(at + suffix).replace(tzinfo=datetime.UTC)
        per_day[timezone.localdate(utc, zone)] += count
    return per_day
