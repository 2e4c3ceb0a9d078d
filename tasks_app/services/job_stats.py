"""Read-only figures about background jobs, for the operations dashboard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Case, Count, Exists, F, Min, OuterRef, Q, QuerySet, Value, When
from django.db.models.functions import TruncMinute
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app.models import ConsumerHeartbeat, JobEvent, JobRun, PausedJob
from tasks_app.queue import lanes as queue_lanes
from tasks_app.services import periodic_ledger

State = JobRun.State
PAUSED = "paused"  # the state shown for a waiting run whose job is paused; never stored
HELD_STATES = [State.PENDING, State.SCHEDULED]  # the waiting states a pause holds
SHOWN_STATES = [*State.choices[:2], (PAUSED, "Paused"), *State.choices[2:]]  # for filters, in lifecycle order


def with_shown_state(runs: QuerySet[JobRun]) -> QuerySet[JobRun]:
    """`runs` annotated with `shown_state`: their state, or "paused" while they wait and their job is paused."""
    job_paused = Exists(PausedJob.objects.filter(name=OuterRef("name")))
    return runs.annotate(
        shown_state=Case(When(job_paused, state__in=HELD_STATES, then=Value(PAUSED)), default=F("state"))
    )


def retryable_failures() -> QuerySet[JobRun]:
    """The failed jobs a bulk retry takes (`manage.py jobs retry --failed`, /ops/'s Retry all):
    not yet retried or discarded (a retry dismisses its job), their message kept."""
    return JobRun.objects.filter(state=State.FAILED, dismissed_at=None, message__isnull=False)


def shown_state(run: JobRun) -> str:
    """One run's state as `with_shown_state` gives it."""
    return PAUSED if waits_paused(run.pk) else run.state


def waits_paused(job_id: str) -> bool:
    """Whether the job `job_id` waits because an operator paused its job (for the pages following one)."""
    return with_shown_state(JobRun.objects.filter(pk=job_id)).filter(shown_state=PAUSED).exists()


def paused_jobs() -> list[dict]:
    """Every paused job: who paused it and when, and how many of its runs wait for it to be resumed."""
    waiting = dict(
        JobRun.objects.filter(state__in=HELD_STATES, name__in=PausedJob.objects.values("name"))
        .values_list("name")
        .annotate(n=Count("id"))
    )
    return [
        {"job": job, "short_name": job.name.rsplit(".", 1)[-1], "waiting": waiting.get(job.name, 0)}
        for job in PausedJob.objects.select_related("paused_by").order_by("name")
    ]


def counts_by_state(since: datetime.datetime) -> dict[str, int]:
    """How many jobs were enqueued since `since`, by their state now as shown (every state present, 0 if none)."""
    rows = with_shown_state(JobRun.objects.filter(enqueued_at__gte=since)).values("shown_state").annotate(n=Count("id"))
    counts = dict.fromkeys([state for state, _ in SHOWN_STATES], 0)
    counts.update({row["shown_state"]: row["n"] for row in rows})
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
    description: str  # the first line of its docstring
    schedule: str
    missed_runs: str  # the missed-run policy in words
    next_run: datetime.datetime
    last_expected: periodic_ledger.Tick | None  # the latest tick due, and what became of it; None before its ledger
    last_run: JobRun | None
    misses: int  # ticks of the last 7 days that did not run
    paused: bool


def periodic_jobs(now: datetime.datetime | None = None) -> list[PeriodicJob]:
    """Every periodic job with its schedule and missed-run policy in words, next run, last expected
    tick (and its verdict), last run, and how many ticks did not run in the last 7 days."""
    now = now or timezone.now()
    misses = periodic_ledger.misses(now)
    paused = set(PausedJob.objects.values_list("name", flat=True))
    jobs = []
    for task_class in sorted(HUEY._registry._periodic_tasks, key=lambda cls: cls.__name__):
        name = HUEY._registry.task_to_string(task_class)
        schedule = task_class.periodic_schedule  # declared with jobs.schedule.periodic_job
        jobs.append(
            PeriodicJob(
                name=name,
                short_name=task_class.__name__,
                description=periodic_ledger.description(task_class),
                schedule=schedule.label,
                missed_runs=task_class.missed_runs.label,
                next_run=schedule.next_run(now),
                last_expected=periodic_ledger.tick_at(name, schedule.previous_run(now), now),
                last_run=JobRun.objects.filter(name=name).exclude(started_at=None).order_by("-started_at").first(),
                misses=misses.get(name, 0),
                paused=name in paused,
            )
        )
    return jobs


@dataclass
class Lane:
    name: str
    limit: int  # jobs of this lane one consumer runs at once
    running: int
    waiting: int  # pending, for a worker
    paused: int  # pending or scheduled, held because their job is paused
    oldest_wait: float | None  # seconds the oldest waiting job has waited
    finished_last_hour: int
    jobs: list[dict]  # as `job_names` gives them: those routed here, or in "default" every other

    @property
    def all_paused(self) -> bool:
        return all(job["paused"] for job in self.jobs)

    @property
    def any_paused(self) -> bool:
        return any(job["paused"] for job in self.jobs)


def lanes(now: datetime.datetime) -> list[Lane]:
    """Per lane of settings.HUEY_LANES: its limit, what runs, what waits (paused apart) and since when, throughput."""
    hour_ago = now - datetime.timedelta(hours=1)
    by_lane = {
        row["lane"]: row
        for row in with_shown_state(
            JobRun.objects.filter(Q(state__in=[State.RUNNING, *HELD_STATES]) | Q(finished_at__gte=hour_ago))
        )
        .values("lane")
        .annotate(
            running=Count("id", filter=Q(state=State.RUNNING)),
            waiting=Count("id", filter=Q(shown_state=State.PENDING)),
            paused=Count("id", filter=Q(shown_state=PAUSED)),
            oldest=Min("enqueued_at", filter=Q(shown_state=State.PENDING)),
            finished=Count("id", filter=Q(finished_at__gte=hour_ago)),
        )
    }
    jobs = job_names()
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
                paused=row.get("paused", 0),
                oldest_wait=(now - oldest).total_seconds() if oldest else None,
                finished_last_hour=row.get("finished", 0),
                jobs=[job for job in jobs if job["lane"] == name],
            )
        )
    return result


def requeued_jobs(since: datetime.datetime, limit: int = 20):
    """Jobs that went back to the queue since `since` because the consumer holding them died
    (or whose message never reached the queue), most recently changed first."""
    job_ids = JobEvent.objects.filter(kind__in=["orphaned", "recovered"], at__gte=since).values("job_id")
    return with_shown_state(JobRun.objects.filter(pk__in=job_ids)).order_by("-updated_at")[:limit]


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
    """Every registered job, by short name: whether it is periodic, its lane, and whether it is paused."""
    paused = set(PausedJob.objects.values_list("name", flat=True))
    registry = HUEY._registry
    periodic = {registry.task_to_string(task_class) for task_class in registry._periodic_tasks}
    jobs = [
        {
            "name": name,
            "short_name": name.rsplit(".", 1)[-1],
            "periodic": name in periodic,
            "lane": queue_lanes.lane_of(name, settings.HUEY_LANE_ROUTES),
            "paused": name in paused,
        }
        for name in registry._registry
    ]
    return sorted(jobs, key=lambda job: (job["short_name"], job["name"]))
