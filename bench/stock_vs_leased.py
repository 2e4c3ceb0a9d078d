"""Stock Huey's SqliteHuey against this project's leased queue on SQLite and on PostgreSQL, in one run.

    .venv/bin/python bench/stock_vs_leased.py [--jobs 2000] [--idle 15] [--samples 5] [--gap 3]

Three variants, each consumed by thread workers, 2 per consumer process:
A) stock: `huey.SqliteHuey(fsync=True)` (bench/stock_huey_app.py), no job history, consumed by
   `huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0 -q` (stock polling).
B) this queue on SQLite: settings.HUEY (`LeasedSqliteHuey`), job history on, consumed by
   `manage.py run_huey` with HUEY_WORKERS=2; the app database and the queue in a temporary DATA_DIR.
C) this queue on PostgreSQL: the same with DATABASE_URL set, so the app database and the queue
   (`LeasedPostgresHuey`, schema `huey`) are one fresh database on a throw-away server
   (tests/postgres_server.py: Debian's PostgreSQL on 127.0.0.1, fsync=off, started for the run).

Each variant is measured twice: with 1 consumer, then with 2 (the second one started with
`--no-periodic` / `-n`, as docs/deploying.md says to start extra consumers; 4 workers in all). Each
measurement runs in a fresh Python process, on a fresh folder and (C) a fresh database, migrated
first; the order is A, B, C with 1 consumer, then A, B, C with 2. The PostgreSQL server runs
through the whole run (idle outside C). Consumers log at WARNING (`-q`, LOG_LEVEL=WARNING), so none
writes a log line per job.

1. enqueue/s: N jobs enqueued from the bench process, one transaction each, as a request does,
   with no consumer running; measured before each drain. A: `huey.enqueue(noop.s(i))`. B, C:
   `with transaction.atomic(): queue.enqueue_on_commit(task_assigned_notify, <missing id>)`
   (history row in the transaction, the message queued on commit).
2. drain/s: the consumers start after the N jobs are queued. "wall" is from the first consumer's
   start (Popen) until every job is done: A, until the consumers' in-memory counts of completed
   no-ops add up to N (each writes its count to a file, see bench/stock_huey_app.py) and
   `pending_count() == 0`; B, C, until the history shows N succeeded JobRuns and the queue holds no
   message (ready or claimed; a message is acked only after its history is written). Polled every
   50 ms. "jobs" is the first job's start to the last one's finish (A: time.time() in the
   consumers' signal handlers, B, C: JobRun.started_at / finished_at), i.e. without the
   consumers' startup, reported separately.
   CPU from the first job's start to the end (utime + stime from /proc, sampled at each poll), per
   job and as a percentage of one core: of the consumers, and (C) of the PostgreSQL server (the
   postmaster, its reaped children and its live backends), which does there the work SQLite does
   inside the consumer; it includes the bench's own polling queries (20 a second). For scale, the
   CPU of the no-op's body alone (`call_local`, 1000 calls in the bench process, no queue): the
   stock and project no-ops do not cost the same.
3. idle pickup (1 consumer): after the drain, the consumer idles `--idle` s, then one job is
   enqueued as in (1) and its start read back: A, `stamp(key)` stores time.time() as its first
   statement; B, C, the job's JobRun.started_at (set by the EXECUTING signal just before the job
   runs). Latency = that start minus the time just before the enqueue (B, C: before
   `transaction.atomic()` is entered). Then `--samples - 1` more, `--gap` s apart. p50 and max.
4. (1 consumer) the consumer's RSS (VmRSS) right after the drain, and its CPU (and the server's)
   over the idle window, as a percentage of one core.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

POLL = 0.05  # seconds between checks for the end of a drain
BODY_CALLS = 1000  # calls of each no-op's body, timed alone in the bench process
PICKUP_POLL = 0.005  # ... for a pickup sample's start (the figure is the job's own start time)
CLK_TCK = os.sysconf("SC_CLK_TCK")
VARIANTS = {"stock": "stock SqliteHuey", "sqlite": "this queue, SQLite", "postgres": "this queue, PostgreSQL"}
STOCK_CONSUMER = ["bench.stock_huey_app.huey", "-w", "2", "-k", "thread", "-d", "0.1", "-m", "1.0", "-q"]
# Settings that would change what B and C measure if inherited from the caller's environment.
UNSET = (
    "DATABASE_URL",
    "HUEY_DATABASE_URL",
    "HUEY_REDIS_URL",
    "HUEY_LANES",
    "HUEY_CONSUMER_LANES",
    "HUEY_WORKERS",
    "JOB_HISTORY_ENABLED",
)


@dataclass
class Figures:
    enqueue_rate: float = 0.0  # jobs/s
    drain_wall: float = 0.0  # s, first consumer's start -> all done
    startup: float = 0.0  # s, first consumer's start -> first job started
    jobs_window: float = 0.0  # s, first job started -> last job finished
    drain_cpu_ms: float = 0.0  # consumers' CPU per job, first start -> done
    drain_cpu_pct: float = 0.0  # ... as a percentage of one core
    server_cpu_ms: float | None = None  # the PostgreSQL server's, likewise (variant C only)
    server_cpu_pct: float | None = None
    consumer_cpu_s: list[float] = field(default_factory=list)  # each consumer's CPU in the drain
    # Measured with 1 consumer only:
    body_ms: float = 0.0  # CPU of the no-op's body alone, called in the bench process
    rss_mb: float = 0.0
    idle_cpu: float = 0.0  # % of one core
    idle_server_cpu: float | None = None
    pickups_ms: list[float] = field(default_factory=list)
    other_jobs: list[str] = field(default_factory=list)  # periodic jobs that ran meanwhile (B, C)
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
                self.process.wait(timeout=20)
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


# -- the variants: what differs between stock Huey and this queue ----------------------------------


class Stock:
    """A: stock SqliteHuey in `folder`; the jobs and the drain count are in bench/stock_huey_app.py."""

    def __init__(self, folder: Path, jobs: int):
        os.environ["BENCH_STOCK_DB"] = str(folder / "stock.sqlite3")
        from bench import stock_huey_app

        self.app, self.jobs = stock_huey_app, jobs
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.huey_consumer = str(Path(sys.executable).with_name("huey_consumer"))

    def enqueue(self, i: int) -> None:
        self.app.huey.enqueue(self.app.noop.s(i))

    def body(self, i: int) -> None:
        self.app.noop.call_local(i)

    def consumer_command(self, n: int) -> list[str]:
        return [self.huey_consumer, *STOCK_CONSUMER, *(["-n"] if n else [])]

    def _counts(self) -> list[dict]:
        return [json.loads(Path(path).read_text()) for path in self.app.count_files()]

    def drained(self) -> bool:
        return sum(count["done"] for count in self._counts()) == self.jobs and self.app.huey.pending_count() == 0

    def first_start_last_finish(self) -> tuple[float, float]:
        counts = self._counts()
        return min(count["first_start"] for count in counts), max(count["last_finish"] for count in counts)

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
    """B and C: this queue with its history, through Django; on PostgreSQL when `database_url` is set."""

    def __init__(self, folder: Path, jobs: int, database_url: str | None):
        env = {key: value for key, value in os.environ.items() if key not in UNSET}
        env.update(
            DJANGO_SETTINGS_MODULE="site_config.settings",
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
        self.env, self.jobs = env, jobs
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, capture_output=True)
        os.environ.clear()
        os.environ.update(env)  # the bench process enqueues as a web process of the same deployment
        import django

        django.setup()
        from django.db import transaction

        from tasks_app import jobs as app_jobs
        from tasks_app import queue
        from tasks_app.models import JobRun

        self.transaction, self.queue, self.JobRun = transaction, queue, JobRun
        self.job = app_jobs.task_assigned_notify  # a missing task id: one SELECT, returns False
        self.name = queue.job_name(self.job)
        self.run_huey = [*manage, "run_huey"]

    def enqueue(self, i: int) -> None:
        with self.transaction.atomic():  # one request, one job
            self.queue.enqueue_on_commit(self.job, -(i + 1))

    def body(self, i: int) -> None:
        self.job.call_local(-2_000_000 - i)

    def consumer_command(self, n: int) -> list[str]:
        return [*self.run_huey, *(["--no-periodic"] if n else [])]

    def drained(self) -> bool:
        succeeded = self.JobRun.objects.filter(name=self.name, state=self.JobRun.State.SUCCEEDED).count()
        return succeeded == self.jobs and self.queue.pending_count() == 0 and self.queue.claimed_count() == 0

    def first_start_last_finish(self) -> tuple[float, float]:
        from django.db.models import Max, Min

        marks = self.JobRun.objects.filter(name=self.name).aggregate(first=Min("started_at"), last=Max("finished_at"))
        return marks["first"].timestamp(), marks["last"].timestamp()

    def pickup(self, n: int, consumers: list[Consumer]) -> float:
        before = time.time()
        with self.transaction.atomic():
            job_id = self.queue.enqueue_on_commit(self.job, -1_000_000 - n)

        def started():
            return self.JobRun.objects.filter(pk=job_id).values_list("started_at", flat=True).first()

        return wait_until(started, consumers, 30, PICKUP_POLL, "a pickup").timestamp() - before

    def other_jobs(self) -> list[str]:
        return sorted(set(self.JobRun.objects.exclude(name=self.name).values_list("name", flat=True)))


# -- one measurement: enqueue N, drain with 1 or 2 consumers, then (1 consumer) idle and pickups ---


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


def timed_enqueue(variant, jobs: int) -> float:
    start = time.perf_counter()
    for i in range(jobs):
        variant.enqueue(i)
    return jobs / (time.perf_counter() - start)


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
    figures.consumer_cpu_s = [end_s - since_s for end_s, since_s in zip(cpu_end, cpu_since, strict=True)]
    figures.drain_cpu_ms = 1000 * sum(figures.consumer_cpu_s) / jobs
    figures.drain_cpu_pct = 100 * sum(figures.consumer_cpu_s) / (end - since)
    if postmaster is not None:
        figures.server_cpu_ms = 1000 * (server_end - server_since) / jobs
        figures.server_cpu_pct = 100 * (server_end - server_since) / (end - since)


def idle_and_pickups(variant, consumers: list[Consumer], postmaster: int | None, args, figures: Figures) -> None:
    """Idle `--idle` s measuring CPU, then `--samples` pickups `--gap` s apart."""
    (consumer,) = consumers
    cpu, server, wall = consumer.cpu_seconds(), server_cpu(postmaster), time.monotonic()
    time.sleep(args.idle)
    elapsed = time.monotonic() - wall
    figures.idle_cpu = 100 * (consumer.cpu_seconds() - cpu) / elapsed
    if postmaster is not None:
        figures.idle_server_cpu = 100 * (server_cpu(postmaster) - server) / elapsed
    for n in range(args.samples):
        if n:
            time.sleep(args.gap)
        figures.pickups_ms.append(1000 * variant.pickup(n, consumers))


def measure(kind: str, count: int, folder: Path, database_url: str | None, postmaster: int | None, args) -> Figures:
    """One variant with `count` consumers, from a fresh Python process (Django is set up once per process)."""
    folder.mkdir()
    variant = Stock(folder, args.jobs) if kind == "stock" else Leased(folder, args.jobs, database_url)
    figures = Figures()
    figures.enqueue_rate = timed_enqueue(variant, args.jobs)
    if count == 1:
        figures.body_ms = body_cpu_ms(variant.body, BODY_CALLS)
    consumers = []
    try:
        for n in range(count):
            consumers.append(Consumer(variant.consumer_command(n), variant.env, folder / f"consumer-{n}.log"))
        drain(variant, consumers, postmaster, args.jobs, figures)
        if count == 1:
            figures.rss_mb = consumers[0].rss_mb()
            idle_and_pickups(variant, consumers, postmaster, args, figures)
        figures.other_jobs = variant.other_jobs()
    finally:
        for consumer in consumers:
            consumer.stop()
            figures.log_problems += consumer.log_lines()
    return figures


def in_fresh_process(*arguments) -> Figures:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(measure, arguments)


def run_all(args) -> tuple[dict[tuple[str, int], Figures], str]:
    """A, B, C with 1 consumer, then with 2, a fresh folder (and, for C, database) each time; and
    the PostgreSQL server's version."""
    from tests.live_stack import postgres_database
    from tests.postgres_server import running

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp, running() as server_url:
        postmaster, version = server_facts(server_url)
        for count in (1, 2):
            for kind in VARIANTS:
                postgres = kind == "postgres"
                database_url = postgres_database(server_url, f"bench_{count}") if postgres else None
                folder = Path(tmp) / f"{kind}-{count}"
                results[kind, count] = in_fresh_process(
                    kind, count, folder, database_url, postmaster if postgres else None, args
                )
    return results, version


# -- the report ------------------------------------------------------------------------------------


def rows(results: dict[tuple[str, int], Figures], jobs: int) -> list[tuple[str, dict[str, float | None], str]]:
    """(label, value per variant, format) for the table."""

    def each(value) -> dict[str, float | None]:
        return {kind: value(kind) for kind in VARIANTS}

    one = lambda kind: results[kind, 1]  # noqa: E731
    two = lambda kind: results[kind, 2]  # noqa: E731
    return [
        ("enqueue/s, 1 transaction per job (before 1-consumer drain)", each(lambda k: one(k).enqueue_rate), "{:,.0f}"),
        ("enqueue/s, again (before the 2-consumer drain)", each(lambda k: two(k).enqueue_rate), "{:,.0f}"),
        ("drain/s, 1 consumer, wall (start -> done)", each(lambda k: jobs / one(k).drain_wall), "{:,.0f}"),
        ("drain/s, 1 consumer, jobs (first start -> last end)", each(lambda k: jobs / one(k).jobs_window), "{:,.0f}"),
        ("drain/s, 2 consumers, wall", each(lambda k: jobs / two(k).drain_wall), "{:,.0f}"),
        ("drain/s, 2 consumers, jobs", each(lambda k: jobs / two(k).jobs_window), "{:,.0f}"),
        ("2 consumers / 1, drain/s jobs", each(lambda k: one(k).jobs_window / two(k).jobs_window), "{:.2f}x"),
        ("consumer startup, s (1 consumer: start -> first job)", each(lambda k: one(k).startup), "{:.2f}"),
        ("consumer CPU per job, ms, 1 consumer", each(lambda k: one(k).drain_cpu_ms), "{:.3f}"),
        ("  ... % of a core", each(lambda k: one(k).drain_cpu_pct), "{:.0f}"),
        ("PostgreSQL server CPU per job, ms, 1 consumer", each(lambda k: one(k).server_cpu_ms), "{:.3f}"),
        ("  ... % of a core", each(lambda k: one(k).server_cpu_pct), "{:.0f}"),
        ("consumers' CPU per job, ms, 2 consumers", each(lambda k: two(k).drain_cpu_ms), "{:.3f}"),
        ("PostgreSQL server CPU per job, ms, 2 consumers", each(lambda k: two(k).server_cpu_ms), "{:.3f}"),
        ("no-op body alone, CPU ms (in bench process)", each(lambda k: one(k).body_ms), "{:.3f}"),
        ("idle pickup p50, ms", each(lambda k: statistics.median(one(k).pickups_ms)), "{:.1f}"),
        ("idle pickup max, ms", each(lambda k: max(one(k).pickups_ms)), "{:.1f}"),
        ("consumer RSS after drain, MB", each(lambda k: one(k).rss_mb), "{:.1f}"),
        ("consumer CPU while idle, % of a core", each(lambda k: one(k).idle_cpu), "{:.2f}"),
        ("PostgreSQL server CPU while idle, % of a core", each(lambda k: one(k).idle_server_cpu), "{:.2f}"),
    ]


def print_table(results: dict[tuple[str, int], Figures], jobs: int) -> None:
    show = lambda fmt, value: "-" if value is None else fmt.format(value)  # noqa: E731
    ratio = lambda value, stock: f"{value / stock:.2f}x" if value is not None and stock else "-"  # noqa: E731
    print(f"{'metric':56}" + "".join(f"{label:>24}" for label in VARIANTS.values()) + f"{'SQLite/A':>10}{'PG/A':>8}")
    for label, values, fmt in rows(results, jobs):
        stock = values["stock"]
        print(
            f"{label:56}"
            + "".join(f"{show(fmt, values[kind]):>24}" for kind in VARIANTS)
            + f"{ratio(values['sqlite'], stock):>10}{ratio(values['postgres'], stock):>8}"
        )


def print_report(results: dict[tuple[str, int], Figures], postgres: str, args, code: str, began: float) -> None:
    import django
    import huey
    import psycopg

    print(
        f"{datetime.date.today()}, nproc {len(os.sched_getaffinity(0))}, load average {os.getloadavg()[0]:.2f}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, PostgreSQL {postgres} "
        f"(psycopg {psycopg.__version__}), Huey {huey.__version__}, Django {django.get_version()}, "
        f"temporary files on {tempfile.gettempdir()}"
    )
    print(f"code: {code}")
    print(
        f"{args.jobs} no-op jobs per drain, 2 thread workers per consumer, 1 then 2 consumers; "
        f"idle {args.idle:g} s then {args.samples} pickups {args.gap:g} s apart (1 consumer)"
    )
    print()
    print_table(results, args.jobs)
    print()
    print("ratios: this queue / stock (higher is better for rates; lower for startup, pickup, RSS, CPU)")
    print("no-op, stock: bench.stock_huey_app.noop(i), one SELECT on the queue file, no result stored")
    print("no-op, this queue: tasks_app.jobs.task_assigned_notify(<missing task id>), one SELECT on the app")
    print("  database, returns False; plus its history: JobRun row written in the enqueue transaction, its")
    print("  executing/complete events written by the consumer in group commits, then the ack")
    print("drain end: stock, the consumers' in-memory counts of completed no-ops add up to N and")
    print("  pending_count() == 0; this queue, N succeeded JobRuns and no message left (acked after history)")
    print("PostgreSQL: a throw-away server with fsync=off (tests/postgres_server.py); its CPU counted apart")
    print("pickup start: stock, time.time() as the job's first statement; this queue, JobRun.started_at")
    for kind, label in VARIANTS.items():
        one, two = results[kind, 1], results[kind, 2]
        split = " / ".join(f"{seconds:.2f}" for seconds in two.consumer_cpu_s)
        print(f"{label}: pickups, ms: {fmt_list(one.pickups_ms)}; CPU of each of 2 consumers in the drain, s: {split}")
        others = sorted(set(one.other_jobs + two.other_jobs))
        if others:
            print(f"  other jobs that ran meanwhile (periodic): {others}")
        lines = one.log_problems + two.log_problems
        print(f"  consumer logs: {len(lines)} lines (warnings and errors)" + (":" if lines else ""))
        for line in lines[:10]:
            print(f"    {line}")
    print(f"run time {time.monotonic() - began:.0f} s")


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


def fmt_list(values: list[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="no-op jobs enqueued, then drained, per measurement")
    parser.add_argument("--idle", type=float, default=15, help="seconds idle before the first pickup sample")
    parser.add_argument("--samples", type=int, default=5, help="pickup samples")
    parser.add_argument("--gap", type=float, default=3, help="seconds idle between later pickup samples")
    args = parser.parse_args()
    if args.idle < 15:
        parser.error("--idle must be at least 15 seconds")
    began, code = time.monotonic(), code_version()  # before the run: the tree may change meanwhile
    results, postgres = run_all(args)
    print_report(results, postgres, args, code, began)


if __name__ == "__main__":
    main()
