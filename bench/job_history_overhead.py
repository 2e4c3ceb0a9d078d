"""What recording job history costs: no-op job throughput with history on and off.

    .venv/bin/python bench/job_history_overhead.py [--jobs 3000] [--workers 2]

Each run is a fresh subprocess on temporary SQLite files (app database and queue), alternating
history off and on, `--repeat` times each:
it enqueues N no-op jobs as a web process would (one transaction each, the history row in it);
it times N requests that create a task, without and then with a job enqueued in the same
transaction (what starting a job adds to a request); then it runs a real Huey consumer
in-process until every job has run and left the queue (history written by the consumer's
writer thread in group commits).
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


def run_variant(jobs: int, workers: int) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from huey.contrib.djhuey import HUEY, db_task

    call_command("migrate", verbosity=0)

    @db_task(name="bench_noop")
    def noop(i: int) -> int:
        return i

    from django.contrib.auth import get_user_model
    from django.db import transaction

    from tasks_app import queue
    from tasks_app.models import Task

    start = time.perf_counter()
    for i in range(jobs):
        with transaction.atomic():  # one request, one job
            queue.enqueue_on_commit(noop, i)
    enqueue_seconds = time.perf_counter() - start

    owner = get_user_model().objects.create_user("bench")
    request_ms = []
    for with_job in (False, True):
        start = time.perf_counter()
        for i in range(jobs):
            with transaction.atomic():  # a request that creates a task
                task = Task.objects.create(title=f"Task {i}", owner=owner, created_by=owner)
                if with_job:
                    queue.enqueue_on_commit(noop, task.pk, user=owner)
        request_ms.append((time.perf_counter() - start) / jobs * 1000)

    consumer = HUEY.create_consumer(workers=workers, worker_type="thread", periodic=False)
    start = time.perf_counter()
    consumer.start()
    while HUEY.pending_count() or HUEY.storage.claimed_size():  # every job run and acked
        time.sleep(0.05)
    run_seconds = time.perf_counter() - start
    consumer.stop(graceful=True)
    drained = 2 * jobs  # the enqueue loop's jobs and the request loop's
    print(f"{jobs / enqueue_seconds:.0f} {drained / run_seconds:.0f} {request_ms[0]:.4f} {request_ms[1]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the median is shown")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return run_variant(args.jobs, args.workers)

    rates = {}
    for history in ["0", "1"] * args.repeat:
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
            command = [sys.executable, __file__, "--variant", history, "--jobs", str(args.jobs)]
            command += ["--workers", str(args.workers)]
            out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            rates.setdefault(history, []).append([float(x) for x in out.split()])
    (enq_off, run_off, task_off, job_off), (enq_on, run_on, task_on, job_on) = (
        [statistics.median(run[i] for run in rates[h]) for i in range(4)] for h in ("0", "1")
    )
    print(
        f"{args.jobs} no-op jobs, {args.workers} thread workers, SQLite queue and app database, median of {args.repeat}"
    )
    print(
        f"enqueue (web side):     history off {enq_off:8,.0f}/s   on {enq_on:8,.0f}/s   ({enq_on / enq_off - 1:+.0%})"
    )
    print(
        f"execute (consumer):     history off {run_off:8,.0f}/s   on {run_on:8,.0f}/s   ({run_on / run_off - 1:+.0%})"
    )
    task_only = statistics.median([task_off, task_on])
    print(
        f"a request creating a task: {task_only:.3f} ms; with its job enqueued: history off "
        f"+{job_off - task_off:.3f} ms, on +{job_on - task_on:.3f} ms"
    )


if __name__ == "__main__":
    main()
