"""Stock Huey for bench/stock_vs_leased.py: a module-level `SqliteHuey(fsync=True)` and its two jobs.

    BENCH_STOCK_DB=/tmp/x/stock.sqlite3 BENCH_STOCK_JOBS=4000 \\
        .venv/bin/huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0

`noop` does one SELECT on the queue file (the project's no-op does one SELECT on the app database).
The drain is counted in the consumer's memory, not in the database, so counting adds no write per
job: when the BENCH_STOCK_JOBS-th `noop` completes, the consumer writes its first start and last
finish times (time.time()) to `<BENCH_STOCK_DB>.drained.json`, once.
"""

import json
import os
import threading
import time

from huey import SqliteHuey
from huey import signals as S

DB = os.environ["BENCH_STOCK_DB"]
DRAIN_JOBS = int(os.environ.get("BENCH_STOCK_JOBS", "0"))
DRAINED_FILE = DB + ".drained.json"

huey = SqliteHuey("bench-stock", filename=DB, fsync=True)


@huey.task()
def noop(i: int) -> None:
    huey.storage.has_data_for_key("bench-nothing")  # one SELECT, comparable to the project's no-op


@huey.task()
def stamp(key: str) -> None:
    """Record when this job started; the bench reads it back (peek) to measure pickup latency."""
    started = time.time()
    huey.storage.put_data(key, repr(started).encode())


_lock = threading.Lock()
_drain = {"done": 0, "first_start": None, "last_finish": None}


@huey.signal(S.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args) -> None:
    if isinstance(task, noop.task_class) and _drain["first_start"] is None:
        with _lock:
            _drain["first_start"] = _drain["first_start"] or time.time()


@huey.signal(S.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args) -> None:
    if not isinstance(task, noop.task_class):
        return
    with _lock:
        _drain["done"] += 1
        _drain["last_finish"] = time.time()
        if _drain["done"] != DRAIN_JOBS:
            return
        snapshot = dict(_drain)
    with open(DRAINED_FILE + ".tmp", "w") as out:
        json.dump(snapshot, out)
    os.replace(DRAINED_FILE + ".tmp", DRAINED_FILE)
