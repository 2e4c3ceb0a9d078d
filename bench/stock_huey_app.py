"""Stock Huey for bench/stock_vs_leased.py: a module-level `SqliteHuey(fsync=True)` and its two jobs.

    BENCH_STOCK_DB=/tmp/x/stock.sqlite3 \\
        .venv/bin/huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0

`noop` does one SELECT on the queue file (the project's no-op does one SELECT on the app database).
The drain is counted in each consumer's memory, not in the database, so counting adds no write per
job: a thread of the consumer writes its count of completed no-ops, with its first start and last
finish times (time.time()), to `<BENCH_STOCK_DB>.<pid>.json` every 20 ms while the count changes.
The bench adds up the files of all consumers.
"""

import glob
import json
import os
import threading
import time

from huey import SqliteHuey
from huey import signals as S

DB = os.environ["BENCH_STOCK_DB"]
COUNT_EVERY = 0.02  # seconds between writes of a consumer's count, while it changes

huey = SqliteHuey("bench-stock", filename=DB, fsync=True)


@huey.task()
def noop(i: int) -> None:
    huey.storage.has_data_for_key("bench-nothing")  # one SELECT, comparable to the project's no-op


@huey.task()
def stamp(key: str) -> None:
    """Record when this job started; the bench reads it back (peek) to measure pickup latency."""
    started = time.time()
    huey.storage.put_data(key, repr(started).encode())


def count_files() -> list[str]:
    """The count files the consumers of this queue have written so far."""
    return glob.glob(glob.escape(DB) + ".*.json")


_lock = threading.Lock()
_drain = {"done": 0, "first_start": None, "last_finish": None}
_writer: threading.Thread | None = None


def _write_counts() -> None:
    path, written = f"{DB}.{os.getpid()}.json", None
    while True:
        time.sleep(COUNT_EVERY)
        with _lock:
            snapshot = dict(_drain)
        if snapshot != written:
            with open(path + ".tmp", "w") as out:
                json.dump(snapshot, out)
            os.replace(path + ".tmp", path)
            written = snapshot


@huey.signal(S.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args) -> None:
    global _writer
    if isinstance(task, noop.task_class) and _drain["first_start"] is None:
        with _lock:
            _drain["first_start"] = _drain["first_start"] or time.time()
            if _writer is None:  # started by the first no-op: only consumers write counts
                _writer = threading.Thread(target=_write_counts, name="bench-counts", daemon=True)
                _writer.start()


@huey.signal(S.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args) -> None:
    if isinstance(task, noop.task_class):
        with _lock:
            _drain["done"] += 1
            _drain["last_finish"] = time.time()
