"""Django's SQLite backend, with SQLite's one write lock queued for per process and timed.

With `transaction_mode` IMMEDIATE every `transaction.atomic()` takes the write lock at BEGIN and
keeps it until COMMIT, so a transaction's length is what every other writer may have to wait.

Queued: the threads of one process (gunicorn's, the consumer's) take turns at a lock of their
own before BEGIN, and the next one goes the moment the last one commits. Left to SQLite, each
waiting thread sleeps in its busy handler (1, 2, 5 … up to 100 ms between looks) and a newcomer
can take the lock between two looks: waits of seconds behind transactions of milliseconds.

Kept optimized: each connection runs `PRAGMA optimize` as it closes (the planner's statistics).

Timed: a transaction that held or waited for the lock at least DB_TRANSACTION_LOG_MS is logged
(logger `tasks_app.db`) with the line of the app that opened it; a BEGIN that gave up ("database
is locked") is logged with how long it waited.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import OperationalError
from django.db.backends.sqlite3 import base

logger = logging.getLogger("tasks_app.db")

PROJECT = str(Path(__file__).resolve().parent.parent.parent) + "/"
HERE = str(Path(__file__).resolve().parent) + "/"


# One per database file: the turn of this process's threads to write to it.
_writers: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


def origin() -> str:
    """The innermost line of the project's own code on the stack: "tasks_app/x.py:12 in f"."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(PROJECT) and not filename.startswith(HERE) and "/site-packages/" not in filename:
            return f"{filename.removeprefix(PROJECT)}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "outside the project's code"


class DatabaseWrapper(base.DatabaseWrapper):
    write_lock_taken_at: float | None = None
    write_lock_waited = 0.0
    _turn: threading.Lock | None = None  # this process's turn to write, while this connection has it

    def _start_transaction_under_autocommit(self) -> None:
        asked = time.monotonic()
        timeout = self.settings_dict["OPTIONS"].get("timeout", 5)
        turn = _writers[str(self.settings_dict["NAME"])]
        try:
            if not turn.acquire(timeout=timeout):
                raise OperationalError("database is locked")
            try:
                # SQLite waits for other processes' writers for what is left of the same timeout.
                left = max(timeout - (time.monotonic() - asked), 0)
                self.connection.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
                try:
                    super()._start_transaction_under_autocommit()
                finally:  # statements outside a transaction wait the whole timeout again
                    self.connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            except BaseException:
                turn.release()
                raise
        except OperationalError as error:
            logger.warning(
                "%s: waited %.1f s for the write lock on %s, from %s",
                error,
                time.monotonic() - asked,
                Path(self.settings_dict["NAME"]).name,
                origin(),
            )
            raise
        self._turn = turn
        self.write_lock_taken_at = time.monotonic()
        self.write_lock_waited = self.write_lock_taken_at - asked

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._write_lock_released()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._write_lock_released()

    def _close(self) -> None:
        try:
            self._optimize()
            super()._close()  # inside a transaction: SQLite rolls it back
        finally:
            self._write_lock_released()

    def _optimize(self) -> None:
        """Keep the query planner's statistics, as SQLite advises for connections that live long:
        `PRAGMA optimize` before closing analyzes the tables this connection read by an index that
        were never analyzed or have grown much since, sampling at most 1,000 rows an index (a few
        ms). Without statistics the planner reads a person's open tasks from the status index,
        every open task (45 ms with 100,000), instead of from their owner and creator indexes (1 ms).
        Best effort: a connection that cannot now (the database busy, a transaction open) leaves
        it to the next one."""
        if self.connection is None or self.connection.in_transaction:
            return
        try:
            self.connection.execute("PRAGMA analysis_limit = 1000")
            self.connection.execute("PRAGMA optimize")
        except base.Database.Error as error:
            logger.info("PRAGMA optimize left for another connection: %s", error)

    def _write_lock_released(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()
        taken, self.write_lock_taken_at = self.write_lock_taken_at, None
        if taken is None:
            return
        held = time.monotonic() - taken
        threshold = settings.DB_TRANSACTION_LOG_MS / 1000
        if held >= threshold or self.write_lock_waited >= threshold:
            logger.warning(
                "write transaction held=%.1fms waited=%.1fms db=%s origin=%s",
                held * 1000,
                self.write_lock_waited * 1000,
                Path(self.settings_dict["NAME"]).name,
                origin(),
            )
