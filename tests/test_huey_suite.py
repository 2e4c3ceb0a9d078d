"""Huey's own test suite, run against our huey class.

Huey ships its tests in its wheel (`huey/tests/`). Each class here is one of Huey's test classes
whose `get_huey()` returns `LeasedSqliteHuey` (the `huey_class` of settings.HUEY on SQLite) on a
queue file of the test's own, with utc=False as Huey's base does. The classes are run twice:

- as Huey's tests call our class, outside a consumer: `dequeue()` takes a message away and
  `execute()` runs it as stock Huey does;
- `...InAConsumer`: after `start_consuming()`, as in `run_huey`: `dequeue()` claims, `execute()`
  applies the job's follow-ups (results, next steps, chord counts, retries) with its done mark.
  This instance has no history writer, so nothing acks its done messages; Huey's tests count
  ready messages only, which done ones are not.

A test our class fails on purpose is skipped with the reason (docs/tests.md lists them).

Not run here: Huey's tests of other storages and classes (Memory, Redis, Valkey, CySqlite and
File storages in test_storage; test_helpers' Redis semaphore; test_mini's gevent MiniHuey;
test_sql_huey and test_stats on peewee; test_postgres' stock PostgresHuey; test_django_tasks),
tests that build no Huey (test_crontab, test_utils, test_serializer, test_consumer's
TestForkSafeFlag and TestProcessTimeout), and test_consumer's TestProcessWorkers (stock SqliteHuey
with process workers, which LeasedConsumer refuses).
"""

import sys
import types
import unittest

import pytest

from tasks_app.queue.leased import LeasedSqliteHuey

# Huey's test_django_tasks calls settings.configure() when it is imported, as huey/tests/__init__.py
# does: where the django-tasks backport is installed (requirements-bench.txt) that import fails
# inside this run, whose settings are configured. It is not run here: an empty module stands in.
sys.modules.setdefault("huey.tests.test_django_tasks", types.ModuleType("huey.tests.test_django_tasks"))

from huey.tests import (  # noqa: E402
    test_api,
    test_asyncio,
    test_consumer,
    test_immediate,
    test_priority,
    test_registry,
    test_signals,
    test_storage,
    test_wrappers,
)

# Any test may reach the app's database: `LeasedHuey.read_periodic` reads and records ticks in the
# periodic ledger (PeriodicTick) each time a scheduler checks, and a started consumer's scheduler
# checks at once.
pytestmark = pytest.mark.django_db

MOVED_IN_THE_STORAGE = (
    "in a consumer, read_schedule moves due tasks into the queue in one transaction and returns [] "
    "(the scheduler has nothing left to enqueue)"
)
NO_PROCESS_WORKERS = "LeasedConsumer runs thread workers only: its leases are held by the consumer process"


def skipped(reason: str, method):
    """Huey's test `method`, skipped here: our class differs from stock Huey there on purpose."""
    return unittest.skip(reason)(method)


def slow(method):
    """One of Huey's slow tests (skipped unless HUEY_SLOW_TESTS is set): each takes well under a
    second here and runs our consumer or our storage, so it is run."""
    return getattr(method, "__wrapped__", method)


class OnLeasedSqliteHuey:
    """`self.huey` is our huey class on a queue file of the test's own. The test runs in its
    tmp_path: some of Huey's tests open stock SqliteHuey files by relative name (huey.db)."""

    huey_class = LeasedSqliteHuey
    huey_options: dict = {}

    @pytest.fixture(autouse=True)
    def _in_tmp_path(self, tmp_path, monkeypatch):
        self.queue_file = tmp_path / "queue.sqlite3"
        monkeypatch.chdir(tmp_path)

    def setUp(self):
        super().setUp()
        self.addCleanup(self._close_queue)

    def get_huey(self):
        return self.huey_class(utc=False, filename=str(self.queue_file), **self.huey_options)

    def _close_queue(self):
        # A consumer's registration ends with settings.HUEY's history writer (`writer.close`);
        # this instance has none, so its lease thread would outlive the test.
        if self.huey.consumer_id is not None:
            self.huey.stop_consuming()
        self.huey.storage.close()


class InAConsumer(OnLeasedSqliteHuey):
    """`self.huey` has started consuming, as in `run_huey` (without its workers)."""

    def get_huey(self):
        huey = super().get_huey()
        huey.start_consuming()
        return huey


# -- test_storage: the storage contract, and stock SqliteStorage's own tests -------------------


class TestLeasedSqliteStorage(OnLeasedSqliteHuey, test_storage.TestSqliteStorage):
    huey_options = {"timeout": 3}  # as Huey's get_huey: test_timeout checks it

    test_put_if_empty_ttl = slow(test_storage.StorageTests.test_put_if_empty_ttl)
    test_consumer_integration = slow(test_storage.StorageTests.test_consumer_integration)
    test_task_index = skipped(
        "stock SqliteStorage's `task` table: the leased storage keeps messages in `message`",
        test_storage.TestSqliteStorage.test_task_index,
    )


# -- test_api ------------------------------------------------------------------------------------


class TestQueue(OnLeasedSqliteHuey, test_api.TestQueue):
    pass


class TestQueueInAConsumer(InAConsumer, test_api.TestQueue):
    test_read_schedule = skipped(MOVED_IN_THE_STORAGE, test_api.TestQueue.test_read_schedule)
    test_scheduling_expires = skipped(MOVED_IN_THE_STORAGE, test_api.TestQueue.test_scheduling_expires)


class TestAsyncTasks(OnLeasedSqliteHuey, test_api.TestAsyncTasks):
    pass


class TestDecorators(OnLeasedSqliteHuey, test_api.TestDecorators):
    pass


class TestDecoratorsInAConsumer(InAConsumer, test_api.TestDecorators):
    pass


class TestTaskHooks(OnLeasedSqliteHuey, test_api.TestTaskHooks):
    pass


class TestTaskHooksInAConsumer(InAConsumer, test_api.TestTaskHooks):
    pass


class TestGroupPrimitive(OnLeasedSqliteHuey, test_api.TestGroupPrimitive):
    pass


class TestGroupPrimitiveInAConsumer(InAConsumer, test_api.TestGroupPrimitive):
    pass


CHORD_COUNTERS = "reads MemoryStorage's private `_counters`; SQLite keeps chord counters in its `counter` table"


class TestChordPrimitive(OnLeasedSqliteHuey, test_api.TestChordPrimitive):
    test_chord_bookkeeping_cleared = skipped(CHORD_COUNTERS, test_api.TestChordPrimitive.test_chord_bookkeeping_cleared)


class TestChordPrimitiveInAConsumer(InAConsumer, test_api.TestChordPrimitive):
    test_chord_bookkeeping_cleared = skipped(CHORD_COUNTERS, test_api.TestChordPrimitive.test_chord_bookkeeping_cleared)
    test_chord_scheduling = skipped(MOVED_IN_THE_STORAGE, test_api.TestChordPrimitive.test_chord_scheduling)


class TestTaskChaining(OnLeasedSqliteHuey, test_api.TestTaskChaining):
    pass


class TestTaskChainingInAConsumer(InAConsumer, test_api.TestTaskChaining):
    pass


class TestTaskLocking(OnLeasedSqliteHuey, test_api.TestTaskLocking):
    pass


class TestTaskLockingInAConsumer(InAConsumer, test_api.TestTaskLocking):
    pass


class TestRateLimit(OnLeasedSqliteHuey, test_api.TestRateLimit):
    pass


class TestRateLimitInAConsumer(InAConsumer, test_api.TestRateLimit):
    pass


class TestHueyAPIs(OnLeasedSqliteHuey, test_api.TestHueyAPIs):
    pass


class TestMultipleHuey(OnLeasedSqliteHuey, test_api.TestMultipleHuey):
    pass


class TestMultipleHueyInAConsumer(InAConsumer, test_api.TestMultipleHuey):
    pass


class TestDisableResultStore(OnLeasedSqliteHuey, test_api.TestDisableResultStore):
    huey_options = {"results": False}


class TestStoreIntermediateErrors(OnLeasedSqliteHuey, test_api.TestStoreIntermediateErrors):
    huey_options = {"store_intermediate_errors": False}


class TestStoreIntermediateErrorsInAConsumer(InAConsumer, test_api.TestStoreIntermediateErrors):
    huey_options = {"store_intermediate_errors": False}


class TestStorageWrappers(OnLeasedSqliteHuey, test_api.TestStorageWrappers):
    pass


class TestStorageWrappersInAConsumer(InAConsumer, test_api.TestStorageWrappers):
    pass


class TestDocstring(OnLeasedSqliteHuey, test_api.TestDocstring):
    pass


class CustomErrorHuey(LeasedSqliteHuey):
    """Huey's TestCustomErrorMetadata builds its Huey with this error result."""

    def build_error_result(self, task, exc):
        error = super().build_error_result(task, exc)
        error.update(name=task.name, args=task.args)
        return error


class TestCustomErrorMetadata(OnLeasedSqliteHuey, test_api.TestCustomErrorMetadata):
    huey_class = CustomErrorHuey


class TestCustomErrorMetadataInAConsumer(InAConsumer, test_api.TestCustomErrorMetadata):
    huey_class = CustomErrorHuey


# -- test_consumer: Huey's consumer on our class (LeasedConsumer) ---------------------------------


class TestConsumerIntegration(OnLeasedSqliteHuey, test_consumer.TestConsumerIntegration):
    test_consumer_timeout = slow(test_consumer.TestConsumerIntegration.test_consumer_timeout)
    test_consumer_periodic_tasks = skipped(
        "the periodic ledger runs each tick once: a second check in the same minute enqueues nothing",
        test_consumer.TestConsumerIntegration.test_consumer_periodic_tasks,
    )


class TestConsumerConfig(OnLeasedSqliteHuey, test_consumer.TestConsumerConfig):
    test_consumer_config = skipped(NO_PROCESS_WORKERS, test_consumer.TestConsumerConfig.test_consumer_config)
    test_process_environment_uses_fork = skipped(
        NO_PROCESS_WORKERS, test_consumer.TestConsumerConfig.test_process_environment_uses_fork
    )


class TestConsumerShutdown(OnLeasedSqliteHuey, test_consumer.TestConsumerShutdown):
    test_notify_interrupted_completing_task = slow(
        test_consumer.TestConsumerShutdown.test_notify_interrupted_completing_task
    )
    test_notify_interrupted_pop_race = slow(test_consumer.TestConsumerShutdown.test_notify_interrupted_pop_race)


# -- test_priority, test_signals, test_registry, test_wrappers -----------------------------------


class TestPriority(OnLeasedSqliteHuey, test_priority.TestPriority):
    pass


class TestPriorityInAConsumer(InAConsumer, test_priority.TestPriority):
    test_schedule_priority = skipped(MOVED_IN_THE_STORAGE, test_priority.TestPriority.test_schedule_priority)


class TestSignals(OnLeasedSqliteHuey, test_signals.TestSignals):
    pass


class TestSignalsInAConsumer(InAConsumer, test_signals.TestSignals):
    test_signal_complete_result_ready = skipped(
        "in a consumer, a job's result is written with its done mark, after `complete` is sent",
        test_signals.TestSignals.test_signal_complete_result_ready,
    )


class TestRegistry(OnLeasedSqliteHuey, test_registry.TestRegistry):
    pass


class TestWrappers(OnLeasedSqliteHuey, test_wrappers.TestWrappers):
    """Huey's wrapper classes (SqliteHuey writes huey.db: in tmp_path here)."""


# -- immediate mode (the unit tests' mode: settings.HUEY with HUEY_IMMEDIATE) --------------------


class TestImmediate(OnLeasedSqliteHuey, test_immediate.TestImmediate):
    huey_options = {"immediate": True}


class NoUseLeasedStorage(test_immediate.NoUseStorage):
    """Huey's NoUseStorage, taking our storage's extra arguments: any use raises NoUseException."""

    def enqueue(self, *args, **kwargs):
        raise test_immediate.NoUseException()

    def add_to_schedule(self, *args, **kwargs):
        raise test_immediate.NoUseException()


class NoUseLeasedHuey(LeasedSqliteHuey):
    def get_storage(self, **kwargs):
        return NoUseLeasedStorage()


class TestImmediateMemoryStorage(OnLeasedSqliteHuey, test_immediate.TestImmediateMemoryStorage):
    huey_class = NoUseLeasedHuey


class TestAsyncioHelpers(OnLeasedSqliteHuey, test_asyncio.TestAsyncioHelpers):
    pass
