"""Paused runs: what a paused job's held runs write while it stays paused, and how soon they start once resumed.

    .venv/bin/python bench/paused_runs.py [--runs 500] [--seconds 120]

Issue 18's target: a paused job with 500 held runs for an hour writes fewer than 10 history
events and makes no queue writes while it stays paused; resumed, its first run starts within 1 s.

On a temporary DATA_DIR (SQLite app database and queue): `manage.py migrate`; the job
`tests.crash_jobs.nap` is paused; one consumer starts (`tests/consumer_with_test_jobs.py
--no-periodic`, so that no periodic job writes to the queue during the run); N runs of `nap(0)`
are enqueued as requests do (one transaction each). Once every run has its `paused` event and sits
in the `delayed` table, the job stays paused for `--seconds`: the bench counts the JobEvent rows
of those runs and watches the queue file, reading `PRAGMA data_version` every POLL_SECONDS on a
connection of its own (it changes when another connection commits) and, on each change, which
tables' rows changed; a line every SAMPLE_SECONDS. A commit that changed only the `consumer` table
is the consumer's heartbeat, not a write of the runs. Commits closer together than a poll count
once, so the commit counts are floors; the rows of `message` and `delayed` that appeared or went
away between polls show how much was written. Then the job is resumed: the time from the resume
to the first run's start and to the last run's finish (JobRun.started_at, finished_at).
Runs from any checkout: paths are relative to this file's, so an older worktree can run its copy.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 5.0
POLL_SECONDS = 0.1
RUN_TABLES = {"message", "delayed"}  # where a run waits; any other table changing is the consumer's own
# The targets.
MAX_EVENTS_PER_HOUR = 10  # fewer than this
MAX_RUN_WRITES = 0
MAX_FIRST_START_SECONDS = 1.0


class QueueFile:
    """The queue's SQLite file, watched through one long-lived connection of the bench's own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.start_counting()

    def start_counting(self) -> None:
        self.version = self.data_version()
        self.tables = self.table_rows()
        self.commits: Counter[tuple[str, ...]] = Counter()  # tables changed -> commits seen
        self.run_rows_changed = 0  # rows of message/delayed that appeared or went away

    def data_version(self) -> int:
        return self.connection.execute("pragma data_version").fetchone()[0]

    def table_rows(self) -> dict[str, frozenset[tuple]]:
        names = self.connection.execute("select name from sqlite_master where type = 'table'").fetchall()
        return {name: frozenset(self.connection.execute(f"select * from {name}")) for (name,) in names}

    def poll(self) -> None:
        """Count a commit by another connection since the last poll: commits within one poll count
        once, and a row that came and went between two polls is not seen."""
        version = self.data_version()
        if version == self.version:
            return
        tables = self.table_rows()
        changed = sorted(
            name for name in tables.keys() | self.tables.keys() if tables.get(name) != self.tables.get(name)
        )
        self.commits[tuple(changed)] += 1
        for name in RUN_TABLES & set(changed):
            self.run_rows_changed += len(tables.get(name, frozenset()) ^ self.tables.get(name, frozenset()))
        self.version, self.tables = version, tables

    def run_writes(self) -> int:
        """Commits seen that wrote where runs wait."""
        return sum(count for tables, count in self.commits.items() if RUN_TABLES & set(tables))

    def rows(self, table: str) -> tuple[int, int | None]:
        return self.connection.execute(f"select count(*), max(id) from {table}").fetchone()

    def wal_bytes(self) -> int:
        wal = self.path.with_name(self.path.name + "-wal")
        return wal.stat().st_size if wal.exists() else 0


def wait_for(what: str, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def bench(data_dir: Path, runs: int, seconds: float, consumer_log: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    import tests.crash_jobs
    from tasks_app import queue
    from tasks_app.models import JobEvent, JobRun

    name = queue.job_name(tests.crash_jobs.nap)
    queue.pause_job(name)  # before the consumer starts: no run may slip through a cached answer
    consumer = subprocess.Popen(
        [sys.executable, "tests/consumer_with_test_jobs.py", "--no-periodic"],
        cwd=ROOT,
        stdout=consumer_log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        ids = []
        for _ in range(runs):
            with transaction.atomic():  # one request, one run
                ids.append(queue.enqueue_on_commit(tests.crash_jobs.nap, 0))
        events = JobEvent.objects.filter(job_id__in=ids)
        wait_for("the runs' queue file", (data_dir / "huey.sqlite3").exists, 30)
        queue_file = QueueFile(data_dir / "huey.sqlite3")
        wait_for(
            f"{runs} paused runs",
            lambda: (
                events.filter(kind="paused").values("job_id").distinct().count() == runs
                and queue_file.rows("message")[0] == 0
                and queue_file.rows("delayed")[0] == runs
            ),
            120,
        )

        print(f"{'t (s)':>6} {'events':>7} {'message':>8} {'delayed':>8} {'max id':>7} {'WAL (KB)':>9} {'commits':>8}")
        queue_file.start_counting()
        events_before = events.count()
        start = time.monotonic()
        next_sample = start
        while True:
            now = time.monotonic()
            if now >= next_sample:
                delayed, max_id = queue_file.rows("delayed")
                print(
                    f"{now - start:6.0f} {events.count() - events_before:7d} {queue_file.rows('message')[0]:8d} "
                    f"{delayed:8d} {max_id or 0:7d} {queue_file.wal_bytes() / 1024:9.0f} {sum(queue_file.commits.values()):8d}"
                )
                next_sample += SAMPLE_SECONDS
            if now - start >= seconds:
                break
            time.sleep(POLL_SECONDS)
            queue_file.poll()
        paused_seconds = time.monotonic() - start
        events_paused = events.count() - events_before

        resumed_at = timezone.now()
        queue.resume_job(name)
        done = JobRun.objects.filter(pk__in=ids, finished_at__isnull=False)
        wait_for(f"{runs} finished runs", lambda: done.count() == runs, 120)
        first = min(done.values_list("started_at", flat=True))
        last = max(done.values_list("finished_at", flat=True))
    finally:
        consumer.terminate()
        consumer.wait(60)

    print("\nqueue commits while paused, by the tables they changed:")
    for tables, count in queue_file.commits.most_common():
        print(f"  {count:5d}  {', '.join(tables) or '(none: a commit that changed no rows)'}")
    return {
        "paused_seconds": paused_seconds,
        "events": events_paused,
        "events_per_hour": events_paused * 3600 / paused_seconds,
        "commits": sum(queue_file.commits.values()),
        "run_writes": queue_file.run_writes(),
        "run_writes_per_hour": queue_file.run_writes() * 3600 / paused_seconds,
        "run_rows": queue_file.run_rows_changed,
        "first_start": (first - resumed_at) / datetime.timedelta(seconds=1),
        "last_finish": (last - resumed_at) / datetime.timedelta(seconds=1),
        "succeeded": JobRun.objects.filter(pk__in=ids, state=JobRun.State.SUCCEEDED).count(),
    }


def report(figures: dict[str, float], runs: int) -> None:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    f = figures
    print(f"\n{runs} runs held for {f['paused_seconds']:.0f} s, then resumed ({f['succeeded']} succeeded)")
    print(f"{'':44} {'figure':>10} {'per hour':>10}   target")
    print(
        f"{'events written while paused':44} {f['events']:10.0f} {f['events_per_hour']:10.0f}   "
        f"< {MAX_EVENTS_PER_HOUR} /h  {verdict(f['events_per_hour'] < MAX_EVENTS_PER_HOUR)}"
    )
    print(
        f"{'queue commits writing message/delayed':44} {f['run_writes']:10.0f} {f['run_writes_per_hour']:10.0f}   "
        f"= {MAX_RUN_WRITES}     {verdict(f['run_writes'] <= MAX_RUN_WRITES)}"
    )
    print(
        f"{'message/delayed rows that appeared or went':44} {f['run_rows']:10.0f} "
        f"{f['run_rows'] * 3600 / f['paused_seconds']:10.0f}"
    )
    print(
        f"{'queue commits in all (heartbeats included)':44} {f['commits']:10.0f} {f['commits'] * 3600 / f['paused_seconds']:10.0f}"
    )
    print(
        f"{'resume -> first run started (s)':44} {f['first_start']:10.3f} {'':10}   "
        f"< {MAX_FIRST_START_SECONDS:g} s   {verdict(f['first_start'] < MAX_FIRST_START_SECONDS)}"
    )
    print(f"{'resume -> last run finished (s)':44} {f['last_finish']:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=120, help="how long the job stays paused")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="site_config.settings",
            DJANGO_SECRET_KEY="bench",
            DATA_DIR=data_dir,
            HUEY_IMMEDIATE="0",
            LOG_LEVEL="WARNING",
            # SQLite for both the app and the queue, whatever the shell says.
            DATABASE_URL="",
            HUEY_DATABASE_URL="",
            HUEY_REDIS_URL="",
        )
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, check=True)
        consumer_log = Path(data_dir) / "consumer.log"
        try:
            figures = bench(Path(data_dir), args.runs, args.seconds, consumer_log)
        except BaseException:
            print(f"consumer log:\n{consumer_log.read_text() if consumer_log.exists() else '(none)'}", file=sys.stderr)
            raise
        report(figures, args.runs)


if __name__ == "__main__":
    main()
