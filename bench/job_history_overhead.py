"""What recording job history costs: no-op job throughput with history on and off.

    .venv/bin/python bench/job_history_overhead.py [--jobs 3000] [--workers 2]

Each run is a fresh subprocess on temporary SQLite files (app database and queue), alternating
history off and on, `--repeat` times each:
it enqueues N no-op jobs as a web process would (one transaction each, the history row in it),
then runs a real Huey consumer in-process until every job has run and left the queue
(history buffered and written in batches by the consumer's flusher thread).
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

    from django.db import transaction

    from tasks_app import queue

    start = time.perf_counter()
    for i in range(jobs):
        with transaction.atomic():  # one request, one job
            queue.enqueue_on_commit(noop, i)
    enqueue_seconds = time.perf_counter() - start

    consumer = HUEY.create_consumer(workers=workers, worker_type="thread", periodic=False)
    start = time.perf_counter()
    consumer.start()
    while HUEY.pending_count() or HUEY.storage.claimed_size():  # every job run and acked
        time.sleep(0.05)
    run_seconds = time.perf_counter() - start
    consumer.stop(graceful=True)
    print(f"{jobs / enqueue_seconds:.0f} {jobs / run_seconds:.0f}")


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
    (enq_off, run_off), (enq_on, run_on) = (
        [statistics.median(run[i] for run in rates[h]) for i in (0, 1)] for h in ("0", "1")
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


if __name__ == "__main__":
    main()
