"""The leased queue keeps its word when a consumer dies at the worst moment (issue 18).

Two Huey instances on one queue play two consumers of this process. A consumer "killed" at an
exact point is one whose `_finish` (the done mark) raises `Killed` before any queue write, as a
SIGKILL right after Huey's `_execute` returns would stop it; `die()` then makes its queue row
look like a process that has exited, and the other consumer finds its jobs. On every backend of
the pass (SQLite, PostgreSQL).
"""

import datetime

import pytest
from django.utils import timezone
from huey import group

from tasks_app.models import JobRun
from tasks_app.queue import recovery
from tasks_app.queue.context import current
from tasks_app.queue.leased import SIGNAL_ORPHANED
from tasks_app.queue.postgres import LeasedPostgresStorage
from tests.test_queue_storage import (
    LEASE,
    claim,
    exited_pid,
    make_huey,  # noqa: F401 (a fixture)
    on_another_host,
    rows_in,
    run_ready,
    set_consumer,
    sizes,
)


class Killed(BaseException):
    """The consumer process ends here."""


def kill_at_done_mark(huey) -> None:
    def killed(*args, **kwargs):
        raise Killed

    huey._finish = killed


def die(huey) -> None:
    """What remains of a consumer killed now: its row, its claims, and a process gone."""
    huey._lease_keeper.stop()
    set_consumer(huey.storage, huey.consumer_id, "pid", exited_pid())
    huey.consumer_id = None  # (the fixture must not unregister it)
    current.batch = None  # what the killed run kept aside in this test's thread


def register_jobs(huey, ran: list):
    """The same jobs, under the same names, on each consumer."""

    @huey.task(name="add")
    def add(a, b):
        ran.append(("add", a + b))
        return a + b

    @huey.task(name="double")
    def double(n):
        ran.append(("double", n))
        return n * 2

    @huey.task(name="collect")
    def collect(results):
        ran.append(("collect", results))
        return results

    @huey.task(name="flaky", retries=2)
    def flaky():
        ran.append(("flaky", None))
        raise ValueError("always")

    return add, double, collect, flaky


@pytest.fixture
def consumers(make_huey):  # noqa: F811
    ran = []
    a, b = make_huey(), make_huey()
    jobs = register_jobs(a, ran)
    register_jobs(b, ran)
    return a, b, jobs, ran


def chord_keys(huey) -> list:
    """The chord results and counts left in the queue's tables."""
    counters = "huey_counter" if isinstance(huey.storage, LeasedPostgresStorage) else "counter"
    results = [key for key in huey.storage.result_items() if key.startswith("chord:")]
    return results + huey.storage.sql(f"select key from {counters}", results=True)


class TestKilledBeforeTheDoneMark:
    """The job runs again; what Huey writes after it (next step, chord count, retry) is written once."""

    def test_a_pipeline_s_next_step_is_enqueued_once(self, consumers):
        a, b, (add, *_), ran = consumers
        results = a.enqueue(add.s(1, 2).then(add, 10))
        kill_at_done_mark(a)
        with pytest.raises(Killed):
            a.execute(a.dequeue())
        assert sizes(a.storage) == (0, 1, 0)  # the next step was not written
        die(a)

        b.release_orphans()
        run_ready(b)
        assert ran == [("add", 3), ("add", 3), ("add", 13)]  # the first step again, the second once
        assert [result.get() for result in results] == [3, 13]

    def test_a_chord_counts_each_member_once_and_its_callback_runs_once_with_every_result(self, consumers):
        a, b, (_, double, collect, _), ran = consumers
        chord = a.enqueue(group([double.s(n) for n in range(3)]).then(collect))
        a.execute(a.dequeue())  # member 0 done (its ack never comes)
        kill_at_done_mark(a)
        with pytest.raises(Killed):
            a.execute(a.dequeue())  # member 1 ran, its count was not written
        die(a)

        b.release_orphans()
        run_ready(b)
        assert [entry for entry in ran if entry[0] == "collect"] == [("collect", [0, 2, 4])]
        assert chord.get() == [0, 2, 4]
        assert chord_keys(b) == []  # nothing left behind

    def test_a_job_s_retries_are_counted_once(self, consumers):
        a, b, (*_, flaky), ran = consumers
        flaky()
        kill_at_done_mark(a)
        with pytest.raises(Killed):
            a.execute(a.dequeue())
        die(a)

        b.release_orphans()
        run_ready(b)
        # The run cut short by the kill, then retries + 1 runs: not one more per copy of the retry.
        assert ran.count(("flaky", None)) == 1 + 3
        assert sizes(b.storage) == (0, 0, 0)


class TestKilledAfterTheDoneMark:
    def test_the_job_does_not_run_again_its_next_step_runs_once_and_its_history_is_handed_on(self, consumers):
        a, b, (add, *_), ran = consumers
        results = a.enqueue(add.s(1, 2).then(add, 10))
        first = a.dequeue()
        a.execute(first)  # done, with its next step; the history writer never acks it
        die(a)
        orphaned = []
        b.signal(SIGNAL_ORPHANED)(lambda signal, task: orphaned.append((task.id, task.finished_events)))

        b.release_orphans()
        run_ready(b)
        assert ran == [("add", 3), ("add", 13)]
        assert [result.get() for result in results] == [3, 13]
        assert orphaned == [(first.id, [])]  # its events (none on this bare Huey) go to the history now
        assert rows_in(b.storage, "message") == 0


def test_a_consumer_taken_for_dead_while_its_job_ran_writes_no_follow_up(consumers):
    a, b, (add, *_), ran = consumers
    results = a.enqueue(add.s(1, 2).then(add, 10))
    stalled = a.dequeue()
    a._lease_keeper.stop()
    set_consumer(a.storage, a.consumer_id, "pid", exited_pid())  # as if its lease had run out
    b.release_orphans()
    second = b.dequeue()

    a.execute(stalled)  # finishes, but its claim is b's now: no next step from it
    assert sizes(a.storage) == (0, 1, 0)
    b.execute(second)
    run_ready(b)
    assert ran == [("add", 3), ("add", 3), ("add", 13)]
    assert [result.get() for result in results] == [3, 13]


def test_a_consumer_whose_own_lease_is_stale_releases_no_one_s_jobs(consumers):
    a, b, (add, *_), _ = consumers
    add(1, 2)
    claim(a.storage, a.consumer_id)
    on_another_host(a.storage, a.consumer_id)
    a.storage.sql("update consumer set beat_at = beat_at - ?", (2 * LEASE,), commit=True)  # every beat old
    b._lease_keeper.renewed_at -= LEASE  # b could not renew either: the queue was slow for everyone

    b.release_orphans()
    assert sizes(b.storage) == (0, 1, 0)  # still a's

    b._lease_keeper.renewed_at += LEASE  # b renews again: a's old beat is a dead consumer's
    b.release_orphans()
    assert sizes(b.storage) == (1, 0, 0)


class TestHeldRuns:
    """A paused job's runs wait aside, written once, and go back to the queue the moment it resumes."""

    def test_held_runs_never_cycle_and_are_back_in_the_queue_in_order_on_resume(self, make_huey):  # noqa: F811
        huey, ran = make_huey(), []
        (add, *_) = register_jobs(huey, ran)
        name = huey._registry.task_to_string(add.task_class)
        paused = {name}
        huey.signal("ready")(
            lambda signal, task: setattr(task, "held", type(task) is add.task_class and name in paused)
        )
        for n in range(3):
            add(n, 0)
        run_ready(huey)
        assert (ran, sizes(huey.storage), huey.storage.held_size()) == ([], (0, 0, 3), 3)

        writes = _queue_writes(huey)
        far = huey._get_timestamp() + datetime.timedelta(days=30)
        assert huey.read_schedule(far) == []  # never due
        run_ready(huey)
        assert _queue_writes(huey) == writes

        paused.clear()
        assert huey.resume(name) == 3
        assert sizes(huey.storage) == (3, 0, 0)
        run_ready(huey)
        assert ran == [("add", 0), ("add", 1), ("add", 2)]


def _queue_writes(huey) -> tuple:
    """What the queue holds, row by row: any write to it shows."""
    return tuple(
        huey.storage.sql(f"select * from {table} order by id", results=True) for table in ("message", "delayed")
    )


@pytest.mark.django_db
class TestRecovery:
    @pytest.fixture(autouse=True)
    def from_the_start(self, monkeypatch):
        monkeypatch.setattr(recovery, "_after", None)

    def _row(self, huey, task, enqueued_at=None) -> None:
        """The history row a request wrote for `task`, its message kept on it."""
        JobRun.objects.create(
            id=task.id,
            name="add",
            queue=huey.name,
            enqueued_at=enqueued_at or timezone.now(),
            message=bytes(huey.serialize_task(task)),
        )

    def _later(self) -> datetime.datetime:
        return timezone.now() + recovery.LOST_AFTER + datetime.timedelta(seconds=1)

    def test_a_row_recovered_first_is_not_enqueued_again_by_its_late_request(self, consumers):
        a, _, (add, *_), ran = consumers
        task = add.s(1, 2)
        self._row(a, task)
        assert recovery.requeue_lost(self._later(), a) == 1

        task.handed_over = True
        a.enqueue(task)  # the request's enqueue after its commit, late (one of many in one transaction)
        run_ready(a)
        assert ran == [("add", 3)]

    def test_a_row_its_request_enqueued_is_not_recovered_after_it_ran(self, consumers):
        a, _, (add, *_), ran = consumers
        task = add.s(1, 2)
        self._row(a, task)
        task.handed_over = True
        a.enqueue(task)
        run_ready(a)  # ran and acked; the history row was not written by this bare Huey

        assert recovery.requeue_lost(self._later(), a) == 0
        assert (ran, sizes(a.storage)) == ([("add", 3)], (0, 0, 0))

    def test_a_lost_job_behind_a_full_batch_of_waiting_jobs_is_found(self, consumers):
        a, _, (add, *_), ran = consumers
        start = timezone.now() - datetime.timedelta(minutes=5)
        for n in range(recovery.BATCH):
            task = add.s(n, 0)
            self._row(a, task, start + datetime.timedelta(milliseconds=n))
            a.enqueue(task)  # waiting legitimately
        lost = add.s("lost", "")
        self._row(a, lost, start + datetime.timedelta(minutes=1))

        found = [recovery.requeue_lost(self._later(), a) for _ in range(2)]
        assert found == [0, 1]
        assert a.pending_count() == recovery.BATCH + 1
