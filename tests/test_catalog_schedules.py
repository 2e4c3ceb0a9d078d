"""When each periodic job runs: Huey's scheduler asks every minute with a naive UTC time.

Each test sweeps every minute of a window through `validate_datetime`, as the scheduler does,
and compares the UTC minutes at which a job would fire with the ones it must fire at; the
dashboard's next run (computed from the schedule, not swept) is checked against the same sweep.
"""

import datetime

import pytest
from huey.contrib.djhuey import HUEY

from tasks_app import jobs

UTC_WEEK = datetime.datetime(2026, 1, 5)  # a Monday in winter, 00:00 UTC
SUMMER_WEEK = datetime.datetime(2026, 7, 6)  # a Monday in summer


def fire_times(job, start: datetime.datetime, hours: int = 7 * 24) -> list[datetime.datetime]:
    """The UTC minutes in [start, start + hours) at which the scheduler would enqueue `job`."""
    task = job.task_class()
    minutes = (start + datetime.timedelta(minutes=n) for n in range(hours * 60))
    return [minute for minute in minutes if task.validate_datetime(minute)]


def first_fire_time(job, start: datetime.datetime) -> datetime.datetime:
    """The first UTC minute from `start` at which the scheduler would enqueue `job` (aware)."""
    task = job.task_class()
    minute = start
    while not task.validate_datetime(minute):
        minute += datetime.timedelta(minutes=1)
    return minute.replace(tzinfo=datetime.UTC)


def daily(start: datetime.datetime, hour: int, minute: int = 0, days: int = 7) -> list[datetime.datetime]:
    return [start + datetime.timedelta(days=day, hours=hour, minutes=minute) for day in range(days)]


# Every periodic job, and what its schedule reads in TIME_ZONE (local) or UTC.
PERIODIC_JOBS = {
    jobs.digest_send: "daily 08:00 local",
    jobs.done_tasks_cleanup: "Sundays 02:00 local",
    jobs.job_history_prune: "daily 04:15 local",
    jobs.report_cleanup: "daily 03:00 local",
    jobs.import_export_cleanup: "daily 03:10 local",
    jobs.stats_snapshot: "hourly on the hour",
    jobs.db_backup: "00:30, 06:30, 12:30, 18:30 UTC",
    jobs.overdue_check: "every 10 minutes",
}


def test_every_periodic_job_has_its_schedule_tested_here():
    registered = {type(task).__name__ for task in HUEY._registry.periodic_tasks}
    assert registered == {job.task_class.__name__ for job in PERIODIC_JOBS}


class TestInUTC:
    def test_the_local_jobs_fire_at_their_local_times_when_the_zone_is_utc(self, settings):
        settings.TIME_ZONE = "UTC"
        assert fire_times(jobs.digest_send, UTC_WEEK) == daily(UTC_WEEK, 8)
        assert fire_times(jobs.done_tasks_cleanup, UTC_WEEK) == [datetime.datetime(2026, 1, 11, 2, 0)]  # a Sunday
        assert fire_times(jobs.job_history_prune, UTC_WEEK) == daily(UTC_WEEK, 4, 15)
        assert fire_times(jobs.report_cleanup, UTC_WEEK) == daily(UTC_WEEK, 3)
        assert fire_times(jobs.import_export_cleanup, UTC_WEEK) == daily(UTC_WEEK, 3, 10)

    def test_the_stats_are_snapshotted_every_hour_on_the_hour(self):
        assert fire_times(jobs.stats_snapshot, UTC_WEEK) == [
            UTC_WEEK + datetime.timedelta(hours=hour) for hour in range(7 * 24)
        ]

    def test_the_database_is_backed_up_every_six_hours_at_half_past(self):
        expected = [moment for hour in (0, 6, 12, 18) for moment in daily(UTC_WEEK, hour, 30)]
        assert fire_times(jobs.db_backup, UTC_WEEK) == sorted(expected)

    def test_the_overdue_check_runs_every_ten_minutes(self):
        fired = fire_times(jobs.overdue_check, UTC_WEEK, hours=24)
        assert fired == [UTC_WEEK + datetime.timedelta(minutes=10 * n) for n in range(6 * 24)]


class TestInTheTeamsTimeZone:
    """With TIME_ZONE=Europe/Berlin, 08:00 local is 07:00 UTC in winter and 06:00 UTC in summer."""

    @pytest.fixture(autouse=True)
    def berlin(self, settings):
        settings.TIME_ZONE = "Europe/Berlin"

    def test_the_digest_goes_at_eight_local_time_winter_and_summer(self):
        assert fire_times(jobs.digest_send, UTC_WEEK) == daily(UTC_WEEK, 7)
        assert fire_times(jobs.digest_send, SUMMER_WEEK) == daily(SUMMER_WEEK, 6)

    def test_done_tasks_are_cleaned_up_on_sunday_at_two_local_time(self):
        assert fire_times(jobs.done_tasks_cleanup, UTC_WEEK) == [datetime.datetime(2026, 1, 11, 1, 0)]
        assert fire_times(jobs.done_tasks_cleanup, SUMMER_WEEK) == [datetime.datetime(2026, 7, 12, 0, 0)]

    def test_the_daily_housekeeping_follows_local_time(self):
        assert fire_times(jobs.job_history_prune, UTC_WEEK) == daily(UTC_WEEK, 3, 15)
        assert fire_times(jobs.job_history_prune, SUMMER_WEEK) == daily(SUMMER_WEEK, 2, 15)
        assert fire_times(jobs.report_cleanup, UTC_WEEK) == daily(UTC_WEEK, 2)
        assert fire_times(jobs.import_export_cleanup, UTC_WEEK) == daily(UTC_WEEK, 2, 10)

    def test_the_utc_schedules_do_not_move_with_the_time_zone(self):
        assert len(fire_times(jobs.stats_snapshot, UTC_WEEK)) == 7 * 24
        assert fire_times(jobs.db_backup, UTC_WEEK, hours=24) == [
            UTC_WEEK.replace(hour=h, minute=30) for h in (0, 6, 12, 18)
        ]

    def test_a_local_time_repeated_when_the_clocks_go_back_fires_once(self):
        # 2026-10-25, a Sunday: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so 02:00 comes twice.
        night = datetime.datetime(2026, 10, 24, 12, 0)
        assert fire_times(jobs.done_tasks_cleanup, night, hours=24) == [datetime.datetime(2026, 10, 25, 0, 0)]
        assert fire_times(jobs.digest_send, night, hours=24) == [datetime.datetime(2026, 10, 25, 7, 0)]

    def test_a_local_time_skipped_when_the_clocks_go_forward_does_not_fire(self):
        # 2026-03-29, a Sunday: 02:00 CET becomes 03:00 CEST, so there is no 02:00 that night;
        # the weekly cleanup waits a week (it deletes by age, so nothing is lost).
        night = datetime.datetime(2026, 3, 28, 12, 0)
        assert fire_times(jobs.done_tasks_cleanup, night, hours=24) == []
        assert fire_times(jobs.digest_send, night, hours=24) == [datetime.datetime(2026, 3, 29, 6, 0)]
        assert fire_times(jobs.job_history_prune, night, hours=24) == [datetime.datetime(2026, 3, 29, 2, 15)]


def test_the_weekly_cleanup_follows_the_local_sunday_when_utc_is_still_saturday(settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in January
    assert fire_times(jobs.done_tasks_cleanup, UTC_WEEK) == [datetime.datetime(2026, 1, 10, 13, 0)]
    assert fire_times(jobs.digest_send, UTC_WEEK) == daily(UTC_WEEK, 19)


# Moments around which a job's next run is easy to get wrong: just before and on a run, the turn of
# a day and a week, and the two nights the clocks change in Berlin.
AWKWARD_MOMENTS = [
    datetime.datetime(2026, 1, 5, 0, 0),
    datetime.datetime(2026, 1, 5, 7, 59, 59),
    datetime.datetime(2026, 1, 10, 23, 55),
    datetime.datetime(2026, 1, 11, 0, 30),
    datetime.datetime(2026, 3, 28, 23, 50),
    datetime.datetime(2026, 3, 29, 0, 59),
    datetime.datetime(2026, 10, 24, 23, 59),
    datetime.datetime(2026, 10, 25, 0, 0),
    datetime.datetime(2026, 10, 25, 0, 45, 10),
]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Pacific/Auckland"])
def test_the_next_run_shown_is_the_first_minute_the_scheduler_would_fire_at(settings, zone):
    settings.TIME_ZONE = zone
    for job in PERIODIC_JOBS:
        schedule = job.task_class.periodic_schedule
        for moment in AWKWARD_MOMENTS:
            swept = first_fire_time(job, moment.replace(second=0) + datetime.timedelta(minutes=1))
            assert schedule.next_run(moment.replace(tzinfo=datetime.UTC)) == swept, (job.task_class.__name__, moment)


def test_the_labels_say_the_whole_schedule_in_the_teams_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    labels = {job.task_class.__name__: job.task_class.periodic_schedule.label for job in PERIODIC_JOBS}
    assert labels == {
        "digest_send": "daily at 08:00 Europe/Berlin",
        "done_tasks_cleanup": "weekly on Sunday at 02:00 Europe/Berlin",
        "job_history_prune": "daily at 04:15 Europe/Berlin",
        "report_cleanup": "daily at 03:00 Europe/Berlin",
        "import_export_cleanup": "daily at 03:10 Europe/Berlin",
        "stats_snapshot": "hourly at :00",
        "db_backup": "every 6 hours at :30",
        "overdue_check": "every 10 minutes",
    }
