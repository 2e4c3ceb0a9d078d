"""The history writer: events are written at once in a web process, batched in the consumer.

Inside the consumer, events are buffered and a background thread writes them in one transaction
as soon as it is free (a group commit: under load, the events that came in while it wrote form
the next batch), so recording history costs a job a list append. After each write the thread
acks the messages whose jobs are done: a done message (`leased`) keeps its job's last events
until they are written here, so a consumer killed at any point loses none. The events of a job
delivered again after its consumer died are written at once. The same thread beats: the
consumer's heartbeat row, the release of dead consumers' jobs and the recovery of lost messages
(the queue lease is renewed by a thread of its own). Nothing ends the thread but the consumer's
stop: a failed step is logged and tried again. In immediate mode everything is written inline.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import socket
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app.models import ConsumerHeartbeat
from tasks_app.queue import history, pause, recovery
from tasks_app.queue.context import current
from tasks_app.queue.leased import LeasedHuey

logger = logging.getLogger("huey")

FLUSH_INTERVAL = 0.2  # seconds the writer waits for events before it acks and beats anyway
GATHER = 0.02  # seconds a batch gathers events once the first one came
MAX_BACKOFF = 5.0  # seconds the writer waits at most before it tries a failed flush again
# Events written in one transaction at most: it holds SQLite's write lock, which every request
# and job waits for (a flush of more writes several transactions).
MAX_BATCH = 100
# Beat often enough that /healthz sees a live consumer as alive: 3 beats per allowed age, at most 5 s.
HEARTBEAT_INTERVAL = min(5.0, settings.HEALTH_CONSUMER_MAX_AGE / 3)


class Writer:
    """Writes events now, or buffers them for the flusher thread once the consumer starts."""

    def __init__(self):
        self._pending: list[history.Event] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._work = threading.Event()  # events are waiting to be written
        self._failures = 0  # flushes in a row that could not write
        self.workers = 0
        self.flushed_at = timezone.now()  # the last flush that wrote and acked everything

    @property
    def buffered(self) -> bool:
        return self._thread is not None

    def add(self, event: history.Event) -> None:
        batch = getattr(current, "batch", None)
        if batch is not None:
            batch.append(event)
        else:
            self.add_many([event])

    def add_many(self, events: list[history.Event]) -> None:
        if self.buffered:
            with self._lock:
                self._pending.extend(events)
            self._work.set()
        elif events:
            history.write(events)

    def flush(self) -> bool:
        """Write what is buffered, then ack the messages of the jobs that had finished before;
        return whether everything was written and acked.

        The finished messages are taken first: a job's events are buffered before its message
        counts as finished, so every message acked here has its history in this batch or an
        earlier one. What is buffered is written MAX_BATCH events a transaction, so no one
        transaction holds SQLite's write lock for long. A batch that cannot be written stays
        buffered for the next flush (and its messages stay claimed, done). A batch failing five
        times in a row is written event by event, so one bad event is dropped, logged, and cannot
        hold the rest back. Acks that fail are kept for the next flush.
        """
        finished = HUEY.take_finished() if _leased_consumer() else []
        with self._lock:
            pending, self._pending = self._pending, []
        for start in range(0, len(pending), MAX_BATCH):
            batch = pending[start : start + MAX_BATCH]
            try:
                history.write(batch)
            except Exception:
                logger.exception("could not write %d job history events; will try again", len(batch))
                with self._lock:
                    self._pending[:0] = pending[start + MAX_BATCH :]
                self._keep(batch)
                HUEY.keep_finished(finished)
                return False
        self._failures = 0
        if finished:
            try:
                HUEY.ack(finished)
            except Exception:
                logger.exception("could not ack %d finished messages; will try again", len(finished))
                HUEY.keep_finished(finished)
                return False
        self.flushed_at = timezone.now()
        return True

    def _keep(self, batch: list[history.Event]) -> None:
        self._failures += 1
        if self._failures < 5:
            with self._lock:
                self._pending[:0] = batch
            return
        for event in batch:
            try:
                history.write([event])
            except Exception:
                logger.exception("dropped job history event %s of job %s", event.kind, event.job_id)
        self._failures = 0

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
        self._work.set()
        thread.join(timeout=10)
        self.flush()
        ConsumerHeartbeat.objects.filter(consumer_id=consumer_id()).delete()
        if _leased_consumer():
            HUEY.stop_consuming()
        atexit.unregister(self.close)

    def _run(self) -> None:
        """Flush, and beat every HEARTBEAT_INTERVAL, until stopped; a step that fails is logged
        and tried again, later and later (up to MAX_BACKOFF seconds), and never ends the thread."""
        started = timezone.now()
        next_beat = 0.0
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                self._stop.wait(backoff)  # after a failure: not sooner, however many events come
            else:
                self._work.wait(FLUSH_INTERVAL)
            self._stop.wait(GATHER)  # let a few more events join the batch: one commit for them all
            self._work.clear()
            try:
                flushed = self.flush()
            except Exception:
                logger.exception("the job history writer failed; trying again")
                flushed = False
            backoff = 0.0 if flushed else min(max(backoff * 2, FLUSH_INTERVAL), MAX_BACKOFF)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_INTERVAL
                _beat(started, self.workers, self.flushed_at)
            try:
                close_old_connections()
            except Exception:
                logger.exception("could not close the database connection")


def _leased_consumer() -> bool:
    """Whether this process consumes the leased SQLite queue (not Redis, not a test's writer)."""
    return isinstance(HUEY, LeasedHuey) and HUEY.consumer_id is not None


def consumer_id() -> str:
    return HUEY.consumer_id if _leased_consumer() else f"{socket.gethostname()}:{os.getpid()}"


def _beat(started: datetime.datetime, workers: int, flushed_at: datetime.datetime) -> None:
    """The consumer's heartbeat row, then the release of dead consumers' jobs and the recovery of
    lost messages: each step on its own, so one failing does not skip the others. (The queue
    lease is renewed by its own thread: `leased.LeaseKeeper`.)"""
    steps = [("write the consumer heartbeat", lambda: _heartbeat(started, workers, flushed_at))]
    if _leased_consumer():
        # The orphans' history is written before they go back to the queue.
        steps.append(("release dead consumers' jobs", lambda: HUEY.release_orphans(before_release=writer.flush)))
        steps.append(("recover lost messages", lambda: recovery.requeue_lost(timezone.now())))
        steps.append(("put back the held runs of resumed jobs", lambda: pause.resume_unpaused(HUEY)))
    for what, step in steps:
        try:
            step()
        except Exception:
            logger.exception("could not %s; trying again at the next beat", what)


def _heartbeat(started: datetime.datetime, workers: int, flushed_at: datetime.datetime) -> None:
    ConsumerHeartbeat.objects.update_or_create(
        consumer_id=consumer_id(),
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "workers": workers,
            "lanes": ", ".join(settings.HUEY_CONSUMER_LANES),
            "started_at": started,
            "beat_at": timezone.now(),
            "history_flushed_at": flushed_at,
        },
    )


writer = Writer()


def record(task, kind: str, detail: str = "", parent_id: str | None = None, **changes) -> None:
    """Record one transition of `task` in its history (no-op when history is off)."""
    if not settings.JOB_HISTORY_ENABLED:
        return
    event = history.Event(task.id, kind, timezone.now(), history.identity(task), changes, detail, parent_id)
    run_events = getattr(current, "run_events", None)
    if run_events is not None:
        run_events.append(event)  # kept on the job's message too, until it is acked
    claim = getattr(task, "claim", None)
    if claim is not None and claim.deliveries > 1 and getattr(current, "batch", None) is None:
        history.write([event])  # a redelivery: its history must not die with this consumer too
    else:
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


@contextmanager
def enqueueing(user_id: int | None = None, recorded: frozenset[str] = frozenset()):
    """Attribute the jobs enqueued in this block to `user_id`, and write their history in one batch.

    `recorded`: ids whose history the caller already wrote (in the request's transaction).
    """
    previous_user, current.user_id = getattr(current, "user_id", None), user_id
    current.recorded = recorded
    current.last_job_id = None  # a fresh start: not the follow-up of a job this thread ran before
    outer_batch = getattr(current, "batch", None)
    if outer_batch is None:
        current.batch = []
    try:
        yield
    finally:
        current.user_id, current.recorded = previous_user, frozenset()
        if outer_batch is None:
            batch, current.batch = current.batch, None
            writer.add_many(batch)
