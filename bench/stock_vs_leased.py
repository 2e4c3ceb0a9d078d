"""Stock Huey's SqliteHuey, this project's leased queue and django-tasks-db, the same no-op, in one run.

    .venv/bin/pip install -r requirements-bench.txt   # django-tasks-db, the peer
    .venv/bin/python bench/stock_vs_leased.py [--quick] [--jobs 2000] [--waiting 100000]
        [--history 1000000] [--profile-jobs 3000] [--claims 300] [--postgres] [--idle 15]
        [--samples 5] [--gap 3]

3.5 to 5 minutes on the 2-core machine (20 to 40 s of it building the history); `--quick` 1 to 2
(400 jobs, 10,000 waiting, 100,000 history rows, a short idle, no 2-consumer drains); `--postgres`
about a minute more. Each measurement's time goes to stderr as it ends. Without django-tasks-db
installed, its measurements are left out.

Every variant runs the same no-op, a registered job that returns at once: the queue's own cost
per job and nothing of a job's (columns):
- stock: `huey.SqliteHuey(fsync=True)`, `bench.stock_huey_app.noop`, no history, consumed by
  `huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0 -q` (stock polling).
- ours: this queue on SQLite (settings.HUEY, `LeasedSqliteHuey`), job history on,
  `bench.leased_jobs.noop` (a `db_task`, as every app job is), consumed by `bench/leased_consumer.py`
  (`manage.py run_huey` with that job registered) with HUEY_WORKERS=2; the app database and the
  queue in a temporary DATA_DIR.
- ours, real job: the same queue running an app job, `task_assigned_notify(<missing task id>)`
  (one ORM SELECT, returns False), 1 consumer only: what a small real job adds.
- django-tasks-db: django-tasks' database backend (requirements-bench.txt) in the app database
  (bench/django_tasks_settings.py: the app's settings, SQLite engine and options),
  `bench.django_tasks_jobs.noop`, consumed by `manage.py db_worker --no-startup-delay -v 0` (one
  thread per process; its default 1 s poll when idle).
- with `--postgres`: this queue on PostgreSQL (a throw-away server, tests/postgres_server.py,
  fsync=off; app database and queue in one fresh database; its server's CPU counted apart).

Each measurement runs in a fresh Python process on a fresh folder (the app database copied from
one migrated at the start); 1 consumer then 2 (the second started with `--no-periodic` / `-n`).
Consumers log at WARNING.

1. enqueue/s: N jobs enqueued from the bench process with no consumer running, one transaction
   each, as a request does (ours: `queue.enqueue_on_commit` in `transaction.atomic()`, the history
   row in it; django-tasks-db: `noop.enqueue(i)` in `transaction.atomic()`; stock: `huey.enqueue`);
   and the bench process's CPU per enqueue (steadier than the rate on a shared machine).
2. drain/s: the consumers start once the N jobs wait. "jobs" is the first job's start to the
   last one's finish, "wall" from the first consumer's start (Popen) until all are done: ours, N
   succeeded JobRuns and no message left (acked only after its history is written); stock and
   django-tasks-db, their consumers' in-memory counts (bench/drain_counts.py) add up to N.
   Polled every 50 ms. CPU (utime + stime, /proc) of the consumers from the poll before the first
   job's start to the end, per job. "start -> first job": startup, and the CPU it took.
3. claim, ms a job: with the consumers stopped, K claims timed in the bench process, as a
   consumer claims: stock `storage.dequeue()` (a delete, fsync'd); ours `storage.claim()` over the
   consumer's 5 lanes (and over 1 lane: what the lanes' union costs); django-tasks-db its worker's
   `exclusive_transaction` + `get_locked()` + `claim()`. Wall and CPU.
4. (1 consumer, stock and ours) RSS after the drain; CPU while idle `--idle` s; then one job
   enqueued and its start read back (stock: time.time() as its first statement, ours: its
   JobRun.started_at), `--samples` times `--gap` s apart: idle pickup p50 and max.
5. Scale (1 consumer): the same with `--waiting` jobs already waiting (built with bulk inserts:
   ours, messages and their pending JobRun rows, enqueued a minute ago; the N drained are the
   oldest of them) and with a job history of `--history` finished JobRuns (3 JobEvents each) and
   as many finished django-tasks-db results in the same app database; stock has no history.
6. Profile: ours, 1 consumer, `--profile-jobs` no-ops, with BENCH_PROFILE set: each thread's CPU
   charged to the stage of a job it is in (bench/consumer_profile.py: why not a sampling profiler
   on a shared machine). Each stage's CPU per job as profiled, its share of the consumer's CPU
   after its start, and that share of the CPU per job of a twin measured just before without it.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from bench import drain_counts  # noqa: E402

POLL = 0.05  # seconds between checks for the end of a drain
BODY_CALLS = 1000  # calls of each no-op's body, timed alone in the bench process
PICKUP_POLL = 0.005  # ... for a pickup sample's start (the figure is the job's own start time)
CLK_TCK = os.sysconf("SC_CLK_TCK")
KINDS = {
    "stock": "stock SqliteHuey",
    "ours": "ours (SQLite)",
    "real": "ours, real job",
    "dtdb": "django-tasks-db",
    "postgres": "ours (PostgreSQL)",
}
STOCK_CONSUMER = ["bench.stock_huey_app.huey", "-w", "2", "-k", "thread", "-d", "0.1", "-m", "1.0", "-q"]
NOOP_NAME = "bench.leased_jobs.bench_noop"
# Real job names for the history's rows (the bench's no-op never among them).
HISTORY_NAMES = [
    "tasks_app.jobs.notifications.task_assigned_notify",
    "tasks_app.jobs.emails.email_send",
    "tasks_app.jobs.emails.task_completed_notify",
    "tasks_app.jobs.files.report_build",
    "tasks_app.jobs.maintenance.stats_snapshot",
]
# Settings that would change what is measured if inherited from the caller's environment.
UNSET = (
    "DATABASE_URL",
    "HUEY_DATABASE_URL",
    "HUEY_REDIS_URL",
    "HUEY_LANES",
    "HUEY_CONSUMER_LANES",
    "HUEY_WORKERS",
    "JOB_HISTORY_ENABLED",
    "DJANGO_SETTINGS_MODULE",
)


@dataclass(frozen=True)
class Spec:
    kind: str  # a key of KINDS
    consumers: int = 1
    case: str = "empty"  # "empty", "waiting" (--waiting jobs queued first), "history" (--history rows)
    pickups: bool = False  # idle CPU and pickup samples after the drain
    profile: bool = False  # the consumer's CPU by stage (bench/consumer_profile.py)


@dataclass
class Figures:
    jobs: int = 0
    enqueue_rate: float = 0.0  # jobs/s
    enqueue_cpu_ms: float = 0.0  # the bench process's CPU per enqueue
    drain_wall: float = 0.0  # s, first consumer's start -> all done
    startup: float = 0.0  # s, first consumer's start -> first job started
    startup_cpu_s: float = 0.0  # consumers' CPU until the poll before the first job
    jobs_window: float = 0.0  # s, first job started -> last job finished
    drain_cpu_ms: float = 0.0  # consumers' CPU per job, first job -> done
    drain_cpu_pct: float = 0.0  # ... as a percentage of one core
    server_cpu_ms: float | None = None  # the PostgreSQL server's, likewise (postgres only)
    consumer_cpu_s: list[float] = field(default_factory=list)
    claim_ms: float | None = None  # per claim, in the bench process
    claim_cpu_ms: float | None = None  # ... its CPU
    claim_one_lane_ms: float | None = None  # ours: the same over one lane
    claim_one_lane_cpu_ms: float | None = None
    body_ms: float | None = None  # CPU of the no-op's body alone, called in the bench process
    rss_mb: float = 0.0
    idle_cpu: float | None = None  # % of one core
    pickups_ms: list[float] = field(default_factory=list)
    build_s: float = 0.0  # building the waiting jobs (or history) before the enqueue
    profile_path: str | None = None  # then (in the main process) the profile's JSON itself
    other_jobs: list[str] = field(default_factory=list)  # periodic jobs that ran meanwhile (ours)
    log_problems: list[str] = field(default_factory=list)


class Consumer:
    """A consumer subprocess whose output goes to a log file; stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.started = time.time()
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"consumer exited with {self.process.returncode}:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def log_lines(self) -> list[str]:
        """Every consumer logs at WARNING: every line is a warning or an error."""
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        return process_cpu(self.pid)


def process_cpu(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of a process (fields 14, 15 of /proc/<pid>/stat), and of its reaped children (16, 17)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def server_cpu(postmaster: int | None) -> float:
    """The PostgreSQL server's CPU: the postmaster, the backends it has reaped, and its live children."""
    if postmaster is None:
        return 0.0
    total = process_cpu(postmaster, reaped_children=True)
    for child in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # exited meanwhile: counted as reaped
            total += process_cpu(int(child))
    return total


def server_facts(url: str) -> tuple[int, str]:
    """The server's postmaster (the parent of a backend) and its version."""
    import psycopg

    with psycopg.connect(url) as conn:
        backend, version = conn.execute("select pg_backend_pid(), current_setting('server_version')").fetchone()
    for line in Path(f"/proc/{backend}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1]), version
    raise RuntimeError("no PPid")


def django_env(folder: Path, settings: str, database_url: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in UNSET}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DJANGO_SECRET_KEY="bench-queue",
        DJANGO_DEBUG="0",
        DATA_DIR=str(folder),
        HUEY_IMMEDIATE="0",
        HUEY_WORKERS="2",
        JOB_HISTORY_ENABLED="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        **({"DATABASE_URL": database_url} if database_url else {}),
    )
    return env


def setup_django(env: dict[str, str]) -> None:
    """This process enqueues as a web process of the same deployment."""
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


def sqlite_bulk(path: Path):
    """A plain connection for building rows fast: no journal while it writes (WAL again after)."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=delete", "journal_mode=off", "synchronous=off", "cache_size=-500000"):
        conn.execute(f"pragma {pragma}")
    return conn


def sqlite_bulk_done(conn) -> None:
    conn.execute("pragma journal_mode=wal")
    conn.close()


def seconds_ago_sql(seconds: float, spread: float, n: int) -> str:
    """SQL for the i-th of n times, spread over `spread` seconds ending `seconds` ago, as Django
    stores a UTC datetime on SQLite."""
    return f"strftime('%Y-%m-%d %H:%M:%f', julianday('now') - ({seconds} + {spread} * (1.0 - 1.0 * i / {n})) / 86400.0)"


def counted(n: int) -> str:
    return f"(with recursive seq(i) as (select 0 union all select i + 1 from seq where i < {n} - 1) select i from seq)"


# -- the variants: what differs between stock Huey, this queue and django-tasks-db ----------------


class Stock:
    """Stock SqliteHuey in `folder`; its jobs are in bench/stock_huey_app.py."""

    def __init__(self, spec: Spec, folder: Path, jobs: int):
        os.environ["BENCH_STOCK_DB"] = str(folder / "stock.sqlite3")
        from bench import stock_huey_app

        self.app, self.jobs, self.case = stock_huey_app, jobs, spec.case
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.huey_consumer = str(Path(sys.executable).with_name("huey_consumer"))
        self.snapshot: list[dict] = []

    def build_waiting(self, count: int) -> None:
        huey = self.app.huey
        rows = ((huey.name, huey.serialize_task(self.app.noop.s(i)), 0.0) for i in range(count))
        with huey.storage.db(commit=True) as curs:
            curs.executemany("insert into task (queue, data, priority) values (?, ?, ?)", rows)

    def enqueue(self, i: int) -> None:
        self.app.huey.enqueue(self.app.noop.s(i))

    def body(self, i: int) -> None:
        self.app.noop.call_local(i)

    def consumer_command(self, n: int) -> list[str]:
        return [self.huey_consumer, *STOCK_CONSUMER, *(["-n"] if n else [])]

    def drained(self) -> bool:
        counts = drain_counts.read(self.app.DB)
        if sum(count["done"] for count in counts) < self.jobs:
            return False
        self.snapshot = counts
        return self.case == "waiting" or self.app.huey.pending_count() == 0

    def first_start_last_finish(self) -> tuple[float, float]:
        counts = [count for count in self.snapshot if count["done"]]
        return min(count["first_start"] for count in counts), max(count["last_finish"] for count in counts)

    def claims(self, count: int) -> list[tuple[float, float]]:
        if self.case != "waiting":
            for i in range(count):
                self.enqueue(i)
        return [timed_claims(lambda: self.app.huey.storage.dequeue() is not None, count)]

    def pickup(self, n: int, consumers: list[Consumer]) -> float:
        from huey.constants import EmptyData

        key = f"pickup-{n}"
        before = time.time()
        self.app.huey.enqueue(self.app.stamp.s(key))

        def started():
            value = self.app.huey.storage.peek_data(key)
            return None if value is EmptyData else float(bytes(value).decode())

        return wait_until(started, consumers, 30, PICKUP_POLL, "a pickup") - before

    def other_jobs(self) -> list[str]:
        return []


class Leased:
    """This queue with its history, through Django; on PostgreSQL when `database_url` is set."""

    def __init__(self, spec: Spec, folder: Path, jobs: int, database_url: str | None):
        self.env = django_env(folder, "site_config.settings", database_url)
        if database_url:
            manage = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
            subprocess.run(manage, cwd=ROOT, env=self.env, check=True, capture_output=True)
        setup_django(self.env)
        from django.db import transaction
        from huey.contrib.djhuey import HUEY

        from bench import leased_jobs
        from tasks_app import jobs as app_jobs
        from tasks_app import queue
        from tasks_app.models import JobRun

        self.transaction, self.queue, self.JobRun, self.huey = transaction, queue, JobRun, HUEY
        self.jobs, self.case, self.app_db = jobs, spec.case, folder / "app.sqlite3"
        self.job = app_jobs.task_assigned_notify if spec.kind == "real" else leased_jobs.noop
        self.argument = (lambda i: -(i + 1)) if spec.kind == "real" else (lambda i: i)  # a missing task's id
        self.name = queue.job_name(self.job)
        self.began = datetime.datetime.now(datetime.UTC)
        self.drain_ids: list[str] = []  # waiting: the jobs drained, the oldest waiting
        self.drain_upto = 0  # ... and the last one's message id

    def build_waiting(self, count: int) -> None:
        """`count` jobs waiting since a minute ago, as enqueue_on_commit leaves them: a pending JobRun
        with its `enqueued` event in the app database, a ready message in the queue."""
        tasks = [self.job.s(self.argument(i)) for i in range(count)]
        messages = [bytes(self.huey.serialize_task(task)) for task in tasks]
        with self.huey.storage.db(commit=True) as curs:
            curs.executemany(
                "insert into message (queue, job_id, lane, data, priority, turn) values (?, ?, 'default', ?, 0, 0)",
                [(self.huey.name, task.id, message) for task, message in zip(tasks, messages, strict=True)],
            )
            curs.execute("select id from message order by id limit 1 offset ?", (self.jobs - 1,))
            self.drain_upto = curs.fetchone()[0]
        self.drain_ids = [task.id for task in tasks[: self.jobs]]
        conn = sqlite_bulk(self.app_db)
        conn.execute("begin")
        conn.execute("create temp table waiting (i integer primary key, id text, message blob)")
        conn.executemany(
            "insert into waiting values (?, ?, ?)",
            [(i, task.id, message) for i, (task, message) in enumerate(zip(tasks, messages, strict=True))],
        )
        at = seconds_ago_sql(60, 60, count)
        row = {**JOBRUN_ROW, "id": "id", "name": f"'{self.name}'", "queue": f"'{self.huey.name}'"}
        row.update(args="'[' || i || ']'", message="message", state="'pending'", enqueued_at="t")
        row.update(updated_at="t", state_changed_at="t")
        insert_rows(conn, "tasks_app_jobrun", row, f"(select i, id, message, {at} as t from waiting) order by i")
        conn.execute(
            "insert into tasks_app_jobevent (job_id, kind, at, detail) "
            "select id, 'enqueued', enqueued_at, '' from tasks_app_jobrun order by rowid"
        )
        conn.execute("commit")
        sqlite_bulk_done(conn)

    def enqueue(self, i: int) -> None:
        with self.transaction.atomic():  # one request, one job
            self.queue.enqueue_on_commit(self.job, self.argument(i))

    def body(self, i: int) -> None:
        self.job.call_local(self.argument(2_000_000 + i))

    def consumer_command(self, n: int) -> list[str]:
        return [sys.executable, "bench/leased_consumer.py", *(["--no-periodic"] if n else [])]

    def drained(self) -> bool:
        if self.case == "waiting":  # acked, so their history is written: the oldest N are gone
            rows = self.huey.storage.sql(
                "select 1 from message where id <= ? limit 1", (self.drain_upto,), results=True
            )
            return not rows
        succeeded = self.JobRun.objects.filter(name=self.name, state=self.JobRun.State.SUCCEEDED).count()
        return succeeded == self.jobs and self.queue.pending_count() == 0 and self.queue.claimed_count() == 0

    def first_start_last_finish(self) -> tuple[float, float]:
        from django.db.models import Max, Min

        if self.case == "waiting":
            marks = [
                self.JobRun.objects.filter(pk__in=self.drain_ids[start : start + 500]).aggregate(
                    first=Min("started_at"), last=Max("finished_at")
                )
                for start in range(0, len(self.drain_ids), 500)
            ]
            return min(m["first"] for m in marks).timestamp(), max(m["last"] for m in marks).timestamp()
        marks = self.JobRun.objects.filter(name=self.name).aggregate(first=Min("started_at"), last=Max("finished_at"))
        return marks["first"].timestamp(), marks["last"].timestamp()

    def claims(self, count: int) -> list[tuple[float, float]]:
        """Per claim, over the consumer's lanes, then over the default lane alone."""
        if self.case != "waiting":
            for i in range(2 * count):
                self.enqueue(i)
        storage, lanes = self.huey.storage, list(self.huey.lane_limits)
        return [
            timed_claims(lambda open_lanes=open_lanes: storage.claim("bench:claims", open_lanes, {}), count)
            for open_lanes in (lanes, ["default"])
        ]

    def pickup(self, n: int, consumers: list[Consumer]) -> float:
        before = time.time()
        with self.transaction.atomic():
            job_id = self.queue.enqueue_on_commit(self.job, self.argument(1_000_000 + n))

        def started():
            return self.JobRun.objects.filter(pk=job_id).values_list("started_at", flat=True).first()

        return wait_until(started, consumers, 30, PICKUP_POLL, "a pickup").timestamp() - before

    def other_jobs(self) -> list[str]:
        runs = self.JobRun.objects.filter(enqueued_at__gte=self.began).exclude(name=self.name)
        return sorted(set(runs.values_list("name", flat=True)))


# A JobRun as the app writes a new one (SQL expressions by column); a waiting job's and a history
# row's differ in a few columns. Columns added to the table since are given their empty value.
JOBRUN_ROW = {
    "queue": "'huey'",
    "priority": "0",
    "args": "'[]'",
    "kwargs": "'{}'",
    "periodic": "0",
    "attempts": "0",
    "retries_left": "0",
    "progress_message": "''",
    "result_summary": "''",
    "error": "''",
    "traceback": "''",
    "deliveries": "0",
    "lane": "'default'",
}
DTDB_TABLE = "django_tasks_database_dbtaskresult"
DTDB_ROW = {  # a result as `noop.enqueue(i)` writes it
    "args_kwargs": "'{\"args\": [' || i || '], \"kwargs\": {}}'",
    "priority": "0",
    "task_path": "'bench.django_tasks_jobs.noop'",
    "queue_name": "'default'",
    "backend_name": "'default'",
    "run_after": "'9999-01-01 00:00:00'",  # django-tasks-db's "now"
    "exception_class_path": "''",
    "traceback": "''",
    "worker_ids": "'[]'",
    "status": "'READY'",
}


def insert_rows(conn, table: str, row: dict[str, str], source: str) -> None:
    """insert into `table` select `row`'s expressions from `source`; a NOT NULL column without a
    default that `row` does not name gets its type's empty value, a nullable one null."""
    columns, values = [], []
    for _, column, kind, not_null, default, _ in conn.execute(f"pragma table_info({table})").fetchall():
        if column in row:
            value = row[column]
        elif not_null and default is None:
            value = "0" if any(word in kind.lower() for word in ("int", "bool", "real", "decimal")) else "''"
        else:
            continue
        columns.append(column)
        values.append(value)
    conn.execute(f"insert into {table} ({', '.join(columns)}) select {', '.join(values)} from {source}")


DTDB_NOOP = "bench.django_tasks_jobs.noop"


class DjangoTasks:
    """django-tasks-db's DatabaseBackend in the app database; its worker is `manage.py db_worker`."""

    def __init__(self, spec: Spec, folder: Path, jobs: int):
        self.env = django_env(folder, "bench.django_tasks_settings")
        self.env["BENCH_COUNTS"] = str(folder / "counts")
        setup_django(self.env)
        from django.db import transaction
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction

        from bench import django_tasks_jobs

        self.transaction, self.DBTaskResult, self.exclusive_transaction = (
            transaction,
            DBTaskResult,
            exclusive_transaction,
        )
        self.noop, self.jobs, self.case, self.counts = django_tasks_jobs.noop, jobs, spec.case, folder / "counts"
        self.app_db = folder / "app.sqlite3"
        self.snapshot: list[dict] = []

    def build_waiting(self, count: int) -> None:
        """`count` ready results enqueued over the last minute, as `noop.enqueue(i)` writes them."""
        conn = sqlite_bulk(self.app_db)
        row = {**DTDB_ROW, "id": "lower(hex(randomblob(16)))", "enqueued_at": seconds_ago_sql(60, 60, count)}
        insert_rows(conn, DTDB_TABLE, row, counted(count))
        sqlite_bulk_done(conn)

    def enqueue(self, i: int) -> None:
        with self.transaction.atomic():  # one request, one job
            self.noop.enqueue(i)

    def body(self, i: int) -> None:
        self.noop.call(i)

    def consumer_command(self, n: int) -> list[str]:
        return [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "-v", "0"]

    def drained(self) -> bool:
        counts = drain_counts.read(str(self.counts))
        if sum(count["done"] for count in counts) < self.jobs:
            return False
        self.snapshot = counts
        return True

    def first_start_last_finish(self) -> tuple[float, float]:
        counts = [count for count in self.snapshot if count["done"]]
        return min(count["first_start"] for count in counts), max(count["last_finish"] for count in counts)

    def claims(self, count: int) -> list[tuple[float, float]]:
        """As its worker claims: the next ready result, locked (a no-op on SQLite), marked running."""
        if self.case != "waiting":
            for i in range(count):
                self.enqueue(i)
        ready = self.DBTaskResult.objects.ready().filter(backend_name="default").filter(queue_name__in=["default"])

        def claim() -> bool:
            with self.exclusive_transaction(ready.db):
                result = ready.get_locked()
                result.claim("bench-claims")
            return True

        return [timed_claims(claim, count)]

    def check(self) -> None:
        """Every job it counted ran once and is recorded a success."""
        from django_tasks_db.compat import TaskResultStatus

        done = self.DBTaskResult.objects.filter(task_path=DTDB_NOOP, status=TaskResultStatus.SUCCESSFUL).count()
        if self.case == "empty" and done != self.jobs:
            raise RuntimeError(f"django-tasks-db: {done} successful results for {self.jobs} jobs")

    def other_jobs(self) -> list[str]:
        return []


def build_history(app_db: Path, runs: int) -> None:
    """A job history of `runs` finished jobs over the last 30 days: JobRuns of real job names with
    their 3 events each, and as many finished django-tasks-db results, in one app database.

    Rows go in in index order (ids made sorted, times rising with them), which SQLite builds
    fastest; the history of a real deployment has random ids: its indexes are no smaller."""
    conn = sqlite_bulk(app_db)
    conn.execute("begin")
    conn.execute("create temp table names (k integer primary key, name text)")
    conn.executemany("insert into names values (?, ?)", list(enumerate(HISTORY_NAMES)))
    # Each row's time once (a subquery's column is computed again at each use), in order of i.
    conn.execute("create temp table spread (i integer primary key, t text)")
    conn.execute(f"insert into spread select i, {seconds_ago_sql(3600, 30 * 86400, runs)} from {counted(runs)}")
    run = {**JOBRUN_ROW, "id": "printf('%08x', i) || lower(hex(randomblob(12)))", "name": "names.name"}
    run.update(state="'succeeded'", enqueued_at="t", started_at="t", finished_at="t", duration="0.002")
    run.update(attempts="1", deliveries="1", updated_at="t", state_changed_at="t")
    source = f"spread join names on names.k = i % {len(HISTORY_NAMES)} order by i"
    insert_rows(conn, "tasks_app_jobrun", run, source)
    conn.execute(
        "insert into tasks_app_jobevent (job_id, kind, at, detail) select id, kind, enqueued_at, '' from "
        "tasks_app_jobrun cross join (select 1 as o, 'enqueued' as kind union all select 2, 'executing' "
        "union all select 3, 'complete')"  # in that order: CROSS JOIN keeps the runs the outer loop
    )
    result = {**DTDB_ROW, "id": "printf('%08x', i) || lower(hex(randomblob(12)))", "status": "'SUCCESSFUL'"}
    result.update(task_path="'bench.django_tasks_jobs.history'", worker_ids="'[\"history\"]'", return_value="'null'")
    result.update(enqueued_at="t", started_at="t", finished_at="t")
    insert_rows(conn, DTDB_TABLE, result, "spread order by i")
    conn.execute("commit")
    sqlite_bulk_done(conn)


# -- one measurement: enqueue N, drain with 1 or 2 consumers, then idle and pickups, claims ---------


def wait_until(predicate, consumers: list[Consumer], timeout: float, interval: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for consumer in consumers:
            consumer.check_alive()
        time.sleep(interval)
    tails = "\n".join(consumer.log_tail() for consumer in consumers)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; consumer logs:\n{tails}")


def timed_enqueue(variant, jobs: int, figures: Figures) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(jobs):
        variant.enqueue(i)
    figures.enqueue_rate = jobs / (time.perf_counter() - start)
    figures.enqueue_cpu_ms = 1000 * (time.process_time() - cpu) / jobs


def timed_claims(claim, count: int) -> tuple[float, float]:
    """Wall and CPU ms per call of `claim`, which must claim a message each time."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        assert claim()
    return 1000 * (time.perf_counter() - start) / count, 1000 * (time.process_time() - cpu) / count


def body_cpu_ms(call, calls: int) -> float:
    """CPU per call of a job's body, run in this process (as the consumer calls it, without the queue)."""
    start = time.process_time()
    for i in range(calls):
        call(i)
    return 1000 * (time.process_time() - start) / calls


def drain(variant, consumers: list[Consumer], postmaster: int | None, jobs: int, figures: Figures) -> None:
    """Poll until the variant is drained, sampling CPU at each poll; fill the drain figures."""
    started = consumers[0].started
    # (time.time(), each consumer's CPU seconds, the server's CPU seconds); the first: at the start.
    samples = [(started, [0.0] * len(consumers), server_cpu(postmaster))]

    def sampled_done() -> bool:
        finished = variant.drained()
        samples.append((time.time(), [consumer.cpu_seconds() for consumer in consumers], server_cpu(postmaster)))
        return finished

    wait_until(sampled_done, consumers, 60 + jobs / 20, POLL, "the drain")
    first_start, last_finish = variant.first_start_last_finish()
    end, cpu_end, server_end = samples[-1]
    figures.drain_wall = end - started
    figures.startup = first_start - started
    figures.jobs_window = last_finish - first_start
    # CPU from the last poll before the first job started (startup excluded) to the end.
    since, cpu_since, server_since = [sample for sample in samples if sample[0] <= first_start][-1]
    figures.startup_cpu_s = sum(cpu_since)
    figures.consumer_cpu_s = [end_s - since_s for end_s, since_s in zip(cpu_end, cpu_since, strict=True)]
    figures.drain_cpu_ms = 1000 * sum(figures.consumer_cpu_s) / jobs
    figures.drain_cpu_pct = 100 * sum(figures.consumer_cpu_s) / (end - since)
    if postmaster is not None:
        figures.server_cpu_ms = 1000 * (server_end - server_since) / jobs


def idle_and_pickups(variant, consumer: Consumer, args, figures: Figures) -> None:
    """Idle `--idle` s measuring CPU, then `--samples` pickups `--gap` s apart."""
    cpu, wall = consumer.cpu_seconds(), time.monotonic()
    time.sleep(args.idle)
    figures.idle_cpu = 100 * (consumer.cpu_seconds() - cpu) / (time.monotonic() - wall)
    for n in range(args.samples):
        if n:
            time.sleep(args.gap)
        figures.pickups_ms.append(1000 * variant.pickup(n, [consumer]))


def measure(spec: Spec, folder: Path, app_db: Path | None, database_url: str | None, postmaster, args) -> Figures:
    """One measurement, in a fresh Python process (Django is set up once per process)."""
    folder.mkdir()
    if app_db is not None:  # the migrated template (copied), or the history built for this case (moved)
        copy_database(app_db, folder / "app.sqlite3", move=spec.case == "history")
    jobs = args.profile_jobs if spec.profile else args.jobs
    if spec.kind == "stock":
        variant = Stock(spec, folder, jobs)
    elif spec.kind == "dtdb":
        variant = DjangoTasks(spec, folder, jobs)
    else:
        variant = Leased(spec, folder, jobs, database_url)
    figures = Figures(jobs=jobs)
    if spec.case == "waiting":
        start = time.perf_counter()
        variant.build_waiting(args.waiting)
        figures.build_s = time.perf_counter() - start
    timed_enqueue(variant, jobs, figures)
    if spec.consumers == 1 and spec.case == "empty" and not spec.profile:
        figures.body_ms = body_cpu_ms(variant.body, BODY_CALLS)
    env = variant.env
    if spec.profile:
        figures.profile_path = str(folder / "profile.json")
        env = {**env, "BENCH_PROFILE": figures.profile_path}
    consumers = []
    try:
        for n in range(spec.consumers):
            consumers.append(Consumer(variant.consumer_command(n), env, folder / f"consumer-{n}.log"))
        drain(variant, consumers, postmaster, jobs, figures)
        figures.rss_mb = consumers[0].rss_mb()
        if spec.pickups:
            idle_and_pickups(variant, consumers[0], args, figures)
    finally:
        for consumer in consumers:
            consumer.stop()
            figures.log_problems += consumer.log_lines()
    if isinstance(variant, DjangoTasks):
        variant.check()
    if spec.consumers == 1 and not spec.profile:
        claims = variant.claims(args.claims)
        figures.claim_ms, figures.claim_cpu_ms = claims[0]
        if len(claims) > 1:
            figures.claim_one_lane_ms, figures.claim_one_lane_cpu_ms = claims[1]
    figures.other_jobs = variant.other_jobs()
    return figures


def copy_database(source: Path, target: Path, *, move: bool = False) -> None:
    """A SQLite file with its WAL, if one was left."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            (shutil.move if move else shutil.copy)(f"{source}{suffix}", f"{target}{suffix}")


def in_fresh_process(*arguments) -> Figures:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, arguments)


def migrate_template(folder: Path) -> Path:
    """The app database migrated once (the app's tables and django-tasks-db's), copied for each measurement."""
    folder.mkdir()
    env = django_env(folder, "bench.django_tasks_settings")
    manage = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
    subprocess.run(manage, cwd=ROOT, env=env, check=True, capture_output=True)
    return folder / "app.sqlite3"


def peer_installed() -> bool:
    return importlib.util.find_spec("django_tasks_db") is not None


def plan(args) -> list[Spec]:
    """In this order: 1 consumer, 2 consumers, then the scale cases, then the profile and its twin.
    Without django-tasks-db installed (requirements-bench.txt), its measurements are left out."""
    ones = [Spec("stock", pickups=True), Spec("ours", pickups=True), Spec("real"), Spec("dtdb")]
    twos = [] if args.quick else [Spec("stock", 2), Spec("ours", 2), Spec("dtdb", 2)]
    if args.postgres:
        ones.append(Spec("postgres", pickups=True))
        twos += [] if args.quick else [Spec("postgres", 2)]
    scale = [Spec(kind, case="waiting") for kind in ("stock", "ours", "dtdb")]
    scale += [Spec(kind, case="history") for kind in ("ours", "dtdb")]
    # The profiled drain right after a twin without the profiler, so the two see the same machine.
    specs = [*ones, *twos, *scale, Spec("ours"), Spec("ours", profile=True)]
    return [spec for spec in specs if spec.kind != "dtdb" or peer_installed()]


def run_all(args) -> tuple[dict[Spec, Figures], str | None, float]:
    """Every measurement of `plan`, each from a fresh process; the PostgreSQL server's version,
    and how long building the history took."""
    from tests.live_stack import postgres_database
    from tests.postgres_server import running

    results, history_s = {}, 0.0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-queue-")))
        server_url = stack.enter_context(running()) if args.postgres else None
        postmaster, version = server_facts(server_url) if server_url else (None, None)
        template = migrate_template(tmp / "template")
        history = None
        for number, spec in enumerate(plan(args)):
            postgres = spec.kind == "postgres"
            app_db = template
            if spec.case == "history":
                if history is None:  # built once, then moved from one measurement's folder to the next
                    start = time.perf_counter()
                    history = tmp / "history.sqlite3"
                    shutil.copy(template, history)
                    build_history(history, args.history)
                    history_s = time.perf_counter() - start
                    print(f"  history built: {history_s:.1f} s", file=sys.stderr, flush=True)
                app_db = history
            database_url = postgres_database(server_url, f"bench_{number}") if postgres else None
            folder = tmp / f"{number:02d}-{spec.kind}-{spec.consumers}-{spec.case}"
            start = time.monotonic()
            results[spec] = in_fresh_process(
                spec, folder, None if postgres else app_db, database_url, postmaster if postgres else None, args
            )
            print(f"  {folder.name}: {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
            if spec.case == "history":
                history = folder / "app.sqlite3"  # the next history measurement takes it from here
            if spec.profile:  # the folder goes with the run
                results[spec].profile_path = Path(results[spec].profile_path).read_text()
    return results, version, history_s


# -- the report ------------------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "-"


def print_rows(header: list[str], rows: list[list[str]]) -> None:
    first = max(len(row[0]) for row in [header, *rows]) + 1
    width = max(len(cell) for row in [header, *rows] for cell in row[1:]) + 2
    for row in [header, *rows]:
        print(f"{row[0]:{first}}" + "".join(f"{cell:>{width}}" for cell in row[1:]))


def main_table(results: dict[Spec, Figures], postgres: bool) -> None:
    kinds = ["stock", "ours", "real", "dtdb", *(["postgres"] if postgres else [])]
    one = {kind: results.get(Spec(kind, pickups=kind in ("stock", "ours", "postgres"))) for kind in kinds}
    two = {kind: results.get(Spec(kind, 2)) for kind in kinds}

    def row(label, value, spec, better="high"):
        values = {kind: value(kind) for kind in kinds}
        cells = [fmt(values[kind], spec) for kind in kinds]
        cells += [ratio(values["ours"], values["stock"]), ratio(values["dtdb"], values["stock"])]
        cells += [ratio(values["ours"], values["dtdb"])]
        return [label, *cells]

    def of(figures_by_kind, attr):
        return lambda kind: None if figures_by_kind[kind] is None else attr(figures_by_kind[kind])

    rows = [
        row("enqueue/s, 1 transaction per job (before 1-consumer drain)", of(one, lambda f: f.enqueue_rate), "{:,.0f}"),
        row("enqueue/s, again (before the 2-consumer drain)", of(two, lambda f: f.enqueue_rate), "{:,.0f}"),
        row("enqueue, CPU ms a job (bench process)", of(one, lambda f: f.enqueue_cpu_ms), "{:.3f}"),
        row(
            "drain/s, 1 consumer, jobs (first start -> last end)", of(one, lambda f: f.jobs / f.jobs_window), "{:,.0f}"
        ),
        row("drain/s, 1 consumer, wall (start -> done)", of(one, lambda f: f.jobs / f.drain_wall), "{:,.0f}"),
        row("drain/s, 2 consumers, jobs", of(two, lambda f: f.jobs / f.jobs_window), "{:,.0f}"),
        row("drain/s, 2 consumers, wall", of(two, lambda f: f.jobs / f.drain_wall), "{:,.0f}"),
        row("consumer CPU per job, ms, 1 consumer", of(one, lambda f: f.drain_cpu_ms), "{:.3f}"),
        row("  ... % of a core", of(one, lambda f: f.drain_cpu_pct), "{:.0f}"),
        row("consumers' CPU per job, ms, 2 consumers", of(two, lambda f: f.drain_cpu_ms), "{:.3f}"),
        row("PostgreSQL server CPU per job, ms, 1 consumer", of(one, lambda f: f.server_cpu_ms), "{:.3f}"),
        row("claim, ms a job (bench process, consumers stopped)", of(one, lambda f: f.claim_ms), "{:.3f}"),
        row("  ... its CPU, ms", of(one, lambda f: f.claim_cpu_ms), "{:.3f}"),
        row("consumer start -> first job, s", of(one, lambda f: f.startup), "{:.2f}"),
        row("  ... CPU of that start, s", of(one, lambda f: f.startup_cpu_s), "{:.2f}"),
        row("consumer RSS after the drain, MB", of(one, lambda f: f.rss_mb), "{:.1f}"),
        row(
            "idle pickup p50, ms",
            of(one, lambda f: statistics.median(f.pickups_ms) if f.pickups_ms else None),
            "{:.1f}",
        ),
        row("idle pickup max, ms", of(one, lambda f: max(f.pickups_ms) if f.pickups_ms else None), "{:.1f}"),
        row("consumer CPU while idle, % of a core", of(one, lambda f: f.idle_cpu), "{:.2f}"),
        row("job body alone, CPU ms (in the bench process)", of(one, lambda f: f.body_ms), "{:.4f}"),
    ]
    header = ["", *(KINDS[kind] for kind in kinds), "ours/stock", "dtdb/stock", "ours/dtdb"]
    print_rows(header, rows)


def scale_table(results: dict[Spec, Figures], args) -> None:
    cases = [
        ("empty", "empty"),
        ("waiting", f"{args.waiting:,} waiting"),
        ("history", f"{args.history:,} history"),
    ]
    empty_spec = {"stock": Spec("stock", pickups=True), "ours": Spec("ours", pickups=True), "dtdb": Spec("dtdb")}
    metrics = [
        ("enqueue, ms a job", lambda f: 1000 / f.enqueue_rate),
        ("enqueue, CPU ms a job", lambda f: f.enqueue_cpu_ms),
        ("claim, ms a job", lambda f: f.claim_ms),
        ("claim, CPU ms a job", lambda f: f.claim_cpu_ms),
        ("drain, ms a job (first start -> last end)", lambda f: 1000 * f.jobs_window / f.jobs),
        ("consumer CPU, ms a job", lambda f: f.drain_cpu_ms),
    ]
    header = ["", *(label for _, label in cases), *(f"{label.split()[-1]}/empty" for _, label in cases[1:])]
    rows = []
    for kind in ("stock", "ours", "dtdb"):
        figures = {
            case: results.get(empty_spec[kind] if case == "empty" else Spec(kind, case=case)) for case, _ in cases
        }
        for label, value in metrics:
            values = {case: None if f is None else value(f) for case, f in figures.items()}
            cells = [fmt(values[case], "{:.3f}") for case, _ in cases]
            cells += [ratio(values[case], values["empty"]) for case, _ in cases[1:]]
            rows.append([f"{KINDS[kind]}: {label}", *cells])
    ours = results[empty_spec["ours"]], results[Spec("ours", case="waiting")], results[Spec("ours", case="history")]
    rows.append(
        ["ours: claim over 1 lane (not the consumer's 5), ms", *(fmt(f.claim_one_lane_ms, "{:.3f}") for f in ours)]
    )
    rows.append(["ours: ... its CPU, ms", *(fmt(f.claim_one_lane_cpu_ms, "{:.3f}") for f in ours)])
    print_rows(header, rows)


def profile_table(results: dict[Spec, Figures]) -> None:
    import json

    figures = results[Spec("ours", profile=True)]
    unprofiled = results[Spec("ours")]  # the twin measured just before
    profile = json.loads(figures.profile_path)
    jobs = figures.jobs
    stages = {stage: seconds for stage, (seconds, _) in profile["stages"].items()}
    calls = {stage: count for stage, (_, count) in profile["stages"].items()}
    after_start = profile["process_cpu"] - profile["setup_cpu"]
    rest = profile["process_cpu"] - profile["installed_cpu"] - sum(stages.values())
    stages["rest of the process (threads' wake-ups, Huey's consumer loop, GC)"] = max(rest, 0.0)
    print(
        f"{jobs:,} no-op jobs, 1 consumer of 2 workers; the consumer's CPU after its start {1000 * after_start / jobs:.3f} "
        f"ms a job (the drain alone, as measured from outside: {figures.drain_cpu_ms:.3f} profiled, "
        f"{unprofiled.drain_cpu_ms:.3f} unprofiled: {figures.drain_cpu_ms / unprofiled.drain_cpu_ms:.2f}x)"
    )
    print(f"{'stage of a job (file:function)':66}{'ms a job':>10}{'share':>8}{'unprof.':>9}{'calls/job':>11}")
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        share = seconds / after_start
        per_job = calls.get(stage, 0) / jobs
        print(
            f"{stage:66}{1000 * seconds / jobs:>10.3f}{100 * share:>7.1f}%{share * unprofiled.drain_cpu_ms:>9.3f}"
            f"{per_job:>11.2f}"
        )
    print(f"{'total after the start':66}{1000 * after_start / jobs:>10.3f}{100:>7.1f}%{unprofiled.drain_cpu_ms:>9.3f}")
    wrapped = sum(calls.values()) / jobs
    print(
        f"profiling itself: {1e6 * profile['wrapper_cost']:.1f} µs a wrapped call, {wrapped:.1f} calls a job = "
        f"{1000 * profile['wrapper_cost'] * wrapped:.3f} ms a job, shared among the stages as their calls are"
    )
    print(
        f"once: Django setup and the app's imports {profile['setup_cpu']:.2f} s of CPU; the consumer's start to its first "
        f"job {max(figures.startup_cpu_s - profile['setup_cpu'], 0):.2f} s more ({figures.startup:.2f} s wall); "
        f"over {jobs:,} jobs {1000 * figures.startup_cpu_s / jobs:.3f} ms a job"
    )


def print_report(results: dict[Spec, Figures], postgres: str | None, args, code: str, began: float, history_s) -> None:
    import django
    import huey

    print(
        f"{datetime.date.today()}, nproc {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, Huey {huey.__version__}, "
        f"Django {django.get_version()}, django-tasks-db {package_version('django-tasks-db')}"
        + (f", PostgreSQL {postgres}" if postgres else "")
        + f", temporary files on {tempfile.gettempdir()}"
    )
    print(f"code: {code}")
    print(
        f"{args.jobs:,} no-op jobs per drain; 1 consumer process, then 2 (ours and stock: 2 thread workers each; "
        f"django-tasks-db: 1 thread each); idle {args.idle:g} s, then {args.samples} pickups {args.gap:g} s apart"
        + (" (--quick: pickups after a short idle are not comparable to a full run's)" if args.quick else "")
    )
    print()
    print("== Stock Huey, this queue and django-tasks-db: the same no-op (ours, real job: task_assigned_notify)")
    print("ratios are of the values: above 1 is more (better for rates; worse for ms, CPU, RSS, startup, pickup)")
    main_table(results, bool(postgres))
    print()
    waiting = [(kind, results.get(Spec(kind, case="waiting"))) for kind in ("stock", "ours", "dtdb")]
    built = ", ".join(f"{KINDS[kind]} {figures.build_s:.1f} s" for kind, figures in waiting if figures)
    print(
        f"== Scale, 1 consumer: empty; {args.waiting:,} jobs waiting (built in {built}); "
        f"a history of {args.history:,} finished jobs (3 events each) and {args.history:,} "
        f"django-tasks-db results (built in {history_s:.1f} s)"
    )
    scale_table(results, args)
    print()
    print("== Profile: this queue's consumer, where a no-op job's CPU goes")
    profile_table(results)
    print()
    for spec, figures in results.items():
        others = figures.other_jobs
        lines = figures.log_problems
        if others or lines:
            print(
                f"{KINDS[spec.kind]}, {spec.consumers} consumer(s), {spec.case}: other jobs {others}; {len(lines)} log lines"
            )
            for line in lines[:5]:
                print(f"    {line}")
    print(f"run time {time.monotonic() - began:.0f} s")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed (.venv/bin/pip install -r requirements-bench.txt): its measurements are left out"


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it (uncommitted changes)."""
    git = ["git", "-C", str(ROOT)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    files = [line[3:] for line in changed.stdout.splitlines()]
    return commit.stdout.strip() + (f" + uncommitted changes in {', '.join(files)}" if files else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer jobs, rows and idle time")
    parser.add_argument("--jobs", type=int, help="no-op jobs enqueued, then drained, per measurement (2,000)")
    parser.add_argument("--waiting", type=int, help="jobs already waiting in the scale case (100,000)")
    parser.add_argument("--history", type=int, help="finished jobs in the history case (1,000,000)")
    parser.add_argument("--profile-jobs", type=int, help="no-op jobs drained under the profiler (3,000)")
    parser.add_argument("--claims", type=int, help="claims timed in the bench process per measurement (300)")
    parser.add_argument("--postgres", action="store_true", help="this queue on PostgreSQL too (about 1 more minute)")
    parser.add_argument("--idle", type=float, help="seconds idle before the first pickup sample (15)")
    parser.add_argument("--samples", type=int, help="pickup samples (5)")
    parser.add_argument("--gap", type=float, help="seconds idle between later pickup samples (3)")
    args = parser.parse_args()
    defaults = (
        {"jobs": 400, "waiting": 10_000, "history": 100_000, "profile_jobs": 800, "claims": 100}
        | {"idle": 2, "samples": 2, "gap": 0.5}
        if args.quick
        else {
            "jobs": 2000,
            "waiting": 100_000,
            "history": 1_000_000,
            "profile_jobs": 3000,
            "claims": 300,
            "idle": 15,
            "samples": 5,
            "gap": 3,
        }
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.idle < 15 and not args.quick:
        parser.error("--idle must be at least 15 seconds (stock's polling backs off to its maximum by then)")
    if args.waiting < args.jobs + 2 * args.claims:
        parser.error(f"--waiting must be at least --jobs + 2 x --claims ({args.jobs + 2 * args.claims})")
    began, code = time.monotonic(), code_version()  # before the run: the tree may change meanwhile
    results, postgres, history_s = run_all(args)
    print_report(results, postgres, args, code, began, history_s)


if __name__ == "__main__":
    main()
