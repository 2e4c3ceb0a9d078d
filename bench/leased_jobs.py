"""The bench's own job on this queue, registered only where a bench imports this module (the bench
process that enqueues and `bench/leased_consumer.py`, the consumer that runs it).

`noop` returns at once, as `bench.stock_huey_app.noop` and `bench.django_tasks_jobs.noop` do: the
queue's cost per job, with nothing of the job's own. It is a `db_task`, as every job of the app is
(djhuey's `close_db` wrapper around its call is part of what any of them costs).
"""

from huey.contrib.djhuey import db_task


@db_task(name="bench_noop")
def noop(i: int) -> None:
    """Return at once."""
