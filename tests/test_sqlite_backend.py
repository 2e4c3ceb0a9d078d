"""The app's SQLite engine (tasks_app/sqlite_backend/): writers of one process take turns, and
SQLite's write lock is timed and logged with the line that took it."""

import logging
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from tasks_app.models import Task
from tests.backends import sqlite_only
from tests.factories import make_user

pytestmark = [sqlite_only, pytest.mark.django_db(transaction=True)]


def in_thread(work) -> threading.Thread:
    def run():
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_second_writer_of_the_process_waits_its_turn_and_goes_when_the_first_commits():
    alice = make_user("alice")
    first_began, times = threading.Event(), {}

    def first():
        with transaction.atomic():
            Task.objects.create(title="First", owner=alice)
            first_began.set()
            time.sleep(0.3)
        times["first committed"] = time.monotonic()

    def second():
        first_began.wait()
        with transaction.atomic():
            times["second began"] = time.monotonic()
            Task.objects.create(title="Second", owner=alice)

    for thread in [in_thread(first), in_thread(second)]:
        thread.join()
    assert sorted(Task.objects.values_list("title", flat=True)) == ["First", "Second"]
    assert 0 <= times["second began"] - times["first committed"] < 0.1  # handed over at once, no busy-wait


def test_a_writer_that_waits_out_the_busy_timeout_fails_with_database_is_locked_and_says_so(monkeypatch, caplog):
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.2)
    alice = make_user("alice")
    holding, release, errors = threading.Event(), threading.Event(), []

    def holder():
        with transaction.atomic():
            Task.objects.create(title="Held", owner=alice)
            holding.set()
            release.wait(timeout=5)

    def waiter():
        holding.wait()
        try:
            with transaction.atomic():
                Task.objects.create(title="Never written", owner=alice)
        except OperationalError as error:
            errors.append(str(error))
        release.set()

    with caplog.at_level(logging.WARNING, logger="tasks_app.db"):
        for thread in [in_thread(holder), in_thread(waiter)]:
            thread.join()
    assert errors == ["database is locked"]
    assert list(Task.objects.values_list("title", flat=True)) == ["Held"]
    assert "database is locked: waited 0.2 s for the write lock on" in caplog.text
    assert "tests/test_sqlite_backend.py" in caplog.text  # the line that asked for it


def test_a_transaction_that_held_the_lock_long_is_logged_with_the_line_that_opened_it(settings, caplog):
    settings.DB_TRANSACTION_LOG_MS = 50
    alice = make_user("alice")
    with caplog.at_level(logging.WARNING, logger="tasks_app.db"):
        with transaction.atomic():
            Task.objects.create(title="Quick", owner=alice)
        with transaction.atomic():
            Task.objects.create(title="Slow", owner=alice)
            time.sleep(0.1)
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("write transaction held=1")
    assert "origin=tests/test_sqlite_backend.py:" in line and line.endswith(
        "in test_a_transaction_that_held_the_lock_long_is_logged_with_the_line_that_opened_it"
    )


def test_a_statement_after_a_transaction_that_waited_long_still_waits_the_whole_timeout(monkeypatch):
    # The transaction's BEGIN waits only what its turn left of the timeout; an UPDATE outside any
    # transaction afterwards (a recount's) must not inherit that remainder.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 1)
    alice = make_user("alice")
    holding, waited = threading.Event(), {}

    def holder():
        with transaction.atomic():
            Task.objects.create(title="Held", owner=alice)
            holding.set()
            time.sleep(0.5)

    def waiter():
        holding.wait()
        with transaction.atomic():
            Task.objects.create(title="After", owner=alice)
        with connection.cursor() as cursor:
            waited["busy_timeout"] = cursor.execute("PRAGMA busy_timeout").fetchone()[0]

    for thread in [in_thread(holder), in_thread(waiter)]:
        thread.join()
    assert waited["busy_timeout"] == 1000
