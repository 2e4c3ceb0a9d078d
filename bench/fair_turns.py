"""Fair turns: what an enqueue and a claim cost as the queue grows, beside stock Huey's, in one run.

    .venv/bin/python bench/fair_turns.py [--sizes 1000,100000] [--ops 500]

For each size N, a fresh SQLite queue file is filled with N ready messages in one transaction:
- leased: this project's storage (`LeasedSqliteStorage`), the messages spread over two lanes and
  50 people (parties), as a flood of many people's jobs leaves it;
- stock: Huey's `SqliteStorage`, the same N messages.
Then `--ops` enqueues (leased: 7 people in turn, each taking their next turn) and `--ops` claims
(leased: one consumer over three lanes, two people held back in one lane, as a fair lane holds a
person at their share; stock: `dequeue`, which deletes the message) are timed one statement each,
in this process. Printed: ms per operation and leased/stock ratios; a cost that grows with N shows
as a larger figure in the larger row. Then, on the leased queue of the largest size: the place of
a second person's one job behind a first person's flood of N/2 (it should be second).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from huey.storage import SqliteStorage  # noqa: E402

from tasks_app.queue.storage import LeasedSqliteStorage  # noqa: E402


def timed(operation, ops: int) -> float:
    """Milliseconds per call of `operation(i)`."""
    started = time.perf_counter()
    for i in range(ops):
        operation(i)
    return (time.perf_counter() - started) / ops * 1000


def leased(size: int, ops: int, folder: Path) -> tuple[float, float]:
    storage = LeasedSqliteStorage("bench", filename=str(folder / f"leased-{size}.sqlite3"))
    storage.register_consumer("bench-consumer", None)
    with storage.transaction():
        for i in range(size):
            storage.enqueue(b"job", lane="default" if i % 3 else "emails", party=str(i % 50))
    enqueue = timed(lambda i: storage.enqueue(b"job", lane="default", party=str(i % 7)), ops)
    held_back = {"default": {"1", "2"}}
    claim = timed(lambda i: storage.claim("bench-consumer", ["default", "emails", "reports"], held_back), ops)
    return enqueue, claim


def stock(size: int, ops: int, folder: Path) -> tuple[float, float]:
    storage = SqliteStorage("bench", filename=str(folder / f"stock-{size}.sqlite3"))
    with storage.db(commit=True) as cursor:
        cursor.executemany("insert into task (queue, data, priority) values (?, ?, ?)", [("bench", b"job", 0)] * size)
    enqueue = timed(lambda i: storage.enqueue(b"job"), ops)
    dequeue = timed(lambda i: storage.dequeue(), ops)
    return enqueue, dequeue


def place_behind_a_flood(flood: int, folder: Path) -> int:
    """Where one job of a second person is claimed, behind `flood` jobs of the first."""
    storage = LeasedSqliteStorage("bench", filename=str(folder / "flood.sqlite3"))
    storage.register_consumer("bench-consumer", None)
    with storage.transaction():
        for _ in range(flood):
            storage.enqueue(b"mallory", party="1")
    storage.enqueue(b"bob", party="2")
    for place in range(1, flood + 2):
        if storage.claim("bench-consumer", ["default"]).data == b"bob":
            return place
    raise AssertionError("bob's job was never claimed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--ops", type=int, default=500)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        print(
            f"{'waiting':>9} | {'enqueue ms: leased':>18} {'stock':>7} {'ratio':>6} | {'claim ms: leased':>16} {'stock dequeue':>13} {'ratio':>6}"
        )
        for size in sizes:
            leased_enqueue, leased_claim = leased(size, args.ops, Path(folder))
            stock_enqueue, stock_dequeue = stock(size, args.ops, Path(folder))
            print(
                f"{size:>9} | {leased_enqueue:>18.3f} {stock_enqueue:>7.3f} {leased_enqueue / stock_enqueue:>6.2f} | "
                f"{leased_claim:>16.3f} {stock_dequeue:>13.3f} {leased_claim / stock_dequeue:>6.2f}"
            )
        flood = max(sizes) // 2
        print(
            f"a second person's job behind a first person's {flood}: claimed as number {place_behind_a_flood(flood, Path(folder))}"
        )


if __name__ == "__main__":
    main()
