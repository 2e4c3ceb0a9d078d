"""What starting a job adds to a request: a transaction that creates a task, with and without
enqueueing its notification job (the history row in the same transaction, the message queued on
commit), and with job history off.

    .venv/bin/python bench/request_cost.py [--requests 1000] [--repeat 3]

Each variant runs in a fresh subprocess on temporary SQLite files; the median per request is shown.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_variant(requests: int, with_job: bool) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import transaction

    from tasks_app import jobs, queue
    from tasks_app.models import Task

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench")
    start = time.perf_counter()
    for n in range(requests):
        with transaction.atomic():  # what a request that creates a task does
            task = Task.objects.create(title=f"Task {n}", owner=owner, created_by=owner)
            if with_job:
                queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk, user=owner)
    print((time.perf_counter() - start) / requests * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the median is shown")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return run_variant(args.requests, args.variant != "task only")

    variants = {"task only": "1", "task + job, history on": "1", "task + job, history off": "0"}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeat):
        for name, history in variants.items():  # alternating: a 2-core machine drifts
            with tempfile.TemporaryDirectory() as data_dir:
                env = {
                    **os.environ,
                    "DJANGO_SETTINGS_MODULE": "site_config.settings",
                    "DJANGO_SECRET_KEY": "bench",
                    "DATA_DIR": data_dir,
                    "HUEY_IMMEDIATE": "0",
                    "JOB_HISTORY_ENABLED": history,
                    "LOG_LEVEL": "WARNING",
                }
                command = [sys.executable, __file__, "--variant", name, "--requests", str(args.requests)]
                out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
                times[name].append(float(out))
    base = statistics.median(times["task only"])
    print(f"{time.strftime('%Y-%m-%d')}, {args.requests} requests per run, median of {args.repeat}")
    for name, runs in times.items():
        per_request = statistics.median(runs)
        print(f"{name:26} {per_request:6.3f} ms per request   (+{per_request - base:.3f} ms)")


if __name__ == "__main__":
    main()
