"""Tasks created, completed and overdue per day, read from the hourly TaskStatsSnapshot rows."""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from tasks_app.models import TaskStatsSnapshot


@dataclass
class TrendDay:
    day: datetime.date
    created: int = 0
    completed: int = 0
    overdue: int | None = None  # open tasks past due at the day's last snapshot; None: no snapshot that day


def daily_trend(days: int = 30, now: datetime.datetime | None = None) -> list[TrendDay]:
    """The last `days` days in TIME_ZONE (today included), oldest first, days without snapshots included."""
    today = timezone.localdate(now or timezone.now())
    first = today - datetime.timedelta(days=days - 1)
    trend = {day: TrendDay(day) for day in (first + datetime.timedelta(days=n) for n in range(days))}
    start = timezone.make_aware(datetime.datetime.combine(first, datetime.time.min))
    for snapshot in TaskStatsSnapshot.objects.filter(hour__gte=start).order_by("hour"):
        day = trend.get(timezone.localdate(snapshot.hour))
        if day is None:  # a snapshot of an hour still to come (a clock set back)
            continue
        day.created += snapshot.created
        day.completed += snapshot.completed
        day.overdue = snapshot.overdue  # a level, not a flow: the day's latest one counts
    return list(trend.values())
