"""django-tasks-db's side of bench/stock_vs_leased.py: the same no-op, as a django-tasks task.

`db_worker` imports this module when it first runs one of its tasks; from then on, its
`task_started` / `task_finished` signals count the drain in memory (bench/drain_counts.py), as
stock Huey's consumers do: `<BENCH_COUNTS>.<pid>.json`.
"""

import os

from django_tasks import task
from django_tasks.signals import task_finished, task_started

from bench.drain_counts import DrainCounter

counter = DrainCounter(os.environ.get("BENCH_COUNTS", "/dev/null/none"))


@task()
def noop(i: int) -> None:
    """Return at once."""


def _is_noop(task_result) -> bool:
    return task_result.task.func is noop.func


def _on_started(sender, task_result, **kwargs) -> None:
    if _is_noop(task_result):
        counter.started()


def _on_finished(sender, task_result, **kwargs) -> None:
    if _is_noop(task_result):
        counter.finished()


task_started.connect(_on_started)
task_finished.connect(_on_finished)
