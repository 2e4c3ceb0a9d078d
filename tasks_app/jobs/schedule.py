"""When each periodic job runs, declared once: Huey checks it, the dashboard labels it and shows its next run.

Huey's scheduler runs with utc=True and asks each periodic job every minute with a naive UTC
time. A local schedule (`daily`, `weekly`) is read in settings.TIME_ZONE, daylight saving
included: when the clocks go back, a repeated local time fires only the first time; when they go
forward, a local time that does not exist that night does not fire. The others (`every_minutes`,
`hourly`, `every_hours`) follow UTC, the same everywhere.

A run whose time passes while no consumer runs is missed; what then is the job's `MissedRuns`
policy, declared with it: skipped (the default), or run once late within a catch-up window.
`tasks_app.queue.periodic` applies it and keeps the ledger of every tick.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from huey.contrib.djhuey import db_periodic_task

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@dataclass(frozen=True)
class Schedule:
    """The minutes and hours (and weekdays) a job runs at, and how to say it in words."""

    words: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...] = tuple(range(24))
    weekday: int | None = None  # 0 is Monday; None: every day
    local: bool = False  # in settings.TIME_ZONE, else UTC

    @property
    def zone(self) -> datetime.tzinfo:
        return ZoneInfo(settings.TIME_ZONE) if self.local else datetime.UTC

    @property
    def label(self) -> str:
        """The schedule in words, e.g. "daily at 08:00 Europe/Berlin"."""
        return f"{self.words} {settings.TIME_ZONE}" if self.local else self.words

    def __call__(self, utc_minute: datetime.datetime) -> bool:
        """Huey's check: does the job run at this naive UTC minute?"""
        moment = utc_minute.replace(tzinfo=datetime.UTC).astimezone(self.zone)
        return moment.fold == 0 and self._matches(moment)

    def _matches(self, moment: datetime.datetime) -> bool:
        on_day = self.weekday is None or moment.weekday() == self.weekday
        return on_day and moment.hour in self.hours and moment.minute in self.minutes

    def ticks(self, after: datetime.datetime, until: datetime.datetime) -> list[datetime.datetime]:
        """The job's run times later than `after` and no later than `until` (aware), in UTC."""
        found = []
        tick = self.next_run(after)
        while tick <= until:
            found.append(tick)
            tick = self.next_run(tick)
        return found

    def previous_run(self, before: datetime.datetime) -> datetime.datetime:
        """The last run time no later than `before` (aware), in UTC."""
        for days in (1, 15):
            ticks = self.ticks(before - datetime.timedelta(days=days), before)
            if ticks:
                return ticks[-1]
        raise ValueError(f"{self.label} never runs")

    def next_run(self, after: datetime.datetime) -> datetime.datetime:
        """The first minute after `after` (aware) at which the job runs, in UTC.

        Walks the job's own run times day by day, not every minute: at most a few hundred steps."""
        floor = after.astimezone(datetime.UTC).replace(second=0, microsecond=0)
        start = floor.astimezone(self.zone)
        # A weekly local time skipped by the clocks going forward waits another week: 15 days suffice.
        for offset in range(15):
            day = start.date() + datetime.timedelta(days=offset)
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            for hour in self.hours:
                for minute in self.minutes:
                    wall = datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=self.zone)
                    utc = wall.astimezone(datetime.UTC)
                    if utc.astimezone(self.zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
                        continue  # a local time the clocks skip
                    if utc > floor:
                        return utc
        raise ValueError(f"{self.label} never runs")


def _at(time: str) -> tuple[int, int]:
    hour, minute = time.split(":")
    return int(hour), int(minute)


def every_minutes(n: int) -> Schedule:
    return Schedule(f"every {n} minutes", minutes=tuple(range(0, 60, n)))


def hourly(minute: int = 0) -> Schedule:
    return Schedule(f"hourly at :{minute:02d}", minutes=(minute,))


def every_hours(n: int, minute: int = 0) -> Schedule:
    """Every `n` hours from midnight UTC, at `minute` past."""
    return Schedule(f"every {n} hours at :{minute:02d}", minutes=(minute,), hours=tuple(range(0, 24, n)))


def daily(time: str) -> Schedule:
    """Every day at `time` ("08:00") in settings.TIME_ZONE."""
    hour, minute = _at(time)
    return Schedule(f"daily at {time}", minutes=(minute,), hours=(hour,), local=True)


def weekly(day: str, time: str) -> Schedule:
    """Once a week, on `day` ("sunday") at `time` in settings.TIME_ZONE."""
    hour, minute = _at(time)
    words = f"weekly on {day.capitalize()} at {time}"
    return Schedule(words, minutes=(minute,), hours=(hour,), weekday=WEEKDAYS.index(day), local=True)


@dataclass(frozen=True)
class MissedRuns:
    """What becomes of a run missed while no consumer ran: skipped, or run once within `catch_up`."""

    catch_up: datetime.timedelta | None = None

    @property
    def label(self) -> str:
        if self.catch_up is None:
            return "skip"
        hours = self.catch_up / datetime.timedelta(hours=1)
        return f"run once if within {hours:g} h" if hours < 48 else f"run once if within {hours / 24:g} days"


SKIP = MissedRuns()


def run_once_within(**window) -> MissedRuns:
    """Run a missed job once, late, if a consumer is back within this window of its time
    (`hours=4`: back before 12:00 for an 08:00 job); several missed runs make one late run."""
    return MissedRuns(catch_up=datetime.timedelta(**window))


def periodic_job(schedule: Schedule, *, missed: MissedRuns = SKIP, **options):
    """Huey's `db_periodic_task` on a Schedule; the schedule and the missed-run policy stay on the
    task class as `periodic_schedule` and `missed_runs`."""
    return db_periodic_task(schedule, periodic_schedule=schedule, missed_runs=missed, **options)
