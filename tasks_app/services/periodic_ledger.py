"""What the periodic ledger says, for people: each expected tick of a periodic job and what became of it.

The ledger (`PeriodicTick`, written by `tasks_app.queue.periodic`) records what the scheduler
did with a tick; what the job then did (ran, failed, expired, skipped for its lock) is in its
history. `ticks()` joins the two, so a page answers "why didn't it run at 08:00?".
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Max, Min, Q
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobRun, PeriodicTick
from tasks_app.queue.periodic import GRACE

State = JobRun.State
Outcome = PeriodicTick.Outcome
WEEK = datetime.timedelta(days=7)
LOCKED_ERROR = "Skipped: another run of this job holds its lock."  # as the history records it


@dataclass
class Tick:
    due_at: datetime.datetime
    verdict: str  # in a few words: "ran", "missed", "skipped: lock held"...
    css: str  # a JobRun state's colour class
    detail: str = ""  # about the tick: any staff may read it
    job: JobRun | None = None  # the job and its error: for `view_all_jobs` only
    error: str = ""


def periodic_task_class(name: str):
    """The periodic job registered as `name`, or None."""
    return next(
        (cls for cls in HUEY._registry._periodic_tasks if HUEY._registry.task_to_string(cls) == name),
        None,
    )


def description(task_class) -> str:
    """What a periodic job does, in one sentence: the first line of its docstring."""
    return (task_class.__doc__ or "").strip().split("\n", 1)[0]


def ticks(name: str, schedule, now: datetime.datetime, span: datetime.timedelta = WEEK) -> list[Tick]:
    """Every tick of job `name` expected in the `span` before `now` since its ledger began, newest first,
    with its verdict."""
    recorded = _recorded(name)
    rows = {row.due_at: row for row in PeriodicTick.objects.filter(name=name, due_at__gt=now - span)}
    expected = set(schedule.ticks(max(now - span, _ledger_began(recorded, now)), now)) | set(rows)
    runs = JobRun.objects.in_bulk([row.job_id for row in rows.values() if row.job_id])
    return [_tick(due_at, rows.get(due_at), runs, now, recorded) for due_at in sorted(expected, reverse=True)]


def tick_at(name: str, due_at: datetime.datetime, now: datetime.datetime) -> Tick | None:
    """The tick of job `name` due at `due_at`, with its verdict; None if it came before the job's ledger began."""
    row = PeriodicTick.objects.filter(name=name, due_at=due_at).first()
    recorded = _recorded(name)
    if row is None and due_at <= _ledger_began(recorded, now):
        return None
    runs = JobRun.objects.in_bulk([row.job_id] if row and row.job_id else [])
    return _tick(due_at, row, runs, now, recorded)


def _recorded(name: str) -> dict:
    """The first and last tick the ledger holds for job `name` (None when it holds none)."""
    return PeriodicTick.objects.filter(name=name).aggregate(first=Min("due_at"), last=Max("due_at"))


def _ledger_began(recorded: dict, now: datetime.datetime) -> datetime.datetime:
    """Since when the ledger expects a job's ticks: its first recorded tick. A scheduler records every
    tick from the first one after it first sees a job, so earlier ones were never expected (a fresh
    install has none); a job with none recorded yet expects only a tick due now."""
    return recorded["first"] or now - GRACE


def _tick(due_at, row: PeriodicTick | None, runs: dict, now: datetime.datetime, recorded: dict) -> Tick:
    if row is None:
        if due_at >= now - GRACE:
            return Tick(due_at, "due now", "pending", "a consumer's scheduler takes it within a minute or two")
        if due_at > recorded["last"]:
            return Tick(
                due_at, "not recorded yet", "failed", "no consumer has run since: the first one back records it"
            )
        return Tick(due_at, "not recorded", "failed", "no scheduler recorded this run")
    if row.outcome == Outcome.MISSED:
        return Tick(due_at, "missed", "failed", row.detail)
    if row.outcome == Outcome.PAUSED:
        return Tick(due_at, "skipped: paused", "revoked", row.detail)
    run = runs.get(row.job_id)
    late = row.outcome == Outcome.CAUGHT_UP
    if run is None:
        return Tick(due_at, "ran late" if late else "ran", "succeeded", f"{row.detail} (its history was pruned)")
    if run.state == State.REVOKED and run.error == LOCKED_ERROR:
        return Tick(due_at, "skipped: lock held", "revoked", "another run of this job still held its lock", run)
    verdict = {
        State.SUCCEEDED: "ran",
        State.FAILED: "ran and failed",
        State.EXPIRED: "expired",
        State.REVOKED: "canceled",
    }.get(run.state, run.state)
    return Tick(due_at, f"{verdict} (late)" if late else verdict, run.state, row.detail, run, run.error)


def misses(now: datetime.datetime) -> dict[str, int]:
    """Per periodic job, the ticks of the last 7 days that did not run: missed, paused, expired or
    skipped for a held lock."""
    since = now - WEEK
    skipped = (
        PeriodicTick.objects.filter(due_at__gte=since, outcome__in=[Outcome.MISSED, Outcome.PAUSED])
        .values("name")
        .annotate(n=Count("id"))
    )
    not_run = (
        JobRun.objects.filter(periodic=True, finished_at__gte=since)
        .filter(Q(state=State.EXPIRED) | Q(state=State.REVOKED, error=LOCKED_ERROR))
        .values("name")
        .annotate(n=Count("id"))
    )
    counts: dict[str, int] = {}
    for row in [*skipped, *not_run]:
        counts[row["name"]] = counts.get(row["name"], 0) + row["n"]
    return counts
