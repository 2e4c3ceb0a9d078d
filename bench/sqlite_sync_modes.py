"""Enqueue throughput of the Huey SQLite queue under each `synchronous` mode.

    .venv/bin/python bench/sqlite_sync_modes.py [--jobs 5000]

Prints jobs/s for stock SqliteHuey(fsync=True) (FULL), this project's leased storage (NORMAL) and
SqliteHuey(fsync=False) (OFF), each on a fresh file in a temporary folder.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from huey import SqliteHuey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tasks_app.queue.leased import LeasedSqliteHuey  # noqa: E402


def enqueue_rate(huey, jobs: int) -> float:
    @huey.task()
    def noop(i):
        return i

    start = time.perf_counter()
    for i in range(jobs):
        noop(i)
    return jobs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    args = parser.parse_args()
    variants = [
        ("stock fsync=True  (synchronous=FULL)", lambda f: SqliteHuey("bench", filename=f, fsync=True)),
        ("project storage   (synchronous=NORMAL)", lambda f: LeasedSqliteHuey("bench", filename=f)),
        ("stock fsync=False (synchronous=OFF)", lambda f: SqliteHuey("bench", filename=f, fsync=False)),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for n, (label, make) in enumerate(variants):
            rate = enqueue_rate(make(str(Path(folder) / f"q{n}.sqlite3")), args.jobs)
            print(f"{label}: {rate:,.0f} enqueues/s ({args.jobs} jobs)")


if __name__ == "__main__":
    main()
