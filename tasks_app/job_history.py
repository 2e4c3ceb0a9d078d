"""Job history: Huey's signals become JobRun rows, written in batches.

In a web process each event is written at once (a request enqueues a job or two). Inside the
consumer, events are buffered and a background thread writes them every FLUSH_INTERVAL seconds
in one transaction, so recording history costs a job a list append, not a database write. That
thread also writes the consumer's heartbeat. In immediate mode everything is written inline.

`report_progress()` lets a running job publish how far it is; it goes through the same path.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import re
import socket
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from huey import signals as S
from huey.api import PeriodicTask
from huey.contrib.djhuey import HUEY
from huey.exceptions import CancelExecution

from tasks_app.models import ConsumerHeartbeat, JobEvent, JobRun, PausedJob
from tasks_app.services import notifications

logger = logging.getLogger("huey")

FLUSH_INTERVAL = 0.2  # seconds between batched writes in the consumer
# Beat often enough that /healthz sees a live consumer as alive: 3 beats per allowed age, at most 5 s.
HEARTBEAT_INTERVAL = min(5.0, settings.HEALTH_CONSUMER_MAX_AGE / 3)
PROGRESS_INTERVAL = 0.5  # a job's progress is written at most this often (and always at the end)
PAUSE_RECHECK = 30  # seconds a paused job waits in the schedule before it looks again
_REDACTED = "***"

State = JobRun.State
_current = threading.local()  # .job_id while a job runs in this thread; .user_id while enqueueing


@dataclass
class Event:
    job_id: str
    kind: str
    at: datetime.datetime
    identity: dict
    changes: dict = field(default_factory=dict)
    detail: str = ""
    parent_id: str | None = None  # the job that enqueued this one (a pipeline step, a chord callback)


def _aware(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=datetime.UTC)  # Huey runs with utc=True: naive times are UTC


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    return repr(value)[:200]


def _redact(kwargs: dict) -> dict:
    secret = re.compile("|".join(settings.JOB_REDACTED_ARGUMENTS), re.IGNORECASE)
    return {key: _REDACTED if secret.search(key) else _jsonable(value) for key, value in kwargs.items()}


def _identity(task) -> dict:
    return {
        "name": HUEY._registry.task_to_string(type(task)),
        "queue": HUEY.name,
        "priority": task.priority,
        "args": _jsonable(list(task.args)),
        "kwargs": _redact({k: v for k, v in task.kwargs.items() if k != "task"}),
        "periodic": isinstance(task, PeriodicTask),
        "retries_left": task.retries,
    }


# -- applying events to rows -----------------------------------------------------------------


def _apply(run: JobRun, event: Event) -> None:
    """Move one JobRun through one event; `retrying` survives the re-scheduling that follows it."""
    changes = dict(event.changes)
    new_state = changes.get("state")
    if new_state in (State.PENDING, State.SCHEDULED) and run.state == State.RETRYING:
        changes["state"] = State.RETRYING
    if event.kind == S.SIGNAL_ENQUEUED and run.enqueued_at is not None:
        changes.pop("enqueued_at", None)  # a retry re-enqueues: keep the first time
        changes.pop("triggered_by_id", None)
    if event.kind == S.SIGNAL_EXECUTING:
        run.attempts += 1
    for name, value in changes.items():
        setattr(run, name, value)


def write(events: list[Event]) -> None:
    """Apply a batch of events in one transaction: one SELECT of the rows they touch, then
    `executemany` statements of only the columns that changed (Django's bulk_update builds a
    CASE expression per field and row, which cost more than the jobs it records)."""
    with transaction.atomic():
        runs = JobRun.objects.in_bulk({event.job_id for event in events})
        existing = set(runs)
        _inherit_starter(events, runs)
        changed: dict[str, set[str]] = defaultdict(set)
        for event in events:
            run = runs.get(event.job_id)
            if run is None:
                if not event.identity:  # progress of a job whose row is gone (pruned): nothing to update
                    continue
                run = runs[event.job_id] = JobRun(id=event.job_id, **event.identity)
            _apply(run, event)
            changed[run.pk].update(event.changes)
            if event.kind == S.SIGNAL_EXECUTING:
                changed[run.pk].add("attempts")
        now = timezone.now()
        with connection.cursor() as cursor:
            _insert(cursor, [run for pk, run in runs.items() if pk not in existing], now)
            _update(cursor, {pk: runs[pk] for pk in existing}, changed, now)
            cursor.executemany(
                f"INSERT INTO {JobEvent._meta.db_table} (job_id, kind, at, detail) VALUES (%s, %s, %s, %s)",
                [
                    (event.job_id, event.kind, _prep(_EVENT_AT, event.at), event.detail[:500])
                    for event in events
                    if event.identity and event.job_id in runs
                ],
            )


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


def _prep(field, value):
    return field.get_db_prep_save(value, connection)


def _insert(cursor, runs: list[JobRun], now) -> None:
    """New rows, whole. ON CONFLICT: another process may have written the row meanwhile."""
    if not runs:
        return
    names = list(_FIELDS)
    columns = ", ".join(_FIELDS[name].column for name in names)
    updates = ", ".join(f"{_FIELDS[n].column} = excluded.{_FIELDS[n].column}" for n in names if n != "id")
    for run in runs:
        run.updated_at = now
    cursor.executemany(
        f"INSERT INTO {JobRun._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(names))}) "
        f"ON CONFLICT (id) DO UPDATE SET {updates}",
        [[_prep(_FIELDS[name], getattr(run, name)) for name in names] for run in runs],
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


class Writer:
    """Writes events now, or buffers them for the flusher thread once the consumer starts."""

    def __init__(self):
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.workers = 0

    @property
    def buffered(self) -> bool:
        return self._thread is not None

    def add(self, event: Event) -> None:
        batch = getattr(_current, "batch", None)
        if batch is not None:
            batch.append(event)
        elif self.buffered:
            with self._lock:
                self._pending.append(event)
        else:
            write([event])

    def add_many(self, events: list[Event]) -> None:
        if self.buffered:
            with self._lock:
                self._pending.extend(events)
        elif events:
            write(events)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                write(batch)
            except Exception:
                logger.exception("could not write %d job history events", len(batch))

    def start(self) -> None:
        """Called by each consumer worker as it starts; the first one starts the flusher thread."""
        with self._lock:
            self.workers += 1
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="job-history", daemon=True)
                self._thread.start()
                # An interrupting stop (SIGINT, or SIGTERM past the shutdown timeout) skips the
                # workers' shutdown hooks; the interpreter's exit still flushes what is left.
                atexit.register(self.close)

    def stop(self) -> None:
        """Called by each consumer worker as it stops; the last one closes the writer."""
        with self._lock:
            self.workers -= 1
            last = self.workers <= 0
        if last:
            self.close()

    def close(self) -> None:
        """End the flusher thread, write what is buffered, and take this consumer's heartbeat away."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=10)
        self.flush()
        ConsumerHeartbeat.objects.filter(consumer_id=_consumer_id()).delete()
        atexit.unregister(self.close)

    def _run(self) -> None:
        started = timezone.now()
        next_beat = 0.0
        while not self._stop.wait(FLUSH_INTERVAL):
            self.flush()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
                _beat(started, self.workers)
            close_old_connections()


def _consumer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _beat(started: datetime.datetime, workers: int) -> None:
    try:
        ConsumerHeartbeat.objects.update_or_create(
            consumer_id=_consumer_id(),
            defaults={
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
                "workers": workers,
                "started_at": started,
                "beat_at": timezone.now(),
            },
        )
    except Exception:
        logger.exception("could not write the consumer heartbeat")


writer = Writer()


def record(task, kind: str, detail: str = "", parent_id: str | None = None, **changes) -> None:
    """Record one transition of `task` in its history (no-op when history is off)."""
    if not settings.JOB_HISTORY_ENABLED:
        return
    event = Event(task.id, kind, timezone.now(), _identity(task), changes, detail, parent_id)
    writer.add(event)
    logger.info(
        "job event=%s name=%s id=%s state=%s duration=%s%s",
        kind,
        event.identity["name"].rsplit(".", 1)[-1],
        task.id,
        changes.get("state", "-"),
        changes.get("duration", "-"),
        f" detail={detail!r}" if detail else "",
    )


# -- Huey signals and hooks ------------------------------------------------------------------


@HUEY.signal(S.SIGNAL_ENQUEUED)
def _on_enqueued(signal, task, *args) -> None:
    eta = _aware(task.eta)
    waiting = eta is not None and eta > timezone.now()
    record(
        task,
        signal,
        state=State.SCHEDULED if waiting else State.PENDING,
        enqueued_at=timezone.now(),
        eta=eta,
        triggered_by_id=getattr(_current, "user_id", None),
        # Huey enqueues a job's next step or chord callback just after the job: still its parent.
        parent_id=current_job_id() or getattr(_current, "last_job_id", None),
        message=bytes(HUEY.serialize_task(task)),
        retries_left=task.retries,
    )


@HUEY.signal(S.SIGNAL_SCHEDULED)
def _on_scheduled(signal, task, *args) -> None:
    if getattr(task, "history_paused", False):
        return  # recorded once, as "paused" (below)
    record(task, signal, state=State.SCHEDULED, eta=_aware(task.eta), retries_left=task.retries)


@HUEY.signal(S.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args) -> None:
    _current.started = time.monotonic()
    record(task, signal, state=State.RUNNING, started_at=timezone.now(), finished_at=None, eta=None)


def _finished() -> dict:
    """finished_at and, when the job ran in this thread, its duration in seconds."""
    started = getattr(_current, "started", None)
    _current.started = None
    changes = {"finished_at": timezone.now()}
    if started is not None:
        changes["duration"] = round(time.monotonic() - started, 4)
    return changes


@HUEY.signal(S.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args) -> None:
    record(
        task,
        signal,
        state=State.SUCCEEDED,
        result_summary=getattr(task, "history_result", ""),
        error="",
        traceback="",
        message=None,
        **_finished(),
    )


def _failure(task, kind: str, error: str, traceback: str = "") -> None:
    final = not task.retries
    if final:
        _tell_staff(task, error)
    record(
        task,
        kind,
        detail=error,
        state=State.FAILED if final else State.RETRYING,
        error=error,
        traceback=traceback,
        **_finished(),
    )


@HUEY.signal(S.SIGNAL_ERROR)
def _on_error(signal, task, exc=None, *args) -> None:
    tb = HUEY.build_error_result(task, exc)["traceback"] if exc is not None else ""
    _failure(task, signal, f"{type(exc).__name__}: {exc}" if exc is not None else "error", tb)


def record_retry(task, exc: Exception, delay: float) -> None:
    """A job asked to be retried after `exc` (Huey signals no error for RetryTask)."""
    record(
        task,
        S.SIGNAL_ERROR,
        detail=f"{type(exc).__name__}: {exc}; retrying in {delay:.1f}s",
        state=State.RETRYING,
        error=f"{type(exc).__name__}: {exc}",
        traceback=HUEY.build_error_result(task, exc)["traceback"],
        **_finished(),
    )


@HUEY.signal(S.SIGNAL_TIMEOUT)
def _on_timeout(signal, task, *args) -> None:
    _failure(task, signal, f"Timed out after {task.timeout}s")


def _tell_staff(task, error: str) -> None:
    if settings.JOB_HISTORY_ENABLED:
        name = HUEY._registry.task_to_string(type(task)).rsplit(".", 1)[-1]
        notifications.notify_staff_job_failed(job_id=task.id, job_name=name, error=error[:300])


@HUEY.signal(S.SIGNAL_INTERRUPTED)
def _on_interrupted(signal, task, *args) -> None:
    _tell_staff(task, "interrupted: the consumer stopped while it ran")
    record(
        task,
        signal,
        state=State.FAILED,
        **_finished(),
        error="Interrupted: the consumer stopped while this job ran. Retry it from the dashboard.",
    )


@HUEY.signal(S.SIGNAL_RETRYING)
def _on_retrying(signal, task, *args) -> None:
    # Huey signals before it decrements the retries it has left.
    record(task, signal, state=State.RETRYING, retries_left=max(task.retries - 1, 0))


@HUEY.signal(S.SIGNAL_LOCKED)
def _on_locked(signal, task, *args) -> None:
    if task.retries:
        record(task, signal, state=State.RETRYING, detail="lock held by another run")
    else:
        record(
            task,
            signal,
            state=State.REVOKED,
            **_finished(),
            error="Skipped: another run of this job holds its lock.",
        )


@HUEY.signal(S.SIGNAL_RATE_LIMITED)
def _on_rate_limited(signal, task, *args) -> None:
    record(task, signal, state=State.RETRYING, detail="rate limited: waiting for the next window")


@HUEY.signal(S.SIGNAL_REVOKED, S.SIGNAL_EXPIRED, S.SIGNAL_CANCELED)
def _on_not_run(signal, task, *args) -> None:
    if getattr(task, "history_paused", False):
        record(task, "paused", detail="job paused", state=State.SCHEDULED, eta=_aware(task.eta))
        return
    state = {S.SIGNAL_EXPIRED: State.EXPIRED}.get(signal, State.REVOKED)
    record(task, signal, state=state, **_finished())


@HUEY.pre_execute()
def _before_job(task) -> None:
    _current.job_id, _current.task = task.id, task
    _current.progress_written = 0.0
    _current.unwritten_progress = None
    if HUEY._registry.task_to_string(type(task)) in paused_names():
        _current.job_id = None
        task.history_paused = True
        task.eta = timezone.now().replace(tzinfo=None) + datetime.timedelta(seconds=PAUSE_RECHECK)
        HUEY.add_schedule(task)
        raise CancelExecution(retry=False)


_paused_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


def paused_names() -> frozenset[str]:
    """Names of paused jobs, read from the database at most once a second per process."""
    global _paused_cache
    read_at, names = _paused_cache
    if time.monotonic() - read_at > 1.0:
        names = frozenset(PausedJob.objects.values_list("name", flat=True))
        _paused_cache = (time.monotonic(), names)
    return names


def forget_paused_names() -> None:
    global _paused_cache
    _paused_cache = (0.0, frozenset())


@HUEY.post_execute()
def _after_job(task, value, exception) -> None:
    _write_progress(task.id)
    _current.job_id, _current.last_job_id = None, task.id
    if exception is None:
        task.history_result = summarize(value)


@HUEY.on_startup()
def _consumer_started() -> None:
    writer.start()


@HUEY.on_shutdown()
def _consumer_stopping() -> None:
    writer.stop()


def summarize(value) -> str:
    """A short, human-readable form of a job's return value."""
    if value is None:
        return ""
    return repr(_jsonable(value))[:500]


# -- what jobs and callers use ---------------------------------------------------------------


@contextmanager
def enqueueing(user_id: int | None = None):
    """Attribute the jobs enqueued in this block to `user_id`, and write their history in one batch."""
    previous_user, _current.user_id = getattr(_current, "user_id", None), user_id
    _current.last_job_id = None  # a fresh start: not the follow-up of a job this thread ran before
    outer_batch = getattr(_current, "batch", None)
    if outer_batch is None:
        _current.batch = []
    try:
        yield
    finally:
        _current.user_id = previous_user
        if outer_batch is None:
            batch, _current.batch = _current.batch, None
            writer.add_many(batch)


def current_job_id() -> str | None:
    """The id of the job running in this thread, if any."""
    return getattr(_current, "job_id", None)


def report_progress(current: int, total: int, message: str = "") -> None:
    """Publish the running job's progress; any web process can read it from its JobRun.

    Writes are throttled to one per PROGRESS_INTERVAL; the last step reported is always written,
    at the latest when the job ends. Outside a job (a service called directly) it does nothing.

    It is also where a job's `timeout=` bites with thread workers: Huey enforces timeouts with
    SIGALRM only in process workers; elsewhere a job must look, and this looks for it.
    """
    job_id = current_job_id()
    if job_id is None:
        return
    _current.task.check_timeout()  # raises TaskTimeout past the job's deadline
    if not settings.JOB_HISTORY_ENABLED:
        return
    _current.unwritten_progress = {
        "progress_current": max(current, 0),
        "progress_total": max(total, 0),
        "progress_message": message[:300],
    }
    now = time.monotonic()
    if current >= total or now - getattr(_current, "progress_written", 0.0) >= PROGRESS_INTERVAL:
        _current.progress_written = now
        _write_progress(job_id)


def _write_progress(job_id: str) -> None:
    changes, _current.unwritten_progress = getattr(_current, "unwritten_progress", None), None
    if changes:
        writer.add(Event(job_id=job_id, kind="progress", at=timezone.now(), identity={}, changes=changes))
