"""What unique jobs and the periodic ledger cost, on temporary SQLite files.

    .venv/bin/python bench/unique_and_ledger.py [--requests 2000]

Unique jobs: N requests (one transaction each) that start a no-op job with `enqueue_on_commit`,
then N that take a new uniqueness key first (`claim_unique`), then N that ask again for a key
whose job still waits (answered with the existing job, no enqueue). The ledger: one scheduler's
check of the app's periodic jobs in a steady minute, and the look-back of a scheduler started after
7 days with no consumer (every missed tick recorded, each job's policy applied).
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def per_request_ms(requests: int, start_one) -> float:
    from django.db import transaction

    start = time.perf_counter()
    for i in range(requests):
        with transaction.atomic():
            start_one(i)
    return (time.perf_counter() - start) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="bench-unique-")
    os.environ.update({"DATA_DIR": data, "DJANGO_DEBUG": "1", "HUEY_IMMEDIATE": "0", "DATABASE_URL": ""})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from huey.contrib.djhuey import HUEY, db_task

    from tasks_app import queue
    from tasks_app.models import PeriodicTick
    from tasks_app.queue import periodic

    call_command("migrate", verbosity=0)

    @db_task(name="bench_noop")
    def noop(i: int) -> int:
        return i

    n = args.requests
    plain = per_request_ms(n, lambda i: queue.enqueue_on_commit(noop, i))
    unique = per_request_ms(n, lambda i: queue.enqueue_on_commit(noop, i, id=queue.claim_unique(f"bench:{i}").job_id))
    again = per_request_ms(n, lambda i: queue.claim_unique(f"bench:{i}"))
    print(f"start a job, per request:          {plain:.3f} ms")
    print(f"start a unique job, per request:   {unique:.3f} ms ({unique / plain:.2f}x)")
    print(f"ask again (the existing job):      {again:.3f} ms ({again / plain:.2f}x)")

    tasks = HUEY._registry.periodic_tasks
    now = datetime.datetime(2026, 6, 8, 8, 20, tzinfo=datetime.UTC)
    for task_class in HUEY._registry._periodic_tasks:  # consumers last ran a week ago
        name = HUEY._registry.task_to_string(task_class)
        due_at = task_class.periodic_schedule.previous_run(now - datetime.timedelta(days=7))
        PeriodicTick.objects.create(name=name, due_at=due_at, outcome="ran", recorded_at=due_at)
    start = time.perf_counter()
    periodic.due_jobs(tasks, now, None)
    look_back = time.perf_counter() - start
    steady = []
    for minute in range(1, 31):
        start = time.perf_counter()
        periodic.due_jobs(tasks, now + datetime.timedelta(minutes=minute), now + datetime.timedelta(minutes=minute - 1))
        steady.append(time.perf_counter() - start)
    print(f"ledger: a scheduler's check, steady: {statistics.median(steady) * 1000:.2f} ms (median of 30 minutes)")
    print(
        f"ledger: look-back after 7 days down: {look_back * 1000:.0f} ms "
        f"({PeriodicTick.objects.count()} ticks recorded)"
    )


if __name__ == "__main__":
    main()
