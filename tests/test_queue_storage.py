"""The leased queue on real files and a real PostgreSQL server: a message is ready, claimed by one
consumer, then acked or released; a dead consumer's messages come back; delayed messages move in
one transaction; Huey runs on top unchanged; an enqueue wakes an idle consumer at once."""

import datetime
import os
import subprocess
import threading
import time

import pytest
from huey import crontab, group
from huey.exceptions import TaskException

from tasks_app.queue import wakeup
from tasks_app.queue.leased import SIGNAL_GAVE_UP, SIGNAL_ORPHANED, SIGNAL_REDELIVERED, LeasedHuey
from tests.backends import DATABASE_ERRORS
from tests.concurrency import at_once

A, B = "consumer-a", "consumer-b"
LANES = ["default"]
LEASE = 5  # seconds; beats are aged by hand, never waited for
LONG_LEASE = 3600  # no beat expires: only a dead process releases its messages
MAX_DELIVERIES = 2
QUICK = 0.5  # seconds: a wake-up arrives well before wakeup.WAIT


# -- storage helpers ---------------------------------------------------------------------------


@pytest.fixture
def storage(queue_backend):
    """A queue of this test's own, with two live consumers (this process) registered."""
    storage = queue_backend.storage()
    storage.register_consumer(A, None)
    storage.register_consumer(B, None)
    yield storage
    storage.close()


def put(storage, *payloads: str, priority=None, job_id=None):
    for payload in payloads:
        storage.enqueue(payload.encode(), priority, job_id=job_id)


def claim(storage, consumer: str):
    return storage.claim(consumer, LANES)


def claimed_data(storage, consumer: str) -> bytes | None:
    held = claim(storage, consumer)
    return held and held.data


def sizes(storage) -> tuple[int, int, int]:
    """(ready, claimed, delayed)"""
    return storage.queue_size(), storage.claimed_size(), storage.schedule_size()


def rows_in(storage, table: str) -> int:
    return storage.sql(f"select count(*) from {table}", results=True)[0][0]


def consumers(storage) -> set[str]:
    return {consumer_id for (consumer_id,) in storage.sql("select id from consumer", results=True)}


def set_consumer(storage, consumer: str, column: str, value) -> None:
    storage.sql(f"update consumer set {column} = ? where id = ?", (value, consumer), commit=True)


def age_beat(storage, consumer: str, seconds: float) -> None:
    storage.sql("update consumer set beat_at = beat_at - ? where id = ?", (seconds, consumer), commit=True)


def on_another_host(storage, consumer: str) -> None:
    """Its process cannot be looked up from here: only its beat says whether it lives."""
    set_consumer(storage, consumer, "host", "another-host")


def exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def release_dead(storage, lease_seconds: float, current_id: str) -> list:
    """What a consumer's beat does: find the dead consumers' messages, then release them."""
    orphans = storage.find_orphans(lease_seconds, current_id)
    storage.release_orphans(orphans)
    return orphans


def released(orphans) -> list[tuple[bytes, str]]:
    return [(orphan.data, orphan.claimed_by) for orphan in orphans]


def in_minutes(minutes: float) -> datetime.datetime:
    return datetime.datetime.now() + datetime.timedelta(minutes=minutes)


# -- claim and ack -----------------------------------------------------------------------------


class TestClaimAndAck:
    def test_a_claimed_message_is_deleted_when_its_consumer_acks_it(self, storage):
        put(storage, "a")
        held = claim(storage, A)
        assert (held.data, held.deliveries, held.lane) == (b"a", 1, "default")
        storage.ack([held.message_id], A)
        assert sizes(storage) == (0, 0, 0)
        assert rows_in(storage, "message") == 0

    def test_an_ack_from_a_consumer_that_does_not_hold_the_message_deletes_nothing(self, storage):
        put(storage, "a")
        held = claim(storage, A)
        storage.ack([held.message_id], B)
        assert sizes(storage) == (0, 1, 0)

    def test_a_claimed_message_is_counted_as_claimed_not_as_waiting(self, storage):
        put(storage, "a", "b")
        claim(storage, A)
        assert sizes(storage) == (1, 1, 0)
        assert storage.enqueued_items() == [b"b"]

    def test_a_claimed_message_is_never_handed_to_a_second_consumer(self, storage):
        put(storage, "a", "b")
        assert claimed_data(storage, A) == b"a"
        assert claimed_data(storage, B) == b"b"
        assert claim(storage, B) is None
        assert claim(storage, A) is None

    def test_huey_s_own_dequeue_takes_only_ready_messages(self, storage):
        put(storage, "a", "b")
        claim(storage, A)
        assert storage.dequeue() == b"b"
        assert storage.dequeue() is None
        assert sizes(storage) == (0, 1, 0)

    def test_the_highest_priority_goes_first_and_equal_priorities_leave_in_order(self, storage):
        put(storage, "low-1", "low-2")
        put(storage, "high-1", "high-2", priority=10)
        put(storage, "mid", priority=5)
        expected = [b"high-1", b"high-2", b"mid", b"low-1", b"low-2"]
        assert storage.enqueued_items() == expected
        assert [claimed_data(storage, A) for _ in expected] == expected


# -- leases and dead consumers -----------------------------------------------------------------


class TestLeases:
    def test_a_consumer_whose_beat_is_older_than_the_lease_loses_its_messages(self, storage):
        put(storage, "a")
        on_another_host(storage, A)
        before = time.time()
        held = claim(storage, A)
        age_beat(storage, A, LEASE * 2)

        orphans = release_dead(storage, LEASE, B)
        assert released(orphans) == [(b"a", A)]
        assert orphans[0].message_id == held.message_id
        assert before <= orphans[0].claimed_at <= time.time()
        assert sizes(storage) == (1, 0, 0)
        assert consumers(storage) == {B}

    def test_an_orphaned_message_is_claimed_again_with_its_delivery_counted(self, storage):
        put(storage, "a")
        on_another_host(storage, A)
        claim(storage, A)
        age_beat(storage, A, LEASE * 2)
        release_dead(storage, LEASE, B)

        again = claim(storage, B)
        assert (again.data, again.deliveries) == (b"a", 2)

    def test_a_consumer_that_beats_keeps_its_messages(self, storage):
        put(storage, "a")
        on_another_host(storage, A)
        claim(storage, A)
        age_beat(storage, A, LEASE * 2)
        storage.beat(A, None)  # the lease is renewed just in time

        assert release_dead(storage, LEASE, B) == []
        assert sizes(storage) == (0, 1, 0)
        assert consumers(storage) == {A, B}

    def test_a_consumer_declared_dead_registers_again_on_its_next_beat(self, storage):
        storage.unregister_consumer(A)
        storage.beat(A, None)
        assert consumers(storage) == {A, B}

    def test_a_claimed_message_is_released_at_once_when_its_consumer_process_has_exited(self, storage):
        put(storage, "a")
        claim(storage, A)
        set_consumer(storage, A, "pid", exited_pid())

        assert released(release_dead(storage, LONG_LEASE, B)) == [(b"a", A)]
        assert sizes(storage) == (1, 0, 0)

    def test_a_consumer_in_another_process_table_of_this_host_is_judged_by_its_beat_only(self, storage):
        # A container with host networking: the same host name, its own pid namespace.
        put(storage, "a")
        claim(storage, A)
        set_consumer(storage, A, "pid", exited_pid())
        set_consumer(storage, A, "pid_namespace", "pid:[1]")

        assert release_dead(storage, LONG_LEASE, B) == []
        age_beat(storage, A, 2 * LEASE)
        assert released(release_dead(storage, LEASE, B)) == [(b"a", A)]

    def test_a_predecessor_with_our_own_pid_is_dead_but_the_current_consumer_is_not(self, storage):
        # A container restarts its process with the same pid: A is B's predecessor.
        put(storage, "a", "b")
        claim(storage, A)
        claim(storage, B)
        assert {pid for (pid,) in storage.sql("select pid from consumer", results=True)} == {os.getpid()}

        assert released(release_dead(storage, LONG_LEASE, B)) == [(b"a", A)]
        assert sizes(storage) == (1, 1, 0)
        assert consumers(storage) == {B}

    def test_without_its_own_id_a_caller_counts_consumers_of_its_pid_as_alive(self, storage):
        put(storage, "a")
        claim(storage, A)
        assert storage.find_orphans(LONG_LEASE) == []

    def test_an_orphan_found_but_not_yet_released_stays_held_and_is_found_again(self, storage):
        # The consumer that found it died before it released it (it writes the history in between).
        put(storage, "a")
        claim(storage, A)
        set_consumer(storage, A, "pid", exited_pid())
        assert released(storage.find_orphans(LONG_LEASE, B)) == [(b"a", A)]
        assert sizes(storage) == (0, 1, 0)

        assert released(release_dead(storage, LONG_LEASE, B)) == [(b"a", A)]
        assert sizes(storage) == (1, 0, 0)


class TestRelease:
    @pytest.mark.parametrize(("count_delivery", "deliveries"), [(False, 1), (True, 2)])
    def test_a_released_message_is_ready_again_its_delivery_counted_only_when_asked(
        self, storage, count_delivery, deliveries
    ):
        put(storage, "a")
        held = claim(storage, A)
        storage.release([held.message_id], A, count_delivery=count_delivery)
        assert sizes(storage) == (1, 0, 0)
        assert claim(storage, B).deliveries == deliveries

    def test_only_the_consumer_holding_a_message_can_release_it(self, storage):
        put(storage, "a")
        held = claim(storage, A)
        storage.release([held.message_id], B)
        assert sizes(storage) == (0, 1, 0)
        assert claim(storage, B) is None


# -- delayed messages --------------------------------------------------------------------------

FAIL_DELETE = {
    "sqlite": ["create trigger fail_delete before delete on delayed begin select raise(abort, 'injected'); end"],
    "postgres": [
        "create function fail_delete() returns trigger language plpgsql as $$ begin raise exception 'injected'; end $$",
        "create trigger fail_delete before delete on delayed for each row execute function fail_delete()",
    ],
}


class TestSchedule:
    def test_only_due_messages_move_into_the_queue_with_their_priority_and_job_id(self, storage):
        storage.add_to_schedule(b"later", in_minutes(60), priority=9, job_id="later")
        storage.add_to_schedule(b"low", in_minutes(-2), job_id="low")
        storage.add_to_schedule(b"high", in_minutes(-1), priority=5, job_id="high")
        assert sizes(storage) == (0, 0, 3)

        assert storage.enqueue_due(in_minutes(0)) == [b"low", b"high"]  # in due order
        assert sizes(storage) == (2, 0, 1)
        first, second = claim(storage, A), claim(storage, A)
        assert [(first.data, first.job_id), (second.data, second.job_id)] == [(b"high", "high"), (b"low", "low")]
        assert storage.enqueue_due(in_minutes(0)) == []

    def test_a_fault_while_moving_due_messages_loses_nothing_and_duplicates_nothing(self, storage, queue_backend):
        storage.add_to_schedule(b"due", in_minutes(-1), job_id="due")
        for statement in FAIL_DELETE[queue_backend.name]:  # the insert into the queue succeeds, the delete fails
            storage.sql(statement, commit=True)

        with pytest.raises(DATABASE_ERRORS, match="injected"):
            storage.enqueue_due(in_minutes(0))
        assert (rows_in(storage, "message"), rows_in(storage, "delayed")) == (0, 1)

        storage.sql(
            "drop trigger fail_delete on delayed" if queue_backend.name == "postgres" else "drop trigger fail_delete",
            commit=True,
        )
        assert storage.enqueue_due(in_minutes(0)) == [b"due"]
        assert (rows_in(storage, "message"), rows_in(storage, "delayed")) == (1, 0)

    def test_job_ids_are_present_while_waiting_delayed_or_claimed_but_not_once_acked(self, storage):
        put(storage, "acked", priority=2, job_id="acked")
        put(storage, "claimed", priority=1, job_id="claimed")
        put(storage, "waiting", job_id="waiting")
        storage.add_to_schedule(b"delayed", in_minutes(60), job_id="delayed")
        storage.ack([claim(storage, A).message_id], A)
        claim(storage, A)

        asked = ["acked", "claimed", "waiting", "delayed", "never-enqueued"]
        assert storage.job_ids_present(asked) == {"claimed", "waiting", "delayed"}


# -- several consumers at once (separate connections, as separate processes have) ----------------


class TestConcurrentConsumers:
    def test_consumers_claiming_at_once_never_get_the_same_message(self, storage, queue_backend):
        put(storage, *(f"m{i}" for i in range(200)))
        storages = [queue_backend.storage() for _ in range(4)]
        for i, other in enumerate(storages):
            other.register_consumer(f"c{i}", None)

        def drain(i):
            taken = []
            while (held := claim(storages[i], f"c{i}")) is not None:
                taken.append(held.data)
            return taken

        taken = at_once(4, drain)
        everything = [data for batch in taken for data in batch]
        assert sorted(everything) == sorted(f"m{i}".encode() for i in range(200))
        for other in storages:
            other.close()

    def test_schedulers_moving_due_messages_at_once_move_each_message_once(self, storage, queue_backend):
        for i in range(100):
            storage.add_to_schedule(f"d{i}".encode(), in_minutes(-1), job_id=f"d{i}")
        storages = [queue_backend.storage() for _ in range(3)]

        moved = at_once(3, lambda i: storages[i].enqueue_due(in_minutes(0)))
        assert sorted(data for batch in moved for data in batch) == sorted(f"d{i}".encode() for i in range(100))
        assert sizes(storage) == (100, 0, 0)
        for other in storages:
            other.close()


# -- Huey on the leased queue, consumed by hand ------------------------------------------------


@pytest.fixture
def make_huey(queue_backend):
    """Huey instances on one leased queue (immediate mode off); stopped at the end."""
    made = []

    def make(*, consuming: bool = True) -> LeasedHuey:
        huey = queue_backend.huey(
            "leased",
            lease_seconds=LEASE,
            max_deliveries=MAX_DELIVERIES,
        )
        if consuming:
            huey.start_consuming()
        made.append(huey)
        return huey

    yield make
    for huey in made:
        if huey.consumer_id:
            huey.stop_consuming()
        huey.storage.close()


@pytest.fixture
def huey(make_huey) -> LeasedHuey:
    return make_huey()


def echo_job(huey, ran: list):
    @huey.task(name="echo")
    def echo(n):
        ran.append(n)
        return n

    return echo


def received(huey, signal: str) -> list[str]:
    """The ids of the jobs `signal` is sent for, from now on."""
    ids = []
    huey.signal(signal)(lambda _signal, task, *args: ids.append(task.id))
    return ids


def run_ready(huey) -> None:
    """What a worker does while jobs are ready: claim, run, then ack (as the history writer does)."""
    while huey.pending_count():
        task = huey.dequeue()
        if task is not None:
            huey.execute(task)
    huey.ack(huey.take_finished())


def set_deliveries(huey, deliveries: int) -> None:
    """As if every message had been delivered this many times to consumers that died."""
    huey.storage.sql("update message set deliveries = ?", (deliveries,), commit=True)


class TestHueyOnTheLeasedQueue:
    def test_a_job_is_claimed_run_then_acked(self, huey):
        ran = []
        result = echo_job(huey, ran)(1)
        task = huey.dequeue()
        assert sizes(huey.storage) == (0, 1, 0)
        huey.execute(task)
        assert sizes(huey.storage) == (0, 0, 0)  # done, no longer counted as claimed...
        assert rows_in(huey.storage, "message") == 1  # ...and acked only once its history is written
        huey.ack(huey.take_finished())
        assert rows_in(huey.storage, "message") == 0
        assert (ran, result.get()) == ([1], 1)

    def test_a_job_whose_consumer_died_runs_again_on_the_next_beat(self, huey):
        ran = []
        job = echo_job(huey, ran)(7)
        huey.storage.register_consumer("dead", None)
        claim(huey.storage, "dead")
        set_consumer(huey.storage, "dead", "pid", exited_pid())
        orphaned, redelivered = received(huey, SIGNAL_ORPHANED), received(huey, SIGNAL_REDELIVERED)

        huey.release_orphans()
        run_ready(huey)
        assert ran == [7]
        assert orphaned == redelivered == [job.id]
        assert sizes(huey.storage) == (0, 0, 0)

    def test_a_job_redelivered_up_to_max_deliveries_still_runs(self, huey):
        ran = []
        job = echo_job(huey, ran)(1)
        set_deliveries(huey, MAX_DELIVERIES - 1)
        redelivered = received(huey, SIGNAL_REDELIVERED)
        run_ready(huey)
        assert (ran, redelivered) == ([1], [job.id])

    def test_a_job_delivered_more_than_max_deliveries_times_is_given_up_not_run(self, huey):
        ran = []
        job = echo_job(huey, ran)(1)
        set_deliveries(huey, MAX_DELIVERIES)
        gave_up = received(huey, SIGNAL_GAVE_UP)

        assert huey.dequeue() is None
        huey.ack(huey.take_finished())
        assert (ran, gave_up) == ([], [job.id])
        assert sizes(huey.storage) == (0, 0, 0)

    def test_a_pipeline_runs_both_steps(self, huey):
        @huey.task()
        def add(a, b):
            return a + b

        results = huey.enqueue(add.s(1, 2).then(add, 10))
        run_ready(huey)
        assert [result.get() for result in results] == [3, 13]

    def test_a_chord_callback_runs_with_every_result(self, huey):
        @huey.task()
        def double(n):
            return n * 2

        @huey.task()
        def collect(results):
            return results

        chord = huey.enqueue(group([double.s(n) for n in range(3)]).then(collect))
        run_ready(huey)
        assert chord.get() == [0, 2, 4]

    def test_a_chord_member_given_up_still_lets_its_callback_run(self, huey):
        @huey.task()
        def double(n):
            return n * 2

        @huey.task()
        def collect(results):
            return [type(result).__name__ for result in results]

        chord = huey.enqueue(group([double.s(1), double.s(2)]).then(collect))
        huey.storage.sql(
            "update message set deliveries = ? where id = (select min(id) from message)", (MAX_DELIVERIES,), commit=True
        )
        run_ready(huey)
        assert chord.get() == ["Error", "int"]  # as for a member that failed for good

    def test_a_locked_job_does_not_run_while_its_lock_is_held(self, huey):
        ran = []

        @huey.task()
        @huey.lock_task("x")
        def locked():
            ran.append("locked")

        result = locked()
        with huey.lock_task("x"):
            run_ready(huey)
        assert ran == []
        with pytest.raises(TaskException, match="unable to acquire lock x"):
            result.get()
        assert sizes(huey.storage) == (0, 0, 0)

    def test_a_revoked_job_is_skipped_and_its_message_acked(self, huey):
        ran = []
        job = echo_job(huey, ran)(1)
        revoked = received(huey, "revoked")
        huey.revoke_by_id(job.id)
        run_ready(huey)
        assert (ran, revoked) == ([], [job.id])
        assert sizes(huey.storage) == (0, 0, 0)

    def test_a_delayed_job_waits_in_the_schedule_then_moves_into_the_queue_when_due(self, huey):
        ran = []
        echo_job(huey, ran).schedule((1,), delay=60)
        run_ready(huey)  # not due: the consumer puts it in the schedule
        assert (ran, sizes(huey.storage)) == ([], (0, 0, 1))

        assert huey.read_schedule() == []
        assert sizes(huey.storage) == (0, 0, 1)
        later = huey._get_timestamp() + datetime.timedelta(minutes=2)
        assert huey.read_schedule(later) == []  # moved inside the storage: nothing left to enqueue
        assert sizes(huey.storage) == (1, 0, 0)

        huey.execute(huey.dequeue(), later)
        assert ran == [1]


# -- wake-ups ----------------------------------------------------------------------------------


@pytest.mark.django_db  # the periodic ledger is in the app database
def test_several_schedulers_enqueue_a_periodic_job_once_per_minute(make_huey):
    schedulers = [make_huey(consuming=False) for _ in range(3)]
    for scheduler in schedulers:
        scheduler.periodic_task(crontab(), name="every_minute")(lambda: None)
    eight = datetime.datetime(2026, 12, 1, 8, 0, 10)

    for minute in (eight, eight + datetime.timedelta(seconds=40), eight + datetime.timedelta(minutes=1)):
        due = [len(scheduler.read_periodic(minute)) for scheduler in schedulers]
        assert sorted(due) == ([0, 0, 0] if minute.second == 50 else [0, 0, 1])  # once per minute


def timed_wait(huey) -> float:
    start = time.monotonic()
    huey._waker.wait()
    return time.monotonic() - start


class TestWakeUp:
    def test_a_consumer_has_a_waker_on_linux(self, huey):
        assert huey._waker is not None
        addresses = huey.storage.sql("select wake_address from consumer", results=True)
        assert addresses == [(huey._waker.address,)]

    def test_an_enqueue_from_another_huey_on_the_same_file_wakes_an_idle_consumer_at_once(self, huey, make_huey):
        other = make_huey(consuming=False)
        enqueue_soon = threading.Timer(0.1, other.storage.enqueue, (b"wake up",))
        enqueue_soon.start()
        waited = timed_wait(huey)
        enqueue_soon.join()
        assert 0.05 < waited < QUICK < wakeup.WAIT

    def test_a_wake_up_sent_before_the_wait_started_is_not_lost(self, huey, make_huey):
        make_huey(consuming=False).storage.enqueue(b"wake up")
        assert timed_wait(huey) < QUICK
