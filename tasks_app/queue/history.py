"""Events become JobRun rows: one JobEvent per transition, and the JobRun's columns updated.

Transitions are monotonic whatever order writers commit in: each event carries the time it
happened, and an event older than the last state change of its job is kept as history but does
not move the job (a request's late `enqueued` never turns a finished job back into a pending one).
"""

from __future__ import annotations

import datetime
import functools
import inspect
import re
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone
from huey import signals as S
from huey.api import PeriodicTask
from huey.contrib.djhuey import HUEY

from tasks_app.models import JobEvent, JobRun
from tasks_app.queue import lanes

State = JobRun.State
_REDACTED = "***"
# Columns that belong to a state: a late event leaves them as the newer state set them.
_STATE_FIELDS = {
    "state",
    "state_changed_at",
    "eta",
    "started_at",
    "finished_at",
    "duration",
    "error",
    "traceback",
    "result_summary",
    "retries_left",
    "message",
}


@dataclass
class Event:
    job_id: str
    kind: str
    at: datetime.datetime
    identity: dict
    changes: dict = field(default_factory=dict)
    detail: str = ""
    parent_id: str | None = None  # the job that enqueued this one (a pipeline step, a chord callback)


def aware(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=datetime.UTC)  # Huey runs with utc=True: naive times are UTC


def jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return repr(value)[:200]


def _is_secret(name: str) -> bool:
    return any(re.search(re.escape(part), name, re.IGNORECASE) for part in settings.JOB_REDACTED_ARGUMENTS)


@functools.cache
def _parameter_names(task_class) -> list[str]:
    """The names of a job's positional parameters (Huey keeps its function in the closure of `execute`)."""
    func = inspect.getclosurevars(task_class.execute).nonlocals.get("func")
    if func is None:
        return []
    kinds = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    parameters = inspect.signature(func).parameters.values()
    return [parameter.name for parameter in parameters if parameter.kind in kinds]


def _redact(task) -> tuple[list, dict]:
    """The job's arguments as recorded: those whose parameter names look secret (JOB_REDACTED_ARGUMENTS) as ***."""
    names = _parameter_names(type(task))
    args = []
    for position, value in enumerate(task.args):
        name = names[min(position, len(names) - 1)] if names else ""  # past the named ones: *args
        args.append(_REDACTED if _is_secret(name) else jsonable(value))
    kwargs = {
        key: _REDACTED if _is_secret(key) else jsonable(value) for key, value in task.kwargs.items() if key != "task"
    }
    return args, kwargs


def kept_message(task, message: bytes) -> bytes | None:
    """The message kept for a retry or a recovery; None for a job with a secret argument.

    The message is Huey's pickle of the arguments as they are: a job given a secret cannot be
    retried from the history or recovered, rather than keep the secret in the database.
    """
    args, kwargs = _redact(task)
    return None if _REDACTED in args or _REDACTED in kwargs.values() else message


def job_name(task_class) -> str:
    """The name Huey registers a job under (and JobRun.name records)."""
    return HUEY._registry.task_to_string(task_class)


def identity(task) -> dict:
    name = job_name(type(task))
    args, kwargs = _redact(task)
    return {
        "name": name,
        "queue": HUEY.name,
        "lane": lanes.lane_of(name, settings.HUEY_LANE_ROUTES),
        "priority": task.priority,
        "args": args,
        "kwargs": kwargs,
        "periodic": isinstance(task, PeriodicTask),
        "retries_left": task.retries,
    }


def _apply(run: JobRun, event: Event) -> set[str]:
    """Move one JobRun through one event; return the names of the columns it changed."""
    changes = dict(event.changes)
    if "state" in changes:
        if run.state_changed_at is not None and event.at < run.state_changed_at:
            changes = {name: value for name, value in changes.items() if name not in _STATE_FIELDS}
        else:
            changes["state_changed_at"] = event.at
            if changes["state"] in (State.PENDING, State.SCHEDULED) and run.state == State.RETRYING:
                changes["state"] = State.RETRYING  # `retrying` survives the re-scheduling that follows it
    if event.kind == S.SIGNAL_ENQUEUED and run.enqueued_at is not None:
        changes.pop("enqueued_at", None)  # a retry re-enqueues: keep the first time
        changes.pop("triggered_by_id", None)
    if event.kind == S.SIGNAL_EXECUTING:
        run.attempts += 1
        changes["attempts"] = run.attempts
    for name, value in changes.items():
        setattr(run, name, value)
    return set(changes)


def write(events: list[Event]) -> None:
    """Apply a batch of events in one transaction: one SELECT of the rows they touch, then
    `executemany` statements of only the columns that changed (Django's bulk_update builds a
    CASE expression per field and row, which cost more than the jobs it records)."""
    with transaction.atomic():
        runs = JobRun.objects.in_bulk({event.job_id for event in events})
        existing = set(runs)
        was_finished = {pk for pk, run in runs.items() if run.state in JobRun.FINISHED_STATES}
        _inherit_starter(events, runs)
        changed: dict[str, set[str]] = defaultdict(set)
        for event in events:
            run = runs.get(event.job_id)
            if run is None:
                if not event.identity:  # progress of a job whose row is gone (pruned): nothing to update
                    continue
                run = runs[event.job_id] = JobRun(id=event.job_id, **event.identity)
            changed[run.pk] |= _apply(run, event)
        now = timezone.now()
        with connection.cursor() as cursor:
            insert(cursor, [run for pk, run in runs.items() if pk not in existing], now)
            _update(cursor, {pk: runs[pk] for pk in existing}, changed, now)
            insert_events(cursor, [event for event in events if event.identity and event.job_id in runs])
            finished = [
                run for pk, run in runs.items() if run.state in JobRun.FINISHED_STATES and pk not in was_finished
            ]
            add_to_totals(cursor, finished)


# The bounds (seconds) of /metrics' wait and run time histograms.
BUCKETS = (0.01, 0.1, 1, 10, 60, 600)


def finished_outside_the_writer(run: JobRun, state: str) -> None:
    """Count a job the writer never saw finish (canceled before it ran, lost) in the totals."""
    run.state = state
    with connection.cursor() as cursor:
        add_to_totals(cursor, [run])


def add_to_totals(cursor, finished: list[JobRun]) -> None:
    """Add jobs that just finished to their lane's and name's running totals (JobTotal), in the
    write's transaction: a scrape of /metrics then reads a few rows, not the whole history."""
    totals: dict[tuple, float] = defaultdict(float)
    for run in finished:
        job = (run.lane, run.name)
        totals[*job, f"finished:{run.state}", 0] += 1
        totals[*job, "retried", 0] += run.attempts > 1
        totals[*job, "requeued", 0] += run.deliveries > 1
        waited = (run.started_at - run.enqueued_at).total_seconds() if run.started_at and run.enqueued_at else None
        for series, seconds in (("wait", waited), ("run", run.duration)):
            if seconds is None:
                continue
            totals[*job, f"{series}_count", 0] += 1
            totals[*job, f"{series}_sum", 0] += seconds
            for bound in BUCKETS:
                totals[*job, f"{series}_le", bound] += seconds <= bound
    cursor.executemany(
        "insert into tasks_app_jobtotal (lane, name, series, le, value) values (%s, %s, %s, %s, %s) "
        "on conflict (lane, name, series, le) do update set value = tasks_app_jobtotal.value + excluded.value",
        [(*key, value) for key, value in totals.items()],
    )


def unwritten(events: list[Event]) -> list[Event]:
    """Those of `events` not yet in the history (a consumer that died may have written some)."""
    if not events:
        return []
    written = set(
        JobEvent.objects.filter(
            job_id__in={event.job_id for event in events}, at__in={event.at for event in events}
        ).values_list("job_id", "kind", "at")
    )
    return [event for event in events if (event.job_id, event.kind, event.at) not in written]


def _inherit_starter(events: list[Event], runs: dict) -> None:
    """A job enqueued by another job (a next step, a chord's callback) belongs to the same person."""
    orphans = [e for e in events if e.parent_id and e.changes.get("triggered_by_id", 0) is None]
    if not orphans:
        return
    parents = {e.parent_id for e in orphans}
    starters = dict(JobRun.objects.filter(pk__in=parents).values_list("id", "triggered_by_id"))
    starters.update({pk: run.triggered_by_id for pk, run in runs.items() if pk in parents})
    for event in orphans:
        event.changes["triggered_by_id"] = starters.get(event.parent_id)


_FIELDS = {field.attname: field for field in JobRun._meta.concrete_fields}
_EVENT_AT = JobEvent._meta.get_field("at")
# Values of these fields go to the database as they are; Django's per-value preparation, called
# for 29 columns a row, cost more than the rest of a write.
_PLAIN = (models.CharField, models.TextField, models.IntegerField, models.FloatField, models.BooleanField)


def _prep(field, value):
    if value is None or isinstance(field, _PLAIN) or field.is_relation:
        return value
    return field.get_db_prep_save(value, connection)


_COLUMNS = ", ".join(field.column for field in _FIELDS.values())
_UPSERT = (
    f"INSERT INTO {JobRun._meta.db_table} ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(_FIELDS))}) ON CONFLICT (id) "
    f"DO UPDATE SET {', '.join(f'{f.column} = excluded.{f.column}' for n, f in _FIELDS.items() if n != 'id')}"
)
_NEW_ROW = {name: getattr(JobRun(), name) for name in _FIELDS}  # what a fresh JobRun holds


def insert(cursor, runs: list[JobRun], now) -> None:
    """New rows, whole. ON CONFLICT: another process may have written the row meanwhile."""
    if not runs:
        return
    for run in runs:
        run.updated_at = now
    cursor.executemany(_UPSERT, [[_prep(field, getattr(run, name)) for name, field in _FIELDS.items()] for run in runs])


def insert_enqueued(cursor, task, *, now, user_id: int | None, message: bytes, **extra) -> None:
    """The row and `enqueued` event of a job a request enqueues: two statements, no model instance
    (this runs inside every request that starts a job)."""
    row = {
        **_NEW_ROW,
        **identity(task),
        "id": task.id,
        "state": State.PENDING,
        "state_changed_at": now,
        "enqueued_at": now,
        "updated_at": now,
        "triggered_by_id": user_id,
        "message": kept_message(task, message),
        **extra,
    }
    cursor.execute(_UPSERT, [_prep(field, row[name]) for name, field in _FIELDS.items()])
    insert_events(cursor, [Event(task.id, S.SIGNAL_ENQUEUED, now, {})])


def insert_events(cursor, events: list[Event]) -> None:
    cursor.executemany(
        f"INSERT INTO {JobEvent._meta.db_table} (job_id, kind, at, detail) VALUES (%s, %s, %s, %s)",
        [(event.job_id, event.kind, _prep(_EVENT_AT, event.at), event.detail[:500]) for event in events],
    )


def _update(cursor, runs: dict[str, JobRun], changed: dict[str, set[str]], now) -> None:
    """Existing rows: one UPDATE statement per set of changed columns (usually one for a batch)."""
    groups: dict[tuple[str, ...], list[JobRun]] = defaultdict(list)
    for pk, run in runs.items():
        names = {name for name in changed.get(pk, ()) if name in _FIELDS and name != "id"}
        if names:
            groups[tuple(sorted(names | {"updated_at"}))].append(run)
    for names, group in groups.items():
        assignments = ", ".join(f"{_FIELDS[name].column} = %s" for name in names)
        for run in group:
            run.updated_at = now
        cursor.executemany(
            f"UPDATE {JobRun._meta.db_table} SET {assignments} WHERE id = %s",
            [[*(_prep(_FIELDS[name], getattr(run, name)) for name in names), run.pk] for run in group],
        )
