"""Stock Huey's SqliteHuey against this project's leased queue, on the same machine, in one run.

    .venv/bin/python bench/stock_vs_leased.py [--jobs 4000] [--idle 15] [--samples 5] [--gap 3]

A) stock: `huey.SqliteHuey(fsync=True)` (bench/stock_huey_app.py), no job history, consumed by
   `huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0 -q` (stock polling).
B) this queue: settings.HUEY (`LeasedSqliteHuey`), job history on, consumed by `manage.py run_huey`
   with HUEY_WORKERS=2; the app database and the queue in a temporary DATA_DIR (migrated first).

Both consumers log at WARNING (`-q`, LOG_LEVEL=WARNING), so neither writes a log line per job. The
variants run one after the other, each on its own temporary folder, with nothing else running.

1. enqueue/s: N jobs enqueued from this process, one transaction each, as a request does, with no
   consumer running. A: `huey.enqueue(noop.s(i))`. B: `with transaction.atomic():
   queue.enqueue_on_commit(task_assigned_notify, <missing id>)` (history row in the transaction,
   the message queued on commit).
2. drain/s: the consumer starts after the N jobs are queued. "wall" is from its start (Popen) until
   every job is done: A, until the consumer's in-memory count of completed no-ops reaches N (it
   writes one file then, so counting adds no write per job) and `pending_count() == 0`; B, until
   the history shows N succeeded JobRuns and the queue holds no message (ready or claimed; a
   message is acked only after its history is written). Polled every 50 ms. "jobs" is the first
   job's start to the last one's finish (A: time.time() in the consumer's signal handlers, B:
   JobRun.started_at / finished_at), i.e. without the consumer's startup, reported separately.
   The consumer's CPU (utime + stime, sampled at each poll) from the first job's start to the end,
   per job and as a percentage of one core; and, for scale, the CPU of the no-op's body alone
   (`call_local`, 1000 calls in this process, no queue): the two no-ops do not cost the same.
3. idle pickup: after the drain, the consumer idles `--idle` s, then one job is enqueued as in (1)
   and its start read back: A, `stamp(key)` stores time.time() as its first statement; B, the
   job's JobRun.started_at (set by the EXECUTING signal just before the job runs). Latency = that
   start minus the time just before the enqueue (B: before `transaction.atomic()` is entered).
   Then `--samples - 1` more, `--gap` s apart. p50 and max.
4. consumer RSS (VmRSS) right after the drain, and its CPU (utime + stime from /proc/<pid>/stat)
   over the idle window, as a percentage of one core.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
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
BODY_CALLS = 1000  # calls of each no-op's body, timed alone in this process
PICKUP_POLL = 0.005  # ... for a pickup sample's start (the figure is the job's own start time)
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOCK_CONSUMER = ["bench.stock_huey_app.huey", "-w", "2", "-k", "thread", "-d", "0.1", "-m", "1.0", "-q"]
# Settings that would change what B measures if inherited from the caller's environment.
UNSET = ("HUEY_REDIS_URL", "HUEY_LANES", "HUEY_CONSUMER_LANES", "HUEY_WORKERS", "JOB_HISTORY_ENABLED")


@dataclass
class Figures:
    enqueue_rate: float = 0.0  # jobs/s
    drain_wall: float = 0.0  # s, consumer start -> all done
    startup: float = 0.0  # s, consumer start -> first job started
    jobs_window: float = 0.0  # s, first job started -> last job finished
    rss_mb: float = 0.0
    idle_cpu: float = 0.0  # % of one core
    drain_cpu_ms: float = 0.0  # consumer CPU per job, first start -> done
    drain_cpu_pct: float = 0.0  # ... as a percentage of one core
    body_ms: float = 0.0  # CPU of the no-op's body alone, called in this process
    pickups_ms: list[float] = field(default_factory=list)
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
        """Both consumers log at WARNING: every line is a warning or an error."""
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15)


def wait_until(predicate, consumer: Consumer, timeout: float, interval: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        consumer.check_alive()
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}; consumer log:\n{consumer.log_tail()}")


def drain(consumer: Consumer, done, jobs: int) -> list[tuple[float, float]]:
    """Poll until done(); return (time.time(), consumer CPU seconds) at each poll, the last one at the end."""
    samples = []

    def sampled_done() -> bool:
        finished = done()
        samples.append((time.time(), consumer.cpu_seconds()))
        return finished

    wait_until(sampled_done, consumer, 60 + jobs / 20, POLL, "the drain")
    return samples


def drain_figures(figures: Figures, consumer: Consumer, samples, first_start: float, last_finish: float, jobs: int):
    """Fill the drain figures from the first job's start and the last one's finish (time.time())."""
    end, cpu_end = samples[-1]
    figures.drain_wall = end - consumer.started
    figures.startup = first_start - consumer.started
    figures.jobs_window = last_finish - first_start
    # The consumer's CPU from the last poll before its first job started (startup excluded) to the end.
    since, cpu_since = max(((t, cpu) for t, cpu in samples if t <= first_start), default=(consumer.started, 0.0))
    figures.drain_cpu_ms = 1000 * (cpu_end - cpu_since) / jobs
    figures.drain_cpu_pct = 100 * (cpu_end - cpu_since) / (end - since)
    figures.rss_mb = consumer.rss_mb()


def body_cpu_ms(call, calls: int) -> float:
    """CPU per call of a job's body, run in this process (as the consumer calls it, without the queue)."""
    start = time.process_time()
    for i in range(calls):
        call(i)
    return 1000 * (time.process_time() - start) / calls


def idle_and_pickups(consumer: Consumer, figures: Figures, args, pickup) -> None:
    """Idle `--idle` s measuring the consumer's CPU, then `--samples` pickups `--gap` s apart."""
    cpu, wall = consumer.cpu_seconds(), time.monotonic()
    time.sleep(args.idle)
    figures.idle_cpu = 100 * (consumer.cpu_seconds() - cpu) / (time.monotonic() - wall)
    for n in range(args.samples):
        if n:
            time.sleep(args.gap)
        figures.pickups_ms.append(1000 * pickup(n))


def run_stock(folder: Path, args) -> Figures:
    figures = Figures()
    os.environ["BENCH_STOCK_DB"] = str(folder / "stock.sqlite3")
    os.environ["BENCH_STOCK_JOBS"] = str(args.jobs)
    from huey.constants import EmptyData

    from bench import stock_huey_app as app

    huey = app.huey
    start = time.perf_counter()
    for i in range(args.jobs):
        huey.enqueue(app.noop.s(i))
    figures.enqueue_rate = args.jobs / (time.perf_counter() - start)
    figures.body_ms = body_cpu_ms(app.noop.call_local, BODY_CALLS)

    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    huey_consumer = str(Path(sys.executable).with_name("huey_consumer"))
    consumer = Consumer([huey_consumer, *STOCK_CONSUMER], env, folder / "stock-consumer.log")
    try:
        drained = Path(app.DRAINED_FILE)
        samples = drain(consumer, lambda: drained.exists() and huey.pending_count() == 0, args.jobs)
        marks = json.loads(drained.read_text())
        drain_figures(figures, consumer, samples, marks["first_start"], marks["last_finish"], args.jobs)

        def pickup(n: int) -> float:
            key = f"pickup-{n}"
            before = time.time()
            huey.enqueue(app.stamp.s(key))

            def started():
                value = huey.storage.peek_data(key)
                return None if value is EmptyData else float(bytes(value).decode())

            return wait_until(started, consumer, 30, PICKUP_POLL, "a pickup") - before

        idle_and_pickups(consumer, figures, args, pickup)
    finally:
        consumer.stop()
        figures.log_problems = consumer.log_lines()
    return figures


def run_project(folder: Path, args) -> tuple[Figures, str]:
    figures = Figures()
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
    )
    folder.mkdir()
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, capture_output=True)
    for key in UNSET:
        os.environ.pop(key, None)
    os.environ.update(env)  # this process enqueues as a web process of the same deployment
    import django

    django.setup()
    from django.db import transaction
    from django.db.models import Max, Min

    from tasks_app import jobs, queue
    from tasks_app.models import JobRun

    job = jobs.task_assigned_notify  # a missing task id: one SELECT, returns False
    name = queue.job_name(job)
    start = time.perf_counter()
    for i in range(args.jobs):
        with transaction.atomic():  # one request, one job
            queue.enqueue_on_commit(job, -(i + 1))
    figures.enqueue_rate = args.jobs / (time.perf_counter() - start)
    figures.body_ms = body_cpu_ms(lambda i: job.call_local(-2_000_000 - i), BODY_CALLS)

    consumer = Consumer([*manage, "run_huey"], env, folder / "project-consumer.log")
    try:

        def drained() -> bool:
            succeeded = JobRun.objects.filter(name=name, state=JobRun.State.SUCCEEDED).count()
            return succeeded == args.jobs and queue.pending_count() == 0 and queue.claimed_count() == 0

        samples = drain(consumer, drained, args.jobs)
        marks = JobRun.objects.filter(name=name).aggregate(first=Min("started_at"), last=Max("finished_at"))
        drain_figures(figures, consumer, samples, marks["first"].timestamp(), marks["last"].timestamp(), args.jobs)

        def pickup(n: int) -> float:
            before = time.time()
            with transaction.atomic():
                job_id = queue.enqueue_on_commit(job, -1_000_000 - n)

            def started():
                return JobRun.objects.filter(pk=job_id).values_list("started_at", flat=True).first()

            return wait_until(started, consumer, 30, PICKUP_POLL, "a pickup").timestamp() - before

        idle_and_pickups(consumer, figures, args, pickup)
        others = JobRun.objects.exclude(name=name).values_list("name", flat=True)
        extra = f"other jobs that ran meanwhile (periodic): {sorted(set(others))}" if others else ""
    finally:
        consumer.stop()
        figures.log_problems = consumer.log_lines()
    return figures, extra


def table(stock: Figures, ours: Figures, jobs: int) -> None:
    rows = [
        ("enqueue/s (1 transaction per job)", stock.enqueue_rate, ours.enqueue_rate, "{:,.0f}"),
        ("drain/s, wall (consumer start -> done)", jobs / stock.drain_wall, jobs / ours.drain_wall, "{:,.0f}"),
        ("drain/s, jobs (first start -> last finish)", jobs / stock.jobs_window, jobs / ours.jobs_window, "{:,.0f}"),
        ("consumer startup, s (start -> first job)", stock.startup, ours.startup, "{:.2f}"),
        ("consumer CPU per job in the drain, ms", stock.drain_cpu_ms, ours.drain_cpu_ms, "{:.3f}"),
        ("consumer CPU in the drain, % of a core", stock.drain_cpu_pct, ours.drain_cpu_pct, "{:.0f}"),
        ("no-op body alone, CPU ms (in bench process)", stock.body_ms, ours.body_ms, "{:.3f}"),
        ("idle pickup p50, ms", statistics.median(stock.pickups_ms), statistics.median(ours.pickups_ms), "{:.1f}"),
        ("idle pickup max, ms", max(stock.pickups_ms), max(ours.pickups_ms), "{:.1f}"),
        ("consumer RSS after drain, MB", stock.rss_mb, ours.rss_mb, "{:.1f}"),
        ("consumer CPU while idle, % of a core", stock.idle_cpu, ours.idle_cpu, "{:.2f}"),
    ]
    print(f"{'metric':44} {'stock SqliteHuey (fsync=True)':>30} {'this queue (history on)':>25} {'ratio':>8}")
    for label, a, b, fmt in rows:
        ratio = f"{b / a:.2f}x" if a else "-"
        print(f"{label:44} {fmt.format(a):>30} {fmt.format(b):>25} {ratio:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4000, help="no-op jobs enqueued, then drained")
    parser.add_argument("--idle", type=float, default=15, help="seconds idle before the first pickup sample")
    parser.add_argument("--samples", type=int, default=5, help="pickup samples")
    parser.add_argument("--gap", type=float, default=3, help="seconds idle between later pickup samples")
    args = parser.parse_args()
    if args.idle < 15:
        parser.error("--idle must be at least 15 seconds")
    began, code = time.monotonic(), code_version()  # before the run: the tree may change meanwhile
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        folder = Path(tmp)
        (folder / "stock").mkdir()
        stock = run_stock(folder / "stock", args)
        ours, extra = run_project(folder / "project", args)

    import django
    import huey

    print(
        f"{datetime.date.today()}, nproc {len(os.sched_getaffinity(0))}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, Huey {huey.__version__}, Django {django.get_version()}, "
        f"temporary files on {tempfile.gettempdir()}"
    )
    print(f"code: {code}")
    print(
        f"{args.jobs} no-op jobs, 2 thread workers, idle {args.idle:g} s then {args.samples} pickups {args.gap:g} s apart"
    )
    print()
    table(stock, ours, args.jobs)
    print()
    print("ratio = this queue / stock (higher is better for rates; lower for startup, pickup, RSS, CPU)")
    print("no-op, stock: bench.stock_huey_app.noop(i), one SELECT on the queue file, no result stored")
    print("no-op, this queue: tasks_app.jobs.task_assigned_notify(<missing task id>), one SELECT on the app")
    print("  database, returns False; plus its history: JobRun row written in the enqueue transaction, its")
    print("  executing/complete events written by the consumer in group commits, then the ack")
    print("drain end: stock, the consumer's in-memory count of completed no-ops (one file write at N) and")
    print("  pending_count() == 0; this queue, N succeeded JobRuns and no message left (acked after history)")
    print("no-op body alone: `call_local()` 1000 times in this process, no queue, no consumer")
    print("pickup start: stock, time.time() as the job's first statement; this queue, JobRun.started_at")
    print(f"pickups, ms: stock {fmt_list(stock.pickups_ms)}; this queue {fmt_list(ours.pickups_ms)}")
    if extra:
        print(extra)
    for label, figures in (("stock", stock), ("this queue", ours)):
        lines = figures.log_problems
        print(f"consumer log, {label}: {len(lines)} lines (warnings and errors)" + (":" if lines else ""))
        for line in lines[:10]:
            print(f"  {line}")
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


if __name__ == "__main__":
    main()
