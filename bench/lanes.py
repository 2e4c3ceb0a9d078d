"""What lanes cost, and what they buy.

    .venv/bin/python bench/lanes.py [--jobs 2000] [--samples 10]

1. Drain: a real `run_huey` consumer (4 thread workers) drains N no-op jobs spread over two lanes
   (`task_assigned_notify` and `task_completed_notify` for a missing task: one read each, in the
   default and emails lanes), once with the default lane limits (default=2, emails=2: all four
   workers busy) and once with limits so high they never bind: the difference is what lanes cost.
2. Wait: how long an e-mail waits to start (its JobRun's started_at minus enqueued_at, enqueued
   the way a request does) on an idle queue, then while six slow reports saturate the reports
   lane and a backlog of reports waits behind them.
"""

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live_stack import LiveStack, wait_for  # noqa: E402

ENQUEUE = """
from django.db import transaction
from tasks_app import jobs, queue
with transaction.atomic():
    for n in range({jobs}):
        queue.enqueue_on_commit(jobs.task_assigned_notify, -n - 1)
        queue.enqueue_on_commit(jobs.task_completed_notify, -n - 1)
"""
EMAIL_WAIT = """
import json, time
from django.db import transaction
from tasks_app import jobs, queue
from tasks_app.models import JobRun
waits = []
for n in range({samples}):
    with transaction.atomic():
        job_id = queue.enqueue_on_commit(jobs.email_send, -1000 - n)
    while not JobRun.objects.filter(pk=job_id, started_at__isnull=False).exists():
        time.sleep(0.005)
    run = JobRun.objects.get(pk=job_id)
    waits.append((run.started_at - run.enqueued_at).total_seconds() * 1000)
    time.sleep(0.2)
print(json.dumps(waits))
"""
REPORTS = """
from django.contrib.auth import get_user_model
from django.db import transaction
from tasks_app import jobs, queue
from tasks_app.models import Task
from tasks_app.services import reports
owner = get_user_model().objects.create_user("bench")
Task.objects.bulk_create(Task(owner=owner, created_by=owner, title=f"Task {{n}}") for n in range(50))
with transaction.atomic():
    for _ in range({count}):
        report = reports.report_request(owner=owner, format="csv")
        queue.enqueue_on_commit(jobs.report_build, report.pk)
"""


NEVER_BINDING = "default=6,emails=6,reports=6,maintenance=6"


def start(folder: Path, name: str, **env: str) -> LiveStack:
    stack = LiveStack(
        folder / name,
        LOG_LEVEL="WARNING",
        EMAIL_RATE_LIMIT_PER_MINUTE="1000000",
        MAIL_SENDER_PER_MINUTE="1000000",
        **env,
    )
    stack.data_dir.mkdir()
    stack.manage("migrate", "--noinput")
    return stack


def drain_rate(folder: Path, name: str, jobs: int, **env: str) -> float:
    stack = start(folder, name, HUEY_WORKERS="4", **env)
    try:
        stack.shell(ENQUEUE.format(jobs=jobs))
        stack.start_consumer()

        # Read the app database directly: a `manage.py shell` per poll would compete for the CPU.
        with sqlite3.connect(stack.data_dir / "app.sqlite3") as db:

            def drained() -> bool:
                return not db.execute("select count(*) from tasks_app_jobrun where state != 'succeeded'").fetchone()[0]

            wait_for(drained, timeout=300, interval=0.2, what="the drain")
            first, last = db.execute("select min(started_at), max(finished_at) from tasks_app_jobrun").fetchone()
        return 2 * jobs / (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    finally:
        stack.stop_consumer()


def email_waits(stack: LiveStack, samples: int) -> list[float]:
    return json.loads(stack.shell(EMAIL_WAIT.format(samples=samples)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per lane in the drain")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="drains per variant; the median is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates: dict[str, list[float]] = {"lanes": [], "none": []}
        for n in range(args.repeat):  # alternating: a 2-core machine drifts
            rates["lanes"].append(drain_rate(folder, f"lanes{n}", args.jobs))
            rates["none"].append(drain_rate(folder, f"none{n}", args.jobs, HUEY_LANES=NEVER_BINDING))
        with_lanes, without = statistics.median(rates["lanes"]), statistics.median(rates["none"])

        stack = start(folder, "wait", REPORT_ROW_DELAY_SECONDS="0.2")
        stack.start_consumer()
        try:
            time.sleep(3)
            idle = email_waits(stack, args.samples)
            stack.shell(
                REPORTS.format(count=6)
            )  # two run (reports=2; jobs of no one take every place), four wait: ~10 s each
            time.sleep(1)
            busy = email_waits(stack, args.samples)
        finally:
            stack.stop_consumer()
    print(
        f"{time.strftime('%Y-%m-%d')}, {2 * args.jobs} no-op jobs over two lanes, 4 thread workers, median of {args.repeat}"
    )
    print(f"drain, default lane limits:      {with_lanes:8,.0f} jobs/s")
    print(f"drain, limits that never bind:   {without:8,.0f} jobs/s   (with lanes: {with_lanes / without - 1:+.0%})")
    for label, waits in (("idle queue", idle), ("reports lane saturated", busy)):
        print(f"e-mail wait, {label + ':':24} p50 {statistics.median(waits):6.1f} ms   max {max(waits):6.1f} ms")


if __name__ == "__main__":
    main()
