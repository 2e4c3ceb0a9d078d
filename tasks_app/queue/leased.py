"""Huey on the leased storage: a consumer claims a message, runs it, and marks it done in one
queue transaction with everything Huey writes after the job's own code (a pipeline's next step,
a chord's count and callback, a retry, a paused run held back), so a consumer killed at any
point neither loses a job nor writes a follow-up twice.

`LeasedSqliteHuey` (or `LeasedPostgresHuey`) is the `huey_class` of settings.HUEY. It changes
where Huey touches the queue and nothing else: chords, pipelines, locks, rate limits, priorities
and revoke are Huey's own. Outside a running consumer (a script that calls `dequeue()` and
`execute()`, Huey's own tests) it behaves as stock Huey. With several consumers, each periodic
job runs once per tick (`periodic`: the ledger of ticks).

A job's run, in the consumer: claimed (`dequeue`); its body runs, writing to the queue as it
goes; then what Huey writes afterwards waits in the job's *outbox* and its history events are
kept aside; one transaction checks the claim is still this consumer's, applies the outbox and
marks the message done with the events on it. The history writer (`writer`) writes the events
to the app's database, then acks (deletes) the message. A consumer that dies before the mark
leaves a message that runs again; one that dies after it leaves a done message, whose events
the next consumer writes (`orphaned`) before deleting it. Leases are renewed by a thread of their
own (`LeaseKeeper`) that touches only the queue's database, so a slow app database never makes
a live consumer look dead.

Its extra signals tell the job history what only the queue knows:

- `orphaned`: the consumer that held the job died; once the receivers have recorded it (and, for
  a job that had finished, written the events it left, `task.finished_events`), the job goes back
  to the queue, or away when it had finished.
- `redelivered`: a job runs again after such a death.
- `gave-up`: the job was delivered `max_deliveries` times and never finished; it is not run.
- `finished`: a job's run is done and its message marked so: `task.finished_events` are its
  history events, to write before the message is acked.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import pickle
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from huey import signals as S
from huey.api import Huey, ResultGroup, Task
from huey.consumer import Consumer
from huey.exceptions import ConfigurationError
from huey.utils import Error

from tasks_app.queue import lanes, wakeup
from tasks_app.queue.context import acting_person, current
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
SIGNAL_FINISHED = "finished"

RETRY_FIRST, RETRY_MAX = 0.05, 5.0  # seconds between tries to mark a job done: doubling up to the max


class LeasedHuey(LedgerMixin, HoldingMixin, Huey):
    """Huey on a `storage.LeasedStorage`; its subclasses name the storage."""

    own_signals = HoldingMixin.own_signals | {SIGNAL_ORPHANED, SIGNAL_REDELIVERED, SIGNAL_GAVE_UP, SIGNAL_FINISHED}

    def __init__(
        self,
        *args,
        lease_seconds: float = 30,
        max_deliveries: int = 3,
        lane_limits: dict[str, int] | None = None,
        lane_routes: dict[str, str] | None = None,
        fair_lanes: list[str] = (),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.lease_seconds = lease_seconds
        self.max_deliveries = max_deliveries
        self.lane_limits = lane_limits or {lanes.DEFAULT: 1_000_000}  # the lanes this consumer serves
        self.lane_routes = lane_routes or {}
        # In a fair lane of two places or more, one person's jobs hold all but one of them.
        self.party_caps = {
            lane: limit - 1 for lane, limit in self.lane_limits.items() if lane in fair_lanes and limit >= 2
        }
        self._running: Counter[str] = Counter()  # lane -> messages this consumer holds
        self._running_by_party: Counter[tuple[str, str]] = Counter()  # (fair lane, party) -> the same
        self._lanes_lock = threading.Lock()
        self.consumer_id: str | None = None  # set while this process runs a consumer
        self._stopping = threading.Event()  # set as the consumer stops: claim nothing more
        self._abandoned = False  # stopped while jobs still ran: their claims stay until the process ends
        self._waker: wakeup.Waker | None = None
        self._lease_keeper: LeaseKeeper | None = None
        self._local = threading.local()  # .outbox: the queue writes Huey makes after a job's body
        self._finished: list[int] = []  # messages marked done, acked once their history is written
        self._finished_lock = threading.Lock()

    def create_consumer(self, **options):
        return LeasedConsumer(self, **options)

    def lane_of(self, task) -> str:
        return lanes.lane_of(self._registry.task_to_string(type(task)), self.lane_routes)

    # -- enqueueing (any process) ----------------------------------------------------------------

    def enqueue(self, task):
        if self._later(self.enqueue, task):
            return None
        if not isinstance(task, Task) or self._immediate:
            return super().enqueue(task)  # groups and chords come back here one task at a time
        if task.expires:
            task.resolve_expires(self.utc)
        task.message_data = self.serialize_task(task)  # serialized once: the history keeps it too
        self._emit(S.SIGNAL_ENQUEUED, task)
        once = getattr(task, "handed_over", False)
        self.storage.enqueue(
            task.message_data, task.priority, job_id=task.id, lane=self.lane_of(task), once=once, party=acting_person()
        )
        if not self.results:
            return None
        results = self._pipeline_results(task)
        return ResultGroup(results) if len(results) > 1 else results[0]

    def add_schedule(self, task):
        if self._later(self.add_schedule, task):
            return None
        if self._immediate:
            return super().add_schedule(task)
        eta = task.eta or datetime.datetime.fromtimestamp(0)
        data = self.serialize_task(task)
        self.storage.add_to_schedule(
            data, eta, task.priority, job_id=task.id, lane=self.lane_of(task), party=acting_person()
        )
        logger.info("Added task %s to schedule, eta %s", task.id, eta)
        self._emit(S.SIGNAL_SCHEDULED, task)
        return None

    @property
    def holds_until_resumed(self) -> bool:
        """Whether a paused job's runs wait aside until resumed (immediate mode: as on any Huey)."""
        return not self._immediate

    def hold(self, task) -> None:
        """Keep this run of a paused job aside until the job is resumed (`resume`)."""
        if self._immediate:
            return super().hold(task)
        if self._later(self.hold, task):
            return
        name = self._registry.task_to_string(type(task))
        self.storage.hold(
            self.serialize_task(task),
            name,
            task.priority,
            job_id=task.id,
            lane=self.lane_of(task),
            party=acting_person(),
        )

    def resume(self, name: str) -> int:
        """Put the held runs of job `name` back in the queue now; return how many."""
        return self.storage.unhold(name)

    def put_result(self, key, data):
        if not self._later(self.put_result, key, data):
            super().put_result(key, data)

    def delete(self, key):
        if not self._later(self.delete, key):
            return super().delete(key)
        return None

    def _check_chord(self, cc, value):
        if not self._later(self._check_chord, cc, value):
            super()._check_chord(cc, value)

    def _later(self, method: Callable, *args) -> bool:
        """Inside a claimed job's run, outside its body: keep the call for the job's outbox."""
        outbox = getattr(self._local, "outbox", None)
        if outbox is None:
            return False
        outbox.append(functools.partial(method, *args))
        return True

    def read_schedule(self, timestamp=None):
        """A consumer's scheduler: due delayed jobs move into the queue inside the storage, in one
        transaction, so it is left nothing to enqueue (and a crash in between cannot lose them).
        Outside a consumer, Huey's: the caller enqueues what is due."""
        if self._immediate or self.consumer_id is None:
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
        self._lease_keeper = LeaseKeeper(self)
        self._lease_keeper.start()
        self.release_orphans()  # a predecessor killed on this host: its jobs run again now

    def stop_consuming(self) -> None:
        """The last step of a consumer: the history writer has flushed (and acked) what it had.

        After an interrupted stop, jobs still run in this process: it stays registered, its
        lease renewed until it exits, and its jobs are found orphaned once it has."""
        if self._abandoned:
            return
        self._lease_keeper.stop()
        self.storage.unregister_consumer(self.consumer_id)
        if self._waker is not None:
            self._waker.close()

    @property
    def _wake_address(self) -> str | None:
        return self._waker.address if self._waker else None

    def dequeue(self):
        """Claim the next message; when there is none, wait for a wake-up (Huey's blocking storage)."""
        if self.consumer_id is None:
            return super().dequeue()  # no consumer here: stock Huey takes the message away
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
            held_back = defaultdict(set)
            for (lane, party), running in self._running_by_party.items():
                if running >= self.party_caps[lane]:
                    held_back[lane].add(party)
            claim = self.storage.claim(self.consumer_id, open_lanes, held_back)
            if claim is not None:
                self._running[claim.lane] += 1
                if claim.party is not None and claim.lane in self.party_caps:
                    self._running_by_party[claim.lane, claim.party] += 1
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
            self._finish(claim)
            return None
        task.claim = claim
        if claim.deliveries > 1:
            self._emit(SIGNAL_REDELIVERED, task)
        if claim.deliveries > self.max_deliveries:
            self._give_up(task)
            return None
        return task

    def _give_up(self, task) -> None:
        """Not run again: fail it as Huey fails a job for good, so its chord (if any) goes on."""
        reason = GaveUp(f"the consumer stopped {task.claim.deliveries - 1} times while running this job")
        self._emit(SIGNAL_GAVE_UP, task)
        abort = functools.partial(self._abort_chord_member, task, Error(self.build_error_result(task, reason)))
        self._finish(task.claim, task, [abort])

    def execute(self, task, timestamp=None):
        """Run a claimed job: its body writes to the queue at once; what Huey writes before and
        after it, and the history events after it, wait for the job's done mark (`_finish`)."""
        claim = getattr(task, "claim", None)
        if claim is None:
            return super().execute(task, timestamp)  # outside a consumer: stock Huey
        outbox: list[Callable] = []
        body = task.execute

        def run_body():
            self._local.outbox = None
            try:
                return body()
            finally:
                self._local.outbox = outbox
                current.batch = []  # the job's events from here on are kept for its done mark

        task.execute = run_body
        self._local.outbox = outbox
        current.run_events = []  # every history event of this run (`_finish`)
        current.party = claim.party
        try:
            return super().execute(task, timestamp)
        finally:
            self._local.outbox = None
            del task.execute
            self._finish(claim, task, outbox)
            current.party = None

    def _finish(self, claim: Claim, task=None, outbox: list[Callable] = ()) -> None:
        """Apply the job's outbox and mark its message done, in one queue transaction (tried until
        it commits), then pass its events on (`finished`) and count its lane's place free.

        The message keeps every event of this run (`current.run_events`: those the history writer
        may not have written yet too), for the consumer that deletes it should this one die first."""
        events, current.batch = getattr(current, "batch", None) or [], None
        recorded = getattr(current, "run_events", None) or []
        wait = RETRY_FIRST
        while True:
            current.batch, current.run_events = list(events), list(recorded)  # the follow-ups' events join them
            try:
                with self.storage.transaction():
                    held = self.storage.holds(claim.message_id, self.consumer_id)
                    if held:
                        for call in outbox:
                            call()
                        self.storage.finish(claim.message_id, self.consumer_id, pickle.dumps(current.run_events))
                break
            except Exception:
                logger.exception("could not mark message %s done; trying again in %.2fs", claim.message_id, wait)
                time.sleep(wait)
                wait = min(wait * 2, RETRY_MAX)
        finished_events, current.batch, current.run_events = current.batch, None, None
        if not held:
            logger.warning(
                "message %s was released while its job ran (this consumer was taken for dead)", claim.message_id
            )
        if task is not None:
            task.finished_events = finished_events
            self._emit(SIGNAL_FINISHED, task)
        with self._finished_lock:
            self._finished.append(claim.message_id)
        with self._lanes_lock:
            was_full = self._running[claim.lane] >= self.lane_limits.get(claim.lane, 0)
            self._running[claim.lane] -= 1
            if (claim.lane, claim.party) in self._running_by_party:
                self._running_by_party[claim.lane, claim.party] -= 1
                if not self._running_by_party[claim.lane, claim.party]:
                    del self._running_by_party[claim.lane, claim.party]
        if was_full or claim.lane in self.party_caps:
            self.wake_one()  # a worker may be waiting for a place in this lane, or for its party's

    def wake_one(self) -> None:
        if self._waker is not None:
            self._waker.wake_all(1)

    def take_finished(self) -> list[int]:
        """The messages marked done, to be acked once their history is written."""
        with self._finished_lock:
            message_ids, self._finished = self._finished, []
        return message_ids

    def keep_finished(self, message_ids: list[int]) -> None:
        """Their history could not be written: ack them with a later batch."""
        with self._finished_lock:
            self._finished[:0] = message_ids

    def ack(self, message_ids: list[int]) -> None:
        self.storage.ack(message_ids, self.consumer_id)

    def lease_is_fresh(self) -> bool:
        """Whether this consumer renewed its lease within half a lease: a consumer that could not
        may be the one others take for dead, and judges no one else."""
        keeper = self._lease_keeper
        return keeper is not None and time.monotonic() - keeper.renewed_at < self.lease_seconds / 2

    def release_orphans(self, before_release: Callable[[], None] | None = None) -> None:
        """What happens when a consumer dies: its jobs are signalled `orphaned` (their history is
        written by `before_release`, or at once), then released for another consumer, or deleted
        when they had finished. Should this consumer die in between, the jobs are still held by
        the dead one: found again, not lost."""
        if not self.lease_is_fresh():
            logger.warning("not looking for dead consumers: this consumer's own lease is not fresh")
            return
        orphans = self.storage.find_orphans(self.lease_seconds, self.consumer_id)
        for orphan in orphans:
            try:
                task = self.deserialize_task(orphan.data)
            except Exception:
                continue  # the next claim drops it with a log line
            task.orphan = orphan
            task.finished_events = _events_of(orphan)
            self._emit(SIGNAL_ORPHANED, task)
        if orphans:
            if before_release is not None:
                before_release()
            self.storage.release_orphans(orphans)

    def notify_interrupted_tasks(self):
        """A stop that could not wait for running jobs (SIGINT, or SIGTERM past the shutdown
        timeout): their threads still run them, so their claims stay with this consumer, and
        another consumer runs them again once this process has ended (a stop on purpose: the
        delivery is not counted against them)."""
        claims = [task.claim.message_id for task in list(self._tasks_in_flight) if getattr(task, "claim", None)]
        self._abandoned = bool(claims)
        try:
            self.storage.uncount_delivery(claims, self.consumer_id)
        except Exception:  # the stop goes on: the next delivery is then counted
            logger.exception("could not uncount the deliveries of the interrupted jobs")
        super().notify_interrupted_tasks()


def _events_of(orphan) -> list | None:
    """The history events a done orphan left unwritten (None: it had not finished)."""
    if orphan.outcome is None:
        return None
    try:
        return pickle.loads(orphan.outcome)
    except Exception:
        logger.exception("the history of message %s cannot be read", orphan.message_id)
        return []


class LeaseKeeper(threading.Thread):
    """Renews the consumer's lease every few seconds, touching the queue's database only."""

    def __init__(self, huey: LeasedHuey):
        super().__init__(name="queue-lease", daemon=True)
        self._huey = huey
        self._stop_event = threading.Event()
        self.interval = min(5.0, huey.lease_seconds / 4)
        self.renewed_at = time.monotonic()  # registered just now

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self._huey.storage.beat(self._huey.consumer_id, self._huey._wake_address)
                self.renewed_at = time.monotonic()
            except Exception:
                logger.exception("could not renew the queue lease; trying again in %.0fs", self.interval)

    def stop(self) -> None:
        self._stop_event.set()


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
