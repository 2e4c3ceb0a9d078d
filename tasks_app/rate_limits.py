"""Rate limits counted atomically, across threads, web workers and machines.

A limit counts a key's hits in buckets a tenth of its period long, and a hit is allowed while
the hits of the last ten buckets (this one included: a sliding window of 90 to 100% of the
period) are within the limit; they leave the count a bucket at a time. A hit adds one and reads
its bucket's count back in one statement (an upsert, or Redis' INCR), so two workers never both
read 1,199 and both let the 1,200th through, as the cache's read-then-write did (DRF's
throttles on Django's file cache). A refused hit counts too.

Where the counts live: in Redis when the queue is there (HUEY_REDIS_URL); on PostgreSQL in the app
database (`RateCount`); on SQLite in a file of their own (RATE_LIMIT_DB), so that a request that
is only counted never waits for the app database's write lock.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

BUCKETS = 10  # a period counted in tenths

UPSERT = (
    "insert into {table} (key, bucket, hits, expires_at) values (?, ?, 1, ?) "
    "on conflict (key, bucket) do update set hits = {table}.hits + 1 returning hits"
)
EARLIER = "select bucket, hits from {table} where key = ? and bucket >= ? and bucket < ?"
FORGET = "delete from {table} where expires_at < ?"
SQLITE_TABLE = (
    "create table if not exists rate_count (key text not null, bucket integer not null, "
    "hits integer not null, expires_at real not null, primary key (key, bucket))"
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    wait: float = 0.0  # refused: seconds until a hit may be allowed again


def hit(key: str, limit: int, period: int) -> Verdict:
    """Count one hit of `key` against `limit` hits per `period` seconds."""
    now = time.time()
    size = period / BUCKETS
    bucket = int(now // size)
    current, earlier = _store().count(key, bucket, since=bucket - BUCKETS + 1, expires_at=(bucket + BUCKETS + 1) * size)
    if current + sum(earlier.values()) <= limit:
        return Verdict(True)
    # Refused: until enough of the oldest buckets have left the count for one more hit.
    excess = current + 1 + sum(earlier.values()) - limit
    for oldest in sorted(earlier):
        excess -= earlier[oldest]
        if excess <= 0:
            return Verdict(False, (oldest + BUCKETS) * size - now)
    return Verdict(False, (bucket + BUCKETS) * size - now)


def forget_expired() -> None:
    """Delete the counts of buckets no hit reads any more (Redis expires its own)."""
    _store().forget(time.time())


def _store():
    if settings.HUEY_REDIS_URL:
        return _redis_store(settings.HUEY_REDIS_URL)
    if connection.vendor == "postgresql":
        return DatabaseStore()
    return _sqlite_store(str(settings.RATE_LIMIT_DB))


class DatabaseStore:
    """The counts in the app database's `tasks_app_ratecount` (PostgreSQL: row locks, no file lock)."""

    table = "tasks_app_ratecount"

    def _run(self, sql: str, params) -> list:
        with connection.cursor() as cursor:
            cursor.execute(sql.format(table=self.table).replace("?", "%s"), params)
            return cursor.fetchall() if cursor.description else []

    def count(self, key: str, bucket: int, *, since: int, expires_at: float) -> tuple[int, dict[int, int]]:
        """Add a hit to `bucket`; its hits, and those of the buckets from `since` until it."""
        (current,), *_ = self._run(UPSERT, (key, bucket, expires_at))
        return current, dict(self._run(EARLIER, (key, since, bucket)))

    def forget(self, now: float) -> None:
        self._run(FORGET, (now,))


class SqliteStore:
    """The counts in a SQLite file of their own; one connection per thread."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # Autocommit; WAL lets the counting go on beside reads. synchronous=OFF: a power cut
            # may forget the last counts, which start again from zero.
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None, check_same_thread=False)
            conn.execute("pragma synchronous=off")
            _set_up(conn)
            self._local.conn = conn
        return conn

    def count(self, key: str, bucket: int, *, since: int, expires_at: float) -> tuple[int, dict[int, int]]:
        conn = self._connection()
        (current,) = conn.execute(UPSERT.format(table="rate_count"), (key, bucket, expires_at)).fetchone()
        return current, dict(conn.execute(EARLIER.format(table="rate_count"), (key, since, bucket)).fetchall())

    def forget(self, now: float) -> None:
        self._connection().execute(FORGET.format(table="rate_count"), (now,))


def _set_up(conn: sqlite3.Connection, tries: int = 100) -> None:
    """WAL and the table, once per file. The first connections of several processes at once
    race to switch a new file to WAL, which SQLite answers "database is locked" at once instead of
    waiting: the loser tries again shortly."""
    for attempt in range(tries):
        try:
            if conn.execute("pragma journal_mode").fetchone()[0] != "wal":
                conn.execute("pragma journal_mode=wal")
            conn.execute(SQLITE_TABLE)
            return
        except sqlite3.OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(0.02)


class RedisStore:
    """The counts in Redis, each bucket expiring once no hit reads it."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)

    def count(self, key: str, bucket: int, *, since: int, expires_at: float) -> tuple[int, dict[int, int]]:
        name = f"tasks:rate:{key}:{bucket}"
        earlier = range(since, bucket)
        with self.client.pipeline() as pipe:  # MULTI/EXEC: the count and its expiry together
            pipe.incr(name)
            pipe.expireat(name, int(expires_at) + 1)
            pipe.mget([f"tasks:rate:{key}:{number}" for number in earlier])
            current, _, hits = pipe.execute()
        return current, {number: int(n) for number, n in zip(earlier, hits, strict=True) if n}

    def forget(self, now: float) -> None:
        pass


_sqlite_store = functools.cache(SqliteStore)
_redis_store = functools.cache(RedisStore)
