"""Stock Huey for bench/stock_vs_leased.py: a module-level `SqliteHuey(fsync=True)` and its two jobs.

    BENCH_STOCK_DB=/tmp/x/stock.sqlite3 \\
        .venv/bin/huey_consumer bench.stock_huey_app.huey -w 2 -k thread -d 0.1 -m 1.0

`noop` returns at once, as the bench's no-ops on this queue and on django-tasks-db do. Stock
Huey deletes a message before its job runs, so the drain is counted in each consumer's memory
(bench/drain_counts.py): `<BENCH_STOCK_DB>.<pid>.json`.
"""

import os
import time

from huey import SqliteHuey
from huey import signals as S

from bench.drain_counts import DrainCounter

DB = os.environ["BENCH_STOCK_DB"]

huey = SqliteHuey("bench-stock", filename=DB, fsync=True)
counter = DrainCounter(DB)


@huey.task()
def noop(i: int) -> None:
    """Return at once."""


@huey.task()
def stamp(key: str) -> None:
    """Record when this job started; the bench reads it back (peek) to measure pickup latency."""
    started = time.time()
    huey.storage.put_data(key, repr(started).encode())


@huey.signal(S.SIGNAL_EXECUTING)
def _on_executing(signal, task, *args) -> None:
    if isinstance(task, noop.task_class):
        counter.started()


@huey.signal(S.SIGNAL_COMPLETE)
def _on_complete(signal, task, *args) -> None:
    if isinstance(task, noop.task_class):
        counter.finished()
