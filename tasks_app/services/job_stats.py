"""Read-only figures about background jobs, for the operations dashboard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncMinute
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app.models import ConsumerHeartbeat, JobEvent, JobRun, PausedJob
from tasks_app.services import periodic_ledger

State = JobRun.State


def counts_by_state(since: datetime.datetime) -> dict[str, int]:
    """How many jobs were enqueued since `since`, by their state now (every state present, 0 if none)."""
    rows = JobRun.objects.filter(enqueued_at__gte=since).values("state").annotate(n=Count("id"))
    counts = dict.fromkeys(State.values, 0)
    counts.update({row["state"]: row["n"] for row in rows})
    return counts


@dataclass
class MinuteBar:
    minute: datetime.datetime
    succeeded: int
    failed: int


def throughput_per_minute(minutes: int = 60, now: datetime.datetime | None = None) -> list[MinuteBar]:
    """Jobs finished in each of the last `minutes` minutes, oldest first, empty minutes included."""
    now = (now or timezone.now()).replace(second=0, microsecond=0)
    start = now - datetime.timedelta(minutes=minutes - 1)
    rows = (
        JobRun.objects.filter(finished_at__gte=start)
        .annotate(minute=TruncMinute("finished_at"))
        .values("minute")
        .annotate(
            succeeded=Count("id", filter=Q(state=State.SUCCEEDED)),
            failed=Count("id", filter=Q(state=State.FAILED)),
        )
    )
    by_minute = {row["minute"]: row for row in rows}
    bars = []
    for n in range(minutes):
        minute = start + datetime.timedelta(minutes=n)
        row = by_minute.get(minute, {})
        bars.append(MinuteBar(minute, row.get("succeeded", 0), row.get("failed", 0)))
    return bars


def failure_rates(since: datetime.datetime) -> list[dict]:
    """Per job name: finished, failed and the failure rate since `since`, worst first."""
    rows = (
        JobRun.objects.filter(finished_at__gte=since, state__in=[State.SUCCEEDED, State.FAILED])
        .values("name")
        .annotate(finished=Count("id"), failed=Count("id", filter=Q(state=State.FAILED)))
    )
    rates = [
        {**row, "short_name": row["name"].rsplit(".", 1)[-1], "rate": row["failed"] / row["finished"]} for row in rows
    ]
    return sorted(rates, key=lambda row: (-row["rate"], row["name"]))


@dataclass
class PeriodicJob:
    name: str
    short_name: str
    schedule: str
    missed_runs: str  # the missed-run policy in words
    next_run: datetime.datetime
    last_expected: periodic_ledger.Tick  # the latest tick due, and what became of it
    last_run: JobRun | None
    misses: int  # ticks of the last 7 days that did not run


def periodic_jobs(now: datetime.datetime | None = None) -> list[PeriodicJob]:
    """Every periodic job with its schedule and missed-run policy in words, next run, last expected
    tick (and its verdict), last run, and how many ticks did not run in the last 7 days."""
    now = now or timezone.now()
    misses = periodic_ledger.misses(now)
    jobs = []
    for task_class in sorted(HUEY._registry._periodic_tasks, key=lambda cls: cls.__name__):
        name = HUEY._registry.task_to_string(task_class)
        schedule = task_class.periodic_schedule  # declared with jobs.schedule.periodic_job
        jobs.append(
            PeriodicJob(
                name=name,
                short_name=task_class.__name__,
                schedule=schedule.label,
                missed_runs=task_class.missed_runs.label,
                next_run=schedule.next_run(now),
                last_expected=periodic_ledger.tick_at(name, schedule.previous_run(now), now),
                last_run=JobRun.objects.filter(name=name).exclude(started_at=None).order_by("-started_at").first(),
                misses=misses.get(name, 0),
            )
        )
    return jobs


@dataclass
class Lane:
    name: str
    limit: int  # jobs of this lane one consumer runs at once
    running: int
    waiting: int
    oldest_wait: float | None  # seconds the oldest waiting job has waited
    finished_last_hour: int
    jobs: list[str]  # the jobs routed here (short names); the default lane takes every other


def lanes(now: datetime.datetime) -> list[Lane]:
    """Per lane of settings.HUEY_LANES: its limit, what runs, what waits and since when, throughput."""
    by_lane = {
        row["lane"]: row
        for row in JobRun.objects.filter(
            Q(state__in=[State.RUNNING, State.PENDING]) | Q(finished_at__gte=now - datetime.timedelta(hours=1))
        )
        .values("lane")
        .annotate(
            running=Count("id", filter=Q(state=State.RUNNING)),
            waiting=Count("id", filter=Q(state=State.PENDING)),
            oldest=Min("enqueued_at", filter=Q(state=State.PENDING)),
            finished=Count("id", filter=Q(finished_at__gte=now - datetime.timedelta(hours=1))),
        )
    }
    routed: dict[str, list[str]] = {}
    for job, lane in settings.HUEY_LANE_ROUTES.items():
        routed.setdefault(lane, []).append(job.rsplit(".", 1)[-1])
    result = []
    for name, limit in settings.HUEY_LANES.items():
        row = by_lane.get(name, {})
        oldest = row.get("oldest")
        result.append(
            Lane(
                name=name,
                limit=limit,
                running=row.get("running", 0),
                waiting=row.get("waiting", 0),
                oldest_wait=(now - oldest).total_seconds() if oldest else None,
                finished_last_hour=row.get("finished", 0),
                jobs=sorted(routed.get(name, [])),
            )
        )
    return result


def requeued_jobs(since: datetime.datetime, limit: int = 20):
    """Jobs that went back to the queue since `since` because the consumer holding them died
    (or whose message never reached the queue), most recently changed first."""
    job_ids = JobEvent.objects.filter(kind__in=["orphaned", "recovered"], at__gte=since).values("job_id")
    return JobRun.objects.filter(pk__in=job_ids).order_by("-updated_at")[:limit]


def consumers(now: datetime.datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    return [_consumer(beat, now) for beat in ConsumerHeartbeat.objects.all()]


def _consumer(beat: ConsumerHeartbeat, now: datetime.datetime) -> dict:
    """A consumer's row: its heartbeat's age, and how long ago its history writer last had
    everything written (behind: past HEALTH_HISTORY_MAX_AGE, as /healthz says)."""
    history_age = (now - beat.history_flushed_at).total_seconds() if beat.history_flushed_at else None
    return {
        "beat": beat,
        "age": (now - beat.beat_at).total_seconds(),
        "history_age": history_age,
        "history_behind": history_age is not None and history_age > settings.HEALTH_HISTORY_MAX_AGE,
    }


def job_names() -> list[dict]:
    """Every registered job with whether it is paused."""
    paused = set(PausedJob.objects.values_list("name", flat=True))
    return [
        {"name": name, "short_name": name.rsplit(".", 1)[-1], "paused": name in paused}
        for name in sorted(HUEY._registry._registry)
    ]
