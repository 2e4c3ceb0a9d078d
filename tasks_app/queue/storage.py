"""The leased queue's storage: Huey's storage contract, with claims instead of deletes.

A message is *ready* (no owner), *claimed* by a consumer, *done* (its job ended: what the job
wrote to the queue afterwards committed with this mark, and its history events are kept on the
row until they are written to the app's database), or gone (acked). Each consumer keeps a row in
`consumer` and beats it: that beat is the lease of every message it holds. A claimed message
whose consumer is dead (its process is gone, or its beat is older than the lease) is *orphaned*:
`release_orphans()` makes it ready again, or deletes it when it was done. Delayed messages wait
in `delayed` and move to `message` in one transaction when due; a paused job's runs wait there
too, *held* until the job is resumed. `handed` records the jobs whose pre-written history row was
handed to the queue, so a row is enqueued once, by its request or by recovery.

Fair turns: a message carries its *party* (the person whose action enqueued it, if any) and a
*turn*. A party's next message takes the turn after its last one in the lane, and never one
before the lane's head (the lowest turn waiting); a message of no one takes the head's. Claims go
by priority, then turn, then age: of two people's messages, neither waits behind more than one of
the other's per turn, however many the other has queued. A claim can hold back some parties of a
lane (the consumer's fair lanes: a party that holds its share of the lane's places waits).

`LeasedStorage` writes each transition once, in SQL that SQLite and PostgreSQL both accept (with
sqlite3's `?` placeholders; the PostgreSQL storage turns them into psycopg's). The two differ
only in the tables' types, in row locks (`LOCK_READY`: PostgreSQL's concurrent claimers skip the
rows another one is claiming, SQLite's single writer needs none) and in how consumers are woken
(`_wake_consumers`). Results, locks and counters are stock Huey's tables and code.
`LeasedSqliteStorage` is SQLite's; `tasks_app.queue.postgres` has PostgreSQL's. Nothing here
imports Django: Huey loads this module while Django's apps are still loading.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from dataclasses import dataclass

from huey.storage import SqliteStorage

from tasks_app.queue import lanes, wakeup

HOSTNAME = socket.gethostname()
HELD = 1e18  # the `timestamp` of a held run: never due


def _pid_namespace() -> str:
    """Which process table this process's pid belongs to: containers with the same host name
    (host networking) each have their own."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


PID_NAMESPACE = _pid_namespace()


@dataclass
class Claim:
    """A message handed to one consumer: acked when Huey is done with it, released otherwise."""

    message_id: int
    job_id: str | None
    data: bytes
    deliveries: int  # this claim included
    lane: str
    party: str | None = None


@dataclass
class Orphan:
    message_id: int
    job_id: str | None
    data: bytes
    claimed_by: str
    claimed_at: float
    outcome: bytes | None  # a done message: the history events its job left unwritten


def _placeholders(values) -> str:
    return ",".join("?" * len(values))


# The lane's head: the lowest turn waiting in it (0 when none waits); params (queue, lane).
_HEAD = "(select coalesce(min(turn), 0) from message where queue = ? and lane = ? and claimed_by is null)"
# A delayed message moved into the queue (due, or resumed) takes its lane's head turn.
_MOVED = "queue, job_id, lane, data, priority, party, turn"
_MOVED_FROM_DELAYED = (
    "queue, job_id, lane, data, priority, party, (select coalesce(min(waiting.turn), 0) from message waiting "
    "where waiting.queue = delayed.queue and waiting.lane = delayed.lane and waiting.claimed_by is null)"
)


def _same_process_table(host: str, pid_namespace: str | None) -> bool:
    return host == HOSTNAME and pid_namespace in (PID_NAMESPACE, None)  # None: a consumer from before it was kept


def _alive_here(consumer_id: str, pid: int, current_id: str | None) -> bool:
    if pid == os.getpid():
        return current_id is None or consumer_id == current_id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class LeasedStorage:
    """The leased queue's transitions, for a Huey SQL storage (`sql()`, `db()`) with our tables."""

    # Huey's workers poll a storage that does not block; LeasedHuey.dequeue() blocks on a wake-up.
    blocking = True
    LOCK_READY = ""  # appended to the select of the rows a transition takes
    LOCK_HELD = ""  # appended to the select of a message its consumer is about to mark done
    # Look for a ready message before claiming one: an idle SQLite consumer then never takes the
    # file's one write lock; on PostgreSQL the look would only be one more round trip per job.
    LOOK_BEFORE_CLAIM = True

    def __init__(self, *args, **kwargs):
        self._local = threading.local()  # the transaction this thread has open (`transaction()`)
        super().__init__(*args, **kwargs)

    def _wake_consumers(self, curs, count: int) -> list[str]:
        """Inside a transaction that made `count` messages ready: the addresses of the consumers to
        wake once it commits (`wakeup.wake`)."""
        raise NotImplementedError

    def clock(self) -> float:
        """Now, by the clock every consumer of this queue agrees on: beats and leases are read
        against it. On one host, the host's; PostgreSQL's server clock for consumers on many."""
        return time.time()

    def _wake_after(self, curs, count: int = 1) -> list[str]:
        return self._wake_consumers(curs, count) if count else []

    # -- one transaction for several writes ------------------------------------------------------

    @contextlib.contextmanager
    def db(self, commit=False, close=False):
        cursor = getattr(self._local, "cursor", None)
        if cursor is not None:  # part of the transaction this thread has open
            yield cursor
            return
        with super().db(commit=commit, close=close) as cursor:
            yield cursor

    @contextlib.contextmanager
    def transaction(self):
        """Everything this thread writes to the queue inside the block (Huey's own methods too)
        commits at its end, or none of it; the consumers to wake are woken once it commits."""
        with self.db(commit=True) as cursor:
            self._local.cursor, self._local.wake = cursor, []
            try:
                yield cursor
            finally:
                addresses, self._local.cursor, self._local.wake = self._local.wake, None, None
        wakeup.wake(addresses)

    def _wake(self, addresses: list[str]) -> None:
        pending = getattr(self._local, "wake", None)
        if pending is not None:
            pending.extend(addresses)  # sent once the open transaction commits
        else:
            wakeup.wake(addresses)

    # -- ready messages ------------------------------------------------------------------------

    def enqueue(self, data, priority=None, job_id=None, lane=lanes.DEFAULT, *, once=False, party=None) -> bool:
        """Put a message in the queue, in its party's next turn. `once`: the job's pre-written
        history row is handed over here (by its request or by recovery); it is enqueued only by
        the first to hand it."""
        with self.db(commit=True) as curs:
            if once and not self._hand_over(curs, job_id):
                return False
            curs.execute(
                "insert into message (queue, job_id, lane, data, priority, party, turn) values (?, ?, ?, ?, ?, ?, "
                f"(select max(turn) from (select {_HEAD} as turn union all "
                "select max(turn) + 1 from message where queue = ? and lane = ? and party = ?) as turns))",
                (
                    self.name,
                    job_id,
                    lane,
                    self.to_blob(data),
                    priority or 0,
                    party,
                    self.name,
                    lane,
                    self.name,
                    lane,
                    party,
                ),
            )
            addresses = self._wake_after(curs)
        self._wake(addresses)
        return True

    def _hand_over(self, curs, job_id: str) -> bool:
        curs.execute(
            "insert into handed (queue, job_id, at) values (?, ?, ?) on conflict do nothing",
            (self.name, job_id, time.time()),
        )
        return curs.rowcount == 1

    def forget_handed(self, before: float) -> None:
        """Forget hand-overs older than `before` (their jobs were run or recovered long ago)."""
        self.sql("delete from handed where queue = ? and at < ?", (self.name, before), commit=True)

    def claim(
        self, consumer_id: str, open_lanes: list[str], held_back: dict[str, set[str]] | None = None
    ) -> Claim | None:
        """Hand the best ready message of these lanes to `consumer_id`: each lane's next (highest
        priority, then turn, then oldest), then the best of those (priority, then age).
        `held_back`: per lane, the parties none of whose messages may be claimed now."""
        if not open_lanes:
            return None
        if self.LOOK_BEFORE_CLAIM and not self.sql(
            f"select 1 from message where queue = ? and claimed_by is null and lane in ({_placeholders(open_lanes)}) "
            "limit 1",
            (self.name, *open_lanes),
            results=True,
        ):
            return None  # idle: no write lock taken
        nexts, params = [], []
        for number, lane in enumerate(open_lanes):  # one index seek per lane, however long the queue
            skip = sorted((held_back or {}).get(lane, ()))
            where = "queue = ? and lane = ? and claimed_by is null"
            if skip:
                where += f" and (party is null or party not in ({_placeholders(skip)}))"
            nexts.append(
                f"select * from (select id, priority from message where {where} "
                f"order by priority desc, turn, id limit 1{self.LOCK_READY}) as lane{number}"
            )
            params += [self.name, lane, *skip]
        rows = self.sql(
            "update message set claimed_by = ?, claimed_at = ?, deliveries = deliveries + 1 where id = "
            f"(select id from ({' union all '.join(nexts)}) as nexts order by priority desc, id limit 1) "
            "returning id, job_id, data, deliveries, lane, party",
            (consumer_id, time.time(), *params),
            commit=True,
            results=True,
        )
        if not rows:
            return None
        message_id, job_id, data, deliveries, lane, party = rows[0]
        return Claim(message_id, job_id, bytes(data), deliveries, lane, party)

    def dequeue(self):
        """Huey's contract: take the next message away for good (at most once). The consumer claims."""
        with self.db(commit=True) as curs:
            curs.execute(
                "delete from message where id = (select id from message where queue = ? and claimed_by is null "
                f"order by priority desc, id limit 1{self.LOCK_READY}) returning data",
                (self.name,),
            )
            row = curs.fetchone()
        return bytes(row[0]) if row else None

    def holds(self, message_id: int, consumer_id: str) -> bool:
        """Whether this consumer holds this message, not yet done (in `transaction()`: until it ends)."""
        return bool(
            self.sql(
                f"select 1 from message where id = ? and claimed_by = ? and done_at is null{self.LOCK_HELD}",
                (message_id, consumer_id),
                results=True,
            )
        )

    def finish(self, message_id: int, consumer_id: str, outcome: bytes) -> None:
        """Mark a claimed message done, keeping `outcome` (its job's unwritten history) on it."""
        self.sql(
            "update message set done_at = ?, outcome = ? where id = ? and claimed_by = ?",
            (time.time(), self.to_blob(outcome), message_id, consumer_id),
            commit=True,
        )

    def ack(self, message_ids: list[int], consumer_id: str) -> None:
        """Huey is done with these messages: delete them, if this consumer still holds them."""
        for chunk in _chunks(message_ids):
            self.sql(
                f"delete from message where id in ({_placeholders(chunk)}) and claimed_by = ?",
                (*chunk, consumer_id),
                commit=True,
            )

    def release(self, message_ids: list[int], consumer_id: str, *, count_delivery: bool = False) -> None:
        """Make these messages ready again (an interrupted run); by default the delivery is not counted."""
        if not message_ids:
            return
        with self.db(commit=True) as curs:
            for chunk in _chunks(message_ids):
                curs.execute(
                    "update message set claimed_by = null, claimed_at = null, "
                    f"deliveries = deliveries - ? where id in ({_placeholders(chunk)}) and claimed_by = ? "
                    "and done_at is null",
                    (0 if count_delivery else 1, *chunk, consumer_id),
                )
            addresses = self._wake_after(curs, len(message_ids))
        self._wake(addresses)

    def uncount_delivery(self, message_ids: list[int], consumer_id: str) -> None:
        """Their runs were stopped on purpose: their next delivery is not counted against them."""
        for chunk in _chunks(message_ids):
            self.sql(
                f"update message set deliveries = deliveries - 1 where id in ({_placeholders(chunk)}) "
                "and claimed_by = ? and done_at is null",
                (*chunk, consumer_id),
                commit=True,
            )

    def queue_size(self):
        return self.sql(
            "select count(*) from message where queue = ? and claimed_by is null", (self.name,), results=True
        )[0][0]

    def claimed_size(self) -> int:
        return self.sql(
            "select count(*) from message where queue = ? and claimed_by is not null and done_at is null",
            (self.name,),
            results=True,
        )[0][0]

    def enqueued_items(self, limit=None):
        sql = "select data from message where queue = ? and claimed_by is null order by priority desc, id"
        params = (self.name,)
        if limit is not None:
            sql += " limit ?"
            params += (limit,)
        return [bytes(data) for (data,) in self.sql(sql, params, results=True)]

    def flush_queue(self):
        self.sql("delete from message where queue = ?", (self.name,), commit=True)

    def job_ids_present(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs have a message waiting, delayed, held, claimed or done."""
        present = set()
        for chunk in _chunks(job_ids):
            for table in ("message", "delayed"):
                rows = self.sql(
                    f"select job_id from {table} where queue = ? and job_id in ({_placeholders(chunk)})",
                    (self.name, *chunk),
                    results=True,
                )
                present.update(job_id for (job_id,) in rows)
        return present

    def delete_data(self, key):
        """Huey deletes a job's revoke key after every run; most jobs have none, so look before
        taking the write lock (stock Huey takes it every time)."""
        return self.has_data_for_key(key) and super().delete_data(key)

    # -- delayed and held messages ---------------------------------------------------------------

    def add_to_schedule(self, data, ts, priority=None, job_id=None, lane=lanes.DEFAULT, party=None):
        self.sql(
            "insert into delayed (queue, job_id, lane, data, priority, timestamp, party) values (?, ?, ?, ?, ?, ?, ?)",
            (self.name, job_id, lane, self.to_blob(data), priority or 0, ts.timestamp(), party),
            commit=True,
        )

    def hold(self, data, name: str, priority=None, job_id=None, lane=lanes.DEFAULT, party=None) -> None:
        """Keep a run of the paused job `name` aside until `unhold(name)`: never due, never claimed."""
        self.sql(
            "insert into delayed (queue, job_id, lane, data, priority, timestamp, held, party) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.name, job_id, lane, self.to_blob(data), priority or 0, HELD, name, party),
            commit=True,
        )

    def unhold(self, name: str) -> int:
        """Move the held runs of job `name` into the queue now, in the order they were held."""
        with self.db(commit=True) as curs:
            curs.execute(
                f"insert into message ({_MOVED}) select {_MOVED_FROM_DELAYED} "
                "from delayed where queue = ? and held = ? order by id",
                (self.name, name),
            )
            moved = curs.rowcount
            curs.execute("delete from delayed where queue = ? and held = ?", (self.name, name))
            addresses = self._wake_after(curs, moved)
        self._wake(addresses)
        return moved

    def held_names(self) -> list[str]:
        """The jobs with runs held now."""
        rows = self.sql(
            "select distinct held from delayed where queue = ? and held is not null", (self.name,), results=True
        )
        return [name for (name,) in rows]

    def held_size(self) -> int:
        return self.sql(
            "select count(*) from delayed where queue = ? and held is not null", (self.name,), results=True
        )[0][0]

    def read_schedule(self, ts):
        """Huey's contract: take the due messages away and return them (the caller enqueues them)."""
        with self.db(commit=True) as curs:
            curs.execute(
                "delete from delayed where queue = ? and timestamp <= ? returning data, timestamp, id",
                (self.name, ts.timestamp()),
            )
            rows = sorted(curs.fetchall(), key=lambda row: (row[1], row[2]))
        return [bytes(data) for data, _, _ in rows]

    def enqueue_due(self, ts) -> list[bytes]:
        """Move the due delayed messages into the queue in one transaction; return them.

        Stock Huey deletes them, then enqueues them one by one: a crash in between loses them.
        Two schedulers moving at once (several consumers on PostgreSQL) never move one twice:
        each takes the rows it selected, locked (`LOCK_READY`).
        """
        with self.db(commit=True) as curs:
            curs.execute(
                f"select id, data from delayed where queue = ? and timestamp <= ? order by timestamp, id{self.LOCK_READY}",
                (self.name, ts.timestamp()),
            )
            due = curs.fetchall()
            for chunk in _chunks([message_id for message_id, _ in due]):
                ids = _placeholders(chunk)
                curs.execute(
                    f"insert into message ({_MOVED}) select {_MOVED_FROM_DELAYED} "
                    f"from delayed where id in ({ids}) order by timestamp, id",
                    chunk,
                )
                curs.execute(f"delete from delayed where id in ({ids})", chunk)
            addresses = self._wake_after(curs, len(due))
        self._wake(addresses)
        return [bytes(data) for _, data in due]

    def schedule_size(self):
        return self.sql("select count(*) from delayed where queue = ?", (self.name,), results=True)[0][0]

    def scheduled_items(self, limit=None):
        sql = "select data from delayed where queue = ? order by timestamp, id"
        params = (self.name,)
        if limit is not None:
            sql += " limit ?"
            params += (limit,)
        return [bytes(data) for (data,) in self.sql(sql, params, results=True)]

    def flush_schedule(self):
        self.sql("delete from delayed where queue = ?", (self.name,), commit=True)

    # -- consumers and their leases ------------------------------------------------------------

    def register_consumer(self, consumer_id: str, wake_address: str | None) -> None:
        self.sql(
            "insert into consumer (id, queue, host, pid, pid_namespace, wake_address, beat_at) "
            "values (?, ?, ?, ?, ?, ?, ?) on conflict (id) do update set queue = excluded.queue, "
            "host = excluded.host, pid = excluded.pid, pid_namespace = excluded.pid_namespace, "
            "wake_address = excluded.wake_address, beat_at = excluded.beat_at",
            (consumer_id, self.name, HOSTNAME, os.getpid(), PID_NAMESPACE, wake_address, self.clock()),
            commit=True,
        )

    def beat(self, consumer_id: str, wake_address: str | None) -> None:
        """Renew the lease of every message this consumer holds."""
        now = self.clock()  # before the transaction: the storage's lock is not reentrant
        with self.db(commit=True) as curs:
            curs.execute("update consumer set beat_at = ? where id = ?", (now, consumer_id))
            renewed = curs.rowcount
        if not renewed:  # declared dead after a long stall: its messages were released; live on
            self.register_consumer(consumer_id, wake_address)

    def unregister_consumer(self, consumer_id: str) -> None:
        self.sql("delete from consumer where id = ?", (consumer_id,), commit=True)

    def consumer_ids(self) -> list[str]:
        """The consumers registered on this queue now (alive, or dead and not yet found out)."""
        return [
            row[0]
            for row in self.sql("select id from consumer where queue = ? order by id", (self.name,), results=True)
        ]

    def find_orphans(self, lease_seconds: float, current_id: str | None = None) -> list[Orphan]:
        """The messages held by dead consumers, with who held them since when.

        A consumer is dead when its beat is older than the lease, or, in this process table, when
        its process is gone (so a restart after `kill -9` finds its jobs at once). Dead consumers'
        rows are deleted; their messages stay claimed until `release_orphans`. `current_id` is
        the caller's own consumer id: another row with the caller's pid is a dead predecessor (a
        container restarts a process with the same pid); without it, such rows count as alive.
        """
        stale_before = self.clock() - lease_seconds
        with self.db(commit=True) as curs:
            curs.execute("select id, host, pid_namespace, pid, beat_at from consumer where queue = ?", (self.name,))
            dead = [
                consumer_id
                for consumer_id, host, pid_namespace, pid, beat_at in curs.fetchall()
                if beat_at < stale_before
                or (_same_process_table(host, pid_namespace) and not _alive_here(consumer_id, pid, current_id))
            ]
            for chunk in _chunks(dead):
                curs.execute(f"delete from consumer where id in ({_placeholders(chunk)})", chunk)
            curs.execute(
                f"select id, job_id, data, claimed_by, claimed_at, done_at, outcome from message where {self._ORPHANED}",
                (self.name,),
            )
            return [
                Orphan(message_id, job_id, bytes(data), claimed_by, claimed_at, bytes(outcome or b"") if done else None)
                for message_id, job_id, data, claimed_by, claimed_at, done, outcome in curs.fetchall()
            ]

    _ORPHANED = "queue = ? and claimed_by is not null and claimed_by not in (select id from consumer)"

    def release_orphans(self, orphans: list[Orphan]) -> None:
        """Make these orphaned messages ready again, or delete them when they were done (unless
        their consumer came back meanwhile)."""
        with self.db(commit=True) as curs:
            for chunk in _chunks([orphan.message_id for orphan in orphans]):
                params = (*chunk, self.name)
                where = f"id in ({_placeholders(chunk)}) and {self._ORPHANED}"
                curs.execute(f"delete from message where {where} and done_at is not null", params)
                curs.execute(f"update message set claimed_by = null, claimed_at = null where {where}", params)
            addresses = self._wake_after(curs, len(orphans))
        self._wake(addresses)


# The tables; SQLite's and PostgreSQL's differ only in their types.
SQLITE_TABLES = [
    # A new row's id is above every id in the table, so messages of one priority leave in order.
    "create table if not exists message (id integer primary key, queue text not null, job_id text, "
    "lane text not null default 'default', data blob not null, priority real not null default 0, "
    "claimed_by text, claimed_at real, deliveries integer not null default 0, done_at real, outcome blob)",
    "create table if not exists delayed (id integer primary key, queue text not null, job_id text, "
    "lane text not null default 'default', data blob not null, priority real not null default 0, "
    "timestamp real not null, held text)",
    "create table if not exists consumer (id text primary key, queue text not null, host text not null, "
    "pid integer not null, pid_namespace text, wake_address text, beat_at real not null)",
    "create table if not exists handed (queue text not null, job_id text not null, at real not null, "
    "primary key (queue, job_id))",
    "drop table if exists tick",  # periodic ticks moved to the app's ledger (PeriodicTick)
]
# Columns added since the tables were first created: (table, column, SQLite type, PostgreSQL type).
ADDED_COLUMNS = [
    ("message", "done_at", "real", "double precision"),
    ("message", "outcome", "blob", "bytea"),
    ("delayed", "held", "text", "text"),
    ("consumer", "pid_namespace", "text", "text"),
    ("message", "party", "text", "text"),
    ("message", "turn", "integer not null default 0", "bigint not null default 0"),
    ("delayed", "party", "text", "text"),
]
INDEXES = [
    "drop index if exists message_ready",  # before fair turns: (queue, lane, priority desc, id)
    "create index if not exists message_next on message (queue, lane, priority desc, turn, id) "
    "where claimed_by is null",
    "create index if not exists message_head on message (queue, lane, turn) where claimed_by is null",
    "create index if not exists message_party on message (queue, lane, party, turn) where party is not null",
    "create index if not exists message_owner on message (claimed_by) where claimed_by is not null",
    "create index if not exists message_job on message (job_id)",
    "create index if not exists delayed_due on delayed (queue, timestamp)",
    "create index if not exists delayed_job on delayed (job_id)",
    "create index if not exists delayed_held on delayed (queue, held) where held is not null",
    "create index if not exists handed_at on handed (queue, at)",
]


class LeasedSqliteStorage(LeasedStorage, SqliteStorage):
    """The leased queue in its own SQLite file (`db/huey.sqlite3`): one writer at a time
    (`begin exclusive`), consumers on this host woken through their sockets."""

    ddl = [SqliteStorage.table_kv, SqliteStorage.table_counter, *SQLITE_TABLES]

    def __init__(self, name="huey", filename="huey.db", synchronous="NORMAL", **kwargs):
        # WAL with synchronous=NORMAL: durable across process crashes; a power loss may lose the
        # last commits, never the file. Stock Huey offers only FULL (an fsync a commit) or OFF.
        self._synchronous = synchronous
        super().__init__(name, filename, **kwargs)

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute(f"pragma synchronous={self._synchronous}")
        return conn

    def initialize_schema(self):
        super().initialize_schema()
        with self.db(commit=True) as curs:
            for table, column, sqlite_type, _ in ADDED_COLUMNS:
                curs.execute(f"select 1 from pragma_table_info('{table}') where name = ?", (column,))
                if not curs.fetchone():
                    curs.execute(f"alter table {table} add column {column} {sqlite_type}")
            for index in INDEXES:
                curs.execute(index)

    def _wake_consumers(self, curs, count: int) -> list[str]:
        curs.execute(
            "select wake_address from consumer where queue = ? and host = ? and wake_address is not null",
            (self.name, HOSTNAME),
        )
        return [address for (address,) in curs.fetchall()]


def _chunks(values: list, size: int = 500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]
