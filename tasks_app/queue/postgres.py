"""The leased queue on PostgreSQL, for teams whose web servers and consumers span machines.

The same transitions as on SQLite (`storage.LeasedStorage`), on Huey's `PostgresStorage`
(psycopg 3) for results, locks and counters. PostgreSQL differs where it must:

- claims take `FOR UPDATE SKIP LOCKED` rows: consumers on any machine claim at once, each a
  different message, none waiting for another's transaction;
- an enqueue sends `NOTIFY` in its transaction; each consumer `LISTEN`s on a connection of its
  own and passes the wake-up to its idle workers (`wakeup.Waker`), on whatever host it runs;
- leases are read against the server's clock, so consumers' host clocks need not agree;
- the tables live in a schema of their own (`huey` by default) in the app's database or another
  one (`HUEY_DATABASE_URL`), so they never meet Django's.
"""

from __future__ import annotations

import logging
import re
import threading

from huey.storage import PostgresStorage

from tasks_app.queue import wakeup
from tasks_app.queue.storage import ADDED_COLUMNS, INDEXES, LeasedStorage

logger = logging.getLogger("huey")

MAX_WAKE = 64  # wake-ups passed on for one notification: more than any consumer has workers


def _tables(schema: str) -> list[str]:
    return [
        # Several processes may start at once: the first creates the schema, the others wait.
        "select pg_advisory_xact_lock(hashtext('tasks-huey-schema'))",
        f'create schema if not exists "{schema}"',
        # bigserial: a new row's id is above every id committed before, so a priority leaves in order.
        "create table if not exists message (id bigserial primary key, queue text not null, job_id text, "
        "lane text not null default 'default', data bytea not null, priority double precision not null default 0, "
        "claimed_by text, claimed_at double precision, deliveries integer not null default 0, "
        "done_at double precision, outcome bytea)",
        "create table if not exists delayed (id bigserial primary key, queue text not null, job_id text, "
        "lane text not null default 'default', data bytea not null, priority double precision not null default 0, "
        "timestamp double precision not null, held text)",
        "create table if not exists consumer (id text primary key, queue text not null, host text not null, "
        "pid integer not null, pid_namespace text, wake_address text, beat_at double precision not null)",
        "create table if not exists handed (queue text not null, job_id text not null, "
        "at double precision not null, primary key (queue, job_id))",
        "drop table if exists tick",  # periodic ticks moved to the app's ledger (PeriodicTick)
        "create table if not exists huey_kv (queue text not null, key text not null, value bytea not null, "
        "primary key (queue, key))",
        "create table if not exists huey_counter (queue text not null, key text not null, "
        "value bigint not null default 0, primary key (queue, key))",
        *(
            f"alter table {table} add column if not exists {column} {pg_type}"
            for table, column, _, pg_type in ADDED_COLUMNS
        ),
        *INDEXES,
    ]


class _Cursor:
    """A psycopg cursor that takes the SQL written for sqlite3: its `?` placeholders become `%s`
    (no statement of the queue has a `?` or a `%` of its own)."""

    def __init__(self, cursor):
        self._cursor = cursor

    def execute(self, query, params=()):
        return self._cursor.execute(query.replace("?", "%s"), params)

    def __getattr__(self, name):
        return getattr(self._cursor, name)


class LeasedPostgresStorage(LeasedStorage, PostgresStorage):
    LOCK_READY = " for update skip locked"
    LOCK_HELD = " for update"
    LOOK_BEFORE_CLAIM = False

    def __init__(self, name="huey", dsn=None, schema="huey", **kwargs):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"not a schema name: {schema!r}")
        self.schema = schema
        self._listener: Listener | None = None
        # Unqualified names (ours and Huey's `huey_kv`, `huey_counter`) resolve in the queue's schema.
        super().__init__(name, dsn=dsn, options=f"-c search_path={schema}", create_tables=False, **kwargs)
        self.ddl = _tables(schema)
        self.initialize_schema()

    def db(self, commit=False, close=False):
        return _wrapped(super().db(commit=commit, close=close))

    def sql(self, query, params=None, commit=False, results=False):
        # One statement is a transaction of its own on an autocommit connection: no BEGIN and
        # COMMIT round trips (what `with self.db(commit=True)` adds for several statements).
        return super().sql(query, params, commit=False, results=results)

    def to_blob(self, data):
        return bytes(data)

    def clock(self) -> float:
        # The server's clock: a consumer whose host clock runs ahead must not declare the others dead.
        return self.sql("select extract(epoch from clock_timestamp())::float8", results=True)[0][0]

    def _wake_consumers(self, curs, count: int) -> list[str]:
        # Delivered to every listening consumer when (and only if) the transaction commits.
        curs.execute("select pg_notify(?, ?)", (self.channel, str(min(count, MAX_WAKE))))
        return []

    def start_listening(self, waker: wakeup.Waker | None) -> None:
        """Pass this queue's notifications on to `waker` (the consumer's idle workers)."""
        if waker is not None:
            self._listener = Listener(self, waker)
            self._listener.start()

    def stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


class _wrapped:
    """`with storage.db() as curs`: the same transaction, through `_Cursor`."""

    def __init__(self, manager):
        self._manager = manager

    def __enter__(self):
        return _Cursor(self._manager.__enter__())

    def __exit__(self, *exc_info):
        return self._manager.__exit__(*exc_info)


class Listener(threading.Thread):
    """One LISTEN connection per consumer: a notification of n ready messages wakes n workers.

    Should the connection fail, it reconnects after a second; meanwhile idle workers still look
    every `wakeup.WAIT` seconds, so a lost notification delays a job by at most that long.
    """

    def __init__(self, storage: LeasedPostgresStorage, waker: wakeup.Waker):
        super().__init__(name="queue-listener", daemon=True)
        self._storage, self._waker = storage, waker
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                with self._storage._connect() as conn:
                    conn.execute(f'listen "{self._storage.channel}"')
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=wakeup.WAIT):
                            self._waker.wake_all(int(notify.payload or 1))
            except Exception:
                if not self._stopping.is_set():
                    logger.exception("queue listener: connection lost; listening again in 1 s")
                    self._stopping.wait(1)

    def stop(self) -> None:
        """It ends within `wakeup.WAIT` seconds, on its own: a stopping consumer need not wait."""
        self._stopping.set()
