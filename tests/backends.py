"""The databases under test: SQLite always, PostgreSQL when the suite runs on it.

`make test` runs the suite twice: on SQLite, then with DATABASE_URL pointing at a throw-away
PostgreSQL server (`tests/postgres_server.py`). Storage-level tests take the `queue_backend`
fixture (conftest.py) and so run on every backend of the pass; each test gets a queue of its own (a file, or a
schema dropped at the end).
"""

from __future__ import annotations

import os
import secrets
import sqlite3

import psycopg
import pytest

from tasks_app.queue.leased import LeasedPostgresHuey, LeasedSqliteHuey
from tasks_app.queue.postgres import LeasedPostgresStorage
from tasks_app.queue.storage import LeasedSqliteStorage

POSTGRES_URL = os.environ.get("DATABASE_URL", "") if os.environ.get("DATABASE_URL", "").startswith("postgres") else ""
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
DATABASE_ERRORS = (psycopg.DatabaseError, sqlite3.DatabaseError)
# A test of what only SQLite lets exist (a value longer than its column, say).
sqlite_only = pytest.mark.skipif(bool(POSTGRES_URL), reason="a SQLite database file, or data PostgreSQL refuses")
postgres_only = pytest.mark.skipif(not POSTGRES_URL, reason="the suite's PostgreSQL pass (DATABASE_URL) only")


class QueueBackend:
    """Where one test's queue lives, and the classes to open it with."""

    def __init__(self, name: str, tmp_path):
        self.name = name
        self._tmp_path = tmp_path
        self.schema = f"test_{secrets.token_hex(4)}"

    @property
    def huey_class(self):
        return LeasedPostgresHuey if self.name == "postgres" else LeasedSqliteHuey

    @property
    def options(self) -> dict:
        """Keyword arguments of the storage (and so of the Huey class) for this test's queue."""
        if self.name == "postgres":
            return {"dsn": POSTGRES_URL, "schema": self.schema}
        return {"filename": str(self._tmp_path / "queue.sqlite3")}

    def storage(self, name: str = "storage"):
        storage_class = LeasedPostgresStorage if self.name == "postgres" else LeasedSqliteStorage
        return storage_class(name, **self.options)

    def huey(self, name: str, **kwargs):
        return self.huey_class(name, **self.options, **kwargs)

    def drop(self) -> None:
        if self.name == "postgres":
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"drop schema if exists {self.schema} cascade")
