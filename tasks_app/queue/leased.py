"""Huey on the leased storage: a consumer claims a message, runs it, and acks it only once Huey
is done with it (and its history is written), so a consumer that dies loses no job.

`LeasedSqliteHuey` (or `LeasedPostgresHuey`) is the `huey_class` of settings.HUEY. It changes
where Huey touches the queue and nothing else: chords, pipelines, locks, rate limits, priorities
and revoke are Huey's own. With several consumers, each periodic job runs once per tick
(`periodic`: the ledger of ticks).
Its extra signals tell the job history what only the queue knows:

- `orphaned`: the consumer that held the job died; once the receivers have recorded it, the job
  goes back to the queue.
- `redelivered`: a job runs again after such a death; a receiver may set `task.skip_reason`
  when the job already finished (its ack was lost with the consumer), and it is not run again.
- `gave-up`: the job was delivered `max_deliveries` times and never finished; it is not run.
"""

from __future__ import annotations

import datetime
import logging
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable

from huey import signals as S
from huey.api import Huey, ResultGroup, Task
from huey.consumer import Consumer
from huey.exceptions import ConfigurationError
from huey.utils import Error

from tasks_app.queue import lanes, wakeup
from tasks_app.queue.holding import HoldingMixin
from tasks_app.queue.periodic import LedgerMixin
from tasks_app.queue.postgres import LeasedPostgresStorage
from tasks_app.queue.storage import HOSTNAME, Claim, LeasedSqliteStorage

logger = logging.getLogger("huey")


class GaveUp(Exception):
    """A job delivered `max_deliveries` times that never finished."""


SIGNAL_ORPHANED = "orphaned"
SIGNAL_REDELIVERED = "redelivered"
SIGNAL_GAVE_UP = "gave-up"


class LeasedHuey(LedgerMixin, HoldingMixin, Huey):
    """Huey on a `storage.LeasedStorage`; its subclasses name the storage."""

    def __init__(
        self,
        *args,
        lease_seconds: float = 30,
        max_deliveries: int = 3,
        lane_limits: dict[str, int] | None = None,
        lane_routes: dict[str, str] | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        self.max_deliveries = max_deliveries
        self.lane_limits = lane_limits or {lanes.DEFAULT: 1_000_000}  # the lanes this consumer serves
        self.lane_routes = lane_routes or {}
        self._running: Counter[str] = Counter()  # lane -> messages this consumer holds
        self._lanes_lock = threading.Lock()
        self.consumer_id: str | None = None  # set while this process runs a consumer
        self._stopping = threading.Event()  # set as the consumer stops: claim nothing more
        self._waker: wakeup.Waker | None = None
        self._finished: list[int] = []  # claims Huey is done with, acked once their history is written
        self._finished_lock = threading.Lock()

    def create_consumer(self, **options):
        return LeasedConsumer(self, **options)

    def lane_of(self, task) -> str:
        return lanes.lane_of(self._registry.task_to_string(type(task)), self.lane_routes)

    # -- enqueueing (any process) ----------------------------------------------------------------

    def enqueue(self, task):
        if not isinstance(task, Task) or self._immediate:
            return super().enqueue(task)  # groups and chords come back here one task at a time
        if task.expires:
            task.resolve_expires(self.utc)
        task.message_data = self.serialize_task(task)  # serialized once: the history keeps it too
        self._emit(S.SIGNAL_ENQUEUED, task)
        self.storage.enqueue(task.message_data, task.priority, job_id=task.id, lane=self.lane_of(task))
        if not self.results:
            return None
        results = self._pipeline_results(task)
        return ResultGroup(results) if len(results) > 1 else results[0]

    def add_schedule(self, task):
        if self._immediate:
            return super().add_schedule(task)
        eta = task.eta or datetime.datetime.fromtimestamp(0)
        data = self.serialize_task(task)
        self.storage.add_to_schedule(data, eta, task.priority, job_id=task.id, lane=self.lane_of(task))
        logger.info("Added task %s to schedule, eta %s", task.id, eta)
        self._emit(S.SIGNAL_SCHEDULED, task)
        return None

    def read_schedule(self, timestamp=None):
        """Due delayed jobs move into the queue inside the storage, in one transaction, so the
        scheduler is left nothing to enqueue (and a crash in between cannot lose them)."""
        if self._immediate:
            return super().read_schedule(timestamp)
        moved = self.storage.enqueue_due(timestamp or self._get_timestamp())
        for task in self._deserialize_all(moved):
            self._emit(S.SIGNAL_ENQUEUED, task)
        return []

    # -- consuming (the consumer process) ------------------------------------------------------

    def start_consuming(self) -> None:
        self.consumer_id = f"{HOSTNAME}:{os.getpid()}:{secrets.token_hex(3)}"
        self._waker = wakeup.create_waker()
        self.storage.register_consumer(self.consumer_id, self._wake_address)
        self.release_orphans()  # a predecessor killed on this host: its jobs run again now

    def stop_consuming(self) -> None:
        """The last step of a consumer: the history writer has flushed (and acked) what it had."""
        self.storage.unregister_consumer(self.consumer_id)
        if self._waker is not None:
            self._waker.close()

    @property
    def _wake_address(self) -> str | None:
        return self._waker.address if self._waker else None

    def dequeue(self):
        """Claim the next message; when there is none, wait for a wake-up (Huey's blocking storage)."""
        claim = self._claim()
        if claim is None:
            self._wait()
            claim = self._claim()
        return self._task_for(claim) if claim else None

    def _claim(self) -> Claim | None:
        """Claim from the lanes below their limit; the count is taken with the claim, under one lock."""
        if self._stopping.is_set():
            return None
        with self._lanes_lock:
            open_lanes = [lane for lane, limit in self.lane_limits.items() if self._running[lane] < limit]
            claim = self.storage.claim(self.consumer_id, open_lanes)
            if claim is not None:
                self._running[claim.lane] += 1
        return claim

    def _wait(self) -> None:
        if self._waker is not None:
            self._waker.wait()
        else:
            threading.Event().wait(wakeup.WAIT)

    def stop_claiming(self, workers: int) -> None:
        """The consumer stops: idle workers waiting for a wake-up return now, claiming nothing."""
        self._stopping.set()
        if self._waker is not None:
            self._waker.wake_all(workers)

    def _task_for(self, claim: Claim) -> Task | None:
        try:
            task = self.deserialize_task(claim.data)
        except Exception:
            logger.exception("dropped message %s: it cannot be read", claim.message_id)
            self._done(claim)
            return None
        task.claim = claim
        if claim.deliveries > 1:
            self._emit(SIGNAL_REDELIVERED, task)
            if getattr(task, "skip_reason", None):  # it had finished: only its ack was lost
                self.finished(task)
                return None
        if claim.deliveries > self.max_deliveries:
            self._give_up(task)
            return None
        return task

    def _give_up(self, task) -> None:
        """Not run again: fail it as Huey fails a job for good, so its chord (if any) goes on."""
        reason = GaveUp(f"the consumer stopped {task.claim.deliveries - 1} times while running this job")
        self._emit(SIGNAL_GAVE_UP, task)
        self._abort_chord_member(task, Error(self.build_error_result(task, reason)))
        self.finished(task)

    def execute(self, task, timestamp=None):
        try:
            return super().execute(task, timestamp)
        finally:
            self.finished(task)

    def finished(self, task) -> None:
        """Huey is done with this task's message (run, retried, rescheduled, revoked...): ack it soon."""
        claim = getattr(task, "claim", None)
        if claim is not None:
            self._done(claim)

    def _done(self, claim: Claim) -> None:
        with self._finished_lock:
            self._finished.append(claim.message_id)
        with self._lanes_lock:
            was_full = self._running[claim.lane] >= self.lane_limits.get(claim.lane, 0)
            self._running[claim.lane] -= 1
        if was_full:
            self.wake_one()  # a worker may be waiting for a place in this lane

    def wake_one(self) -> None:
        if self._waker is not None:
            self._waker.wake_all(1)

    def take_finished(self) -> list[int]:
        """The messages Huey is done with, to be acked once their history is written."""
        with self._finished_lock:
            message_ids, self._finished = self._finished, []
        return message_ids

    def keep_finished(self, message_ids: list[int]) -> None:
        """Their history could not be written: ack them with a later batch."""
        with self._finished_lock:
            self._finished[:0] = message_ids

    def ack(self, message_ids: list[int]) -> None:
        self.storage.ack(message_ids, self.consumer_id)

    def beat(self, before_release: Callable[[], None] | None = None) -> None:
        """Renew this consumer's leases and release the jobs of consumers that died."""
        self.storage.beat(self.consumer_id, self._wake_address)
        self.release_orphans(before_release)

    def release_orphans(self, before_release: Callable[[], None] | None = None) -> None:
        """What happens when a consumer dies: its jobs are signalled `orphaned` (their history is
        written by `before_release`, or at once), then released for another consumer. Should this
        consumer die in between, the jobs are still held by the dead one: found again, not lost."""
        orphans = self.storage.find_orphans(self.lease_seconds, self.consumer_id)
        for orphan in orphans:
            try:
                task = self.deserialize_task(orphan.data)
            except Exception:
                continue  # the next claim drops it with a log line
            task.orphan = orphan
            self._emit(SIGNAL_ORPHANED, task)
        if orphans:
            if before_release is not None:
                before_release()
            self.storage.release_orphans(orphans)

    def notify_interrupted_tasks(self):
        """A stop that could not wait for running jobs: they go back to the queue for another run."""
        claims = [task.claim.message_id for task in list(self._tasks_in_flight) if getattr(task, "claim", None)]
        super().notify_interrupted_tasks()
        if claims:
            self.storage.release(claims, self.consumer_id)


class LeasedSqliteHuey(LeasedHuey):
    """The queue in its own SQLite file; consumers on this host are woken through their sockets."""

    storage_class = LeasedSqliteStorage


class LeasedPostgresHuey(LeasedHuey):
    """The queue in PostgreSQL: consumers on any machine claim with SKIP LOCKED and LISTEN for work."""

    storage_class = LeasedPostgresStorage

    def start_consuming(self) -> None:
        super().start_consuming()
        self.storage.start_listening(self._waker)

    def stop_consuming(self) -> None:
        self.storage.stop_listening()
        super().stop_consuming()


class LeasedConsumer(Consumer):
    """Huey's consumer, registered with the queue while it runs; thread workers only."""

    def __init__(self, huey: LeasedHuey, **options):
        worker_type = options.get("worker_type", "thread")
        if worker_type != "thread":
            raise ConfigurationError(
                f"The leased queue runs thread workers only (got -k {worker_type}): its leases are held "
                "by the consumer process. Use the default `-k thread`, and more consumers for more CPU."
            )
        super().__init__(huey, **options)

    def start(self):
        self.huey.start_consuming()
        super().start()

    def stop(self, graceful=False):
        self.stop_flag.set()
        self.huey.stop_claiming(self.workers)
        super().stop(graceful)
