"""Kill soak: does the leased SQLite queue lose, or visibly duplicate, jobs when its consumer is SIGKILLed?

    .venv/bin/python bench/kill_soak.py [--jobs 10000] [--kills 50] [--seed 1] [--keep]

What it measures, against the target "0 jobs lost over 50 SIGKILLs of the consumer while it drains
10,000 jobs; every job's history ends in a final state; <= 1 extra delivery per kill, and no
visible duplicate":

1. A temporary DATA_DIR (app database and queue), `manage.py migrate` in a subprocess, then, in
   this process (Django set up on the same DATA_DIR), a few users and N tasks created with
   bulk_create (no job enqueued), then one `task_assigned_notify` job per task enqueued as a request
   does: `queue.enqueue_on_commit(...)` inside `transaction.atomic()`, the job's history row written
   in that transaction and its message queued on commit. For speed, `--per-transaction` jobs (100)
   share one transaction; each job still gets its own message. Each job creates one Notification
   with a dedup key, so a job run twice shows as a second run in its history, never as a second row.
2. `manage.py run_huey` as a subprocess (HUEY_WORKERS=2). Loop: wait until the consumer has
   registered in the queue's `consumer` table (so the kill lands while it drains, not while Django
   starts), sleep uniform(0.1, 0.6) s (seeded), SIGKILL it, note how many messages it held, start a
   new one; until `--kills` kills are done or the queue is empty. The next consumer releases the dead
   one's messages at start (`orphaned` + `requeued` events).
3. A last consumer drains everything: until every job's JobRun is in a final state and the queue's
   `message` table is empty (or `--drain-timeout` s pass, or nothing changes for `--stall` s with the
   queue empty); then SIGTERM.
4. Figures, from the app database and the queue file: lost jobs (tasks without exactly one
   notification; JobRuns not in a final state), duplicate notifications, extra deliveries
   (JobRun.deliveries - 1, summed, per kill), extra runs (JobRun.attempts - 1), JobRuns with an
   `orphaned` event, failed JobRuns and their errors, messages left in the queue, warnings and
   errors in the consumer logs; then PASS/FAIL per criterion, and for any failure the history
   (event kinds in order) of a few of the jobs concerned.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = "tasks_app.jobs.notifications.task_assigned_notify"
FINAL = {"succeeded", "failed", "revoked", "expired"}
OWNERS = 20
SAMPLES = 5  # jobs shown per anomaly


@dataclass
class Kill:
    pid: int
    alive_for: float  # seconds from start to SIGKILL
    at: float  # time.time() of the SIGKILL
    held: list[str]  # job ids of the messages the consumer had claimed when it died
    left: int  # messages in the queue (ready or claimed) at the kill


class Stack:
    """The temporary DATA_DIR and the consumer subprocesses started on it."""

    def __init__(self, data_dir: Path, log_level: str):
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "site_config.settings",
            "DJANGO_SECRET_KEY": "kill-soak",
            "DJANGO_DEBUG": "0",
            "DATA_DIR": str(data_dir),
            "HUEY_IMMEDIATE": "0",
            "HUEY_WORKERS": "2",
            "LOG_LEVEL": log_level,
            "PYTHONUNBUFFERED": "1",
        }
        self.consumer: subprocess.Popen | None = None
        self._log = None
        self.started = 0

    def manage(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def start_consumer(self) -> subprocess.Popen:
        self.started += 1
        self._log = open(self.logs / f"consumer-{self.started:03d}.log", "wb")  # noqa: SIM115 (closed in _reap)
        self.consumer = subprocess.Popen(
            [sys.executable, "manage.py", "run_huey"],
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self.consumer

    def kill_consumer(self) -> None:
        self.consumer.send_signal(signal.SIGKILL)
        self._reap(self.consumer.wait())

    def stop_consumer(self, timeout: float = 45) -> int | None:
        """SIGTERM (graceful stop), SIGKILL past the timeout; returns the exit code."""
        if self.consumer is None:
            return None
        if self.consumer.poll() is None:
            self.consumer.send_signal(signal.SIGTERM)
            try:
                self.consumer.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.consumer.kill()
                self.consumer.wait()
        code = self.consumer.returncode
        self._reap(code)
        return code

    def _reap(self, _code) -> None:
        self.consumer = None
        if self._log is not None:
            self._log.close()
            self._log = None


class QueueFile:
    """Reads the queue's own tables (DATA_DIR/huey.sqlite3) directly."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, timeout=20, isolation_level=None)

    def one(self, sql: str, params=()) -> int:
        return self.conn.execute(sql, params).fetchone()[0]

    def messages(self) -> int:
        return self.one("select count(*) from message")

    def delayed(self) -> int:
        return self.one("select count(*) from delayed")

    def registered(self, pid: int) -> bool:
        return bool(self.one("select count(*) from consumer where pid = ?", (pid,)))

    def held_by(self, pid: int) -> list[str]:
        rows = self.conn.execute("select job_id from message where claimed_by like ?", (f"%:{pid}:%",))
        return [job_id for (job_id,) in rows]

    def job_ids(self) -> set[str]:
        return {
            job_id for (job_id,) in self.conn.execute("select job_id from message union select job_id from delayed")
        }

    def close(self) -> None:
        self.conn.close()


def setup_django(stack: Stack) -> None:
    os.environ.update(stack.env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_jobs(jobs: int, per_transaction: int) -> float:
    """Users, N tasks (bulk, nothing enqueued), then one task_assigned_notify job per task; returns seconds."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from tasks_app import jobs as app_jobs
    from tasks_app import queue
    from tasks_app.models import Task

    User = get_user_model()
    users = [User(username=f"owner{i}", email=f"owner{i}@example.com", password="!") for i in range(OWNERS)]
    users.append(User(username="staff", email="staff@example.com", password="!", is_staff=True, is_superuser=True))
    User.objects.bulk_create(users)
    owners = list(User.objects.filter(is_staff=False).order_by("pk"))
    Task.objects.bulk_create(
        [Task(title=f"soak task {i}", owner=owners[i % len(owners)]) for i in range(jobs)], batch_size=1000
    )
    task_ids = list(Task.objects.order_by("pk").values_list("pk", flat=True))
    start = time.perf_counter()
    for first in range(0, len(task_ids), per_transaction):
        with transaction.atomic():  # as a request would; several jobs per transaction for speed
            for task_id in task_ids[first : first + per_transaction]:
                queue.enqueue_on_commit(app_jobs.task_assigned_notify, task_id)
    return time.perf_counter() - start


def wait_registered(stack: Stack, queue_file: QueueFile, proc: subprocess.Popen, timeout: float = 60) -> float:
    """Seconds until the consumer's row is in the queue's `consumer` table (it claims right after)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"consumer {proc.pid} exited with {proc.returncode} before registering")
        if queue_file.registered(proc.pid):
            return time.monotonic() - start
        time.sleep(0.02)
    raise RuntimeError(f"consumer {proc.pid} did not register within {timeout}s")


def job_states() -> Counter:
    from django.db import connection

    from tasks_app.models import JobRun

    states = Counter(JobRun.objects.filter(name=JOB).values_list("state", flat=True))
    connection.close()  # no long-lived connection beside the consumer's
    return states


def drain(stack: Stack, queue_file: QueueFile, jobs: int, timeout: float, stall: float) -> str:
    """Wait until every job is final and the queue empty; returns why the wait ended.

    A consumer that exits by itself (nobody here signalled it) is noted and replaced.
    """
    start = time.monotonic()
    last_change, last = start, None
    exits = []
    while True:
        if stack.consumer.poll() is not None:
            exits.append(
                f"{stack.consumer.pid} exited by itself with {stack.consumer.returncode} at {time.monotonic() - start:.1f}s"
            )
            stack._reap(stack.consumer.returncode)
            stack.start_consumer()
        note = f" [consumer {'; '.join(exits)}; replaced]" if exits else ""
        states = job_states()
        waiting = jobs - sum(count for state, count in states.items() if state in FINAL)
        messages = queue_file.messages()
        now = time.monotonic()
        if not waiting and not messages:
            return f"drained in {now - start:.1f}s{note}"
        key = (tuple(sorted(states.items())), messages)
        if key != last:
            last, last_change = key, now
        if now - start > timeout:
            return f"TIMEOUT after {timeout:.0f}s: {waiting} jobs not final, {messages} messages left{note}"
        if not messages and now - last_change > stall:
            return f"STALLED: queue empty, {waiting} jobs not final, nothing changed for {stall:.0f}s{note}"
        time.sleep(1)


def scan_logs(logs: Path) -> tuple[Counter, dict[str, list[str]]]:
    """WARNING/ERROR/CRITICAL lines and tracebacks of every consumer, by message shape."""
    shapes: Counter = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            match = re.search(r"\b(WARNING|ERROR|CRITICAL)\b (.*)", line)
            if match:
                text = match.group(1) + " " + match.group(2)
            elif line.startswith("Traceback") or re.match(r"^\w+(\.\w+)*(Error|Exception):", line):
                text = line
            else:
                continue
            shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{32}|\d+", "#", text)[:160]
            shapes[shape] += 1
            if len(examples[shape]) < 2:
                examples[shape].append(f"{path.name}: {line[:300]}")
    return shapes, examples


def report(args, stack: Stack, queue_file: QueueFile, kills: list[Kill], timings: dict, drain_end: str) -> bool:
    from tasks_app.models import Email, JobEvent, JobRun, Notification, Task

    runs = {row["id"]: row for row in JobRun.objects.filter(name=JOB).values()}
    kinds: dict[str, list[str]] = defaultdict(list)
    for job_id, kind in JobEvent.objects.filter(job__name=JOB).order_by("at", "id").values_list("job_id", "kind"):
        kinds[job_id].append(kind)
    task_ids = set(Task.objects.values_list("pk", flat=True))
    notified: Counter = Counter()
    notified_at = {}  # task id -> when its (first) notification was created
    for data, created_at in Notification.objects.filter(kind=Notification.Kind.TASK_ASSIGNED).values_list(
        "data", "created_at"
    ):
        notified[data.get("task_id")] += 1
        notified_at[data.get("task_id")] = min(created_at, notified_at.get(data.get("task_id"), created_at))
    runs_per_task = Counter(run["args"][0] for run in runs.values() if run["args"])

    missing = sorted(pk for pk in task_ids if notified[pk] == 0)
    duplicated = sorted(pk for pk in task_ids if notified[pk] > 1)
    not_one_run = sorted(pk for pk in task_ids if runs_per_task[pk] != 1)
    not_final = sorted(job_id for job_id, run in runs.items() if run["state"] not in FINAL)
    failed = sorted(job_id for job_id, run in runs.items() if run["state"] == "failed")
    redelivered = sorted(job_id for job_id, run in runs.items() if run["deliveries"] > 1)
    extra_deliveries = sum(max(run["deliveries"] - 1, 0) for run in runs.values())
    rerun = sorted(job_id for job_id, run in runs.items() if run["attempts"] > 1)
    extra_runs = sum(max(run["attempts"] - 1, 0) for run in runs.values())
    orphaned = sorted(job_id for job_id in runs if "orphaned" in kinds[job_id])
    orphan_events = sum(kinds[job_id].count("orphaned") for job_id in runs)
    no_orphan_event = sorted(job_id for job_id in redelivered if "orphaned" not in kinds[job_id])
    event_counts = Counter(kind for job_id in runs for kind in kinds[job_id])
    messages, delayed = queue_file.messages(), queue_file.delayed()
    task_of = {job_id: (run["args"] or [None])[0] for job_id, run in runs.items()}
    # A run the history does not show: the notification is older than the run the history records,
    # so an earlier delivery ran the job in a consumer that was killed before writing its events.
    unrecorded_run = sorted(
        job_id
        for job_id, run in runs.items()
        if run["started_at"] and task_of[job_id] in notified_at and notified_at[task_of[job_id]] < run["started_at"]
    )
    # Acked before the history was written: the message left the queue while the job's history
    # still said pending/running (settled by `recovered` if pending, never if running).
    in_queue = queue_file.job_ids()
    acked_early = sorted(
        job_id
        for job_id, run in runs.items()
        if "recovered" in kinds[job_id] or (run["state"] not in FINAL and job_id not in in_queue)
    )
    held_done = 0  # held messages whose job had already run (notified) when its consumer was killed
    for kill in kills:
        killed_at = datetime.datetime.fromtimestamp(kill.at, datetime.UTC)
        held_done += sum(
            1 for job_id in kill.held if job_id in task_of and notified_at.get(task_of[job_id], killed_at) < killed_at
        )
    staff_told = Counter(
        Notification.objects.filter(kind=Notification.Kind.JOB_FAILED).values_list("dedup_key", flat=True)
    )
    other_runs = Counter(JobRun.objects.exclude(name=JOB).values_list("name", "state"))
    kill_count = len(kills)
    per_kill = extra_deliveries / kill_count if kill_count else 0.0
    held = [len(kill.held) for kill in kills]

    print(f"jobs: {args.jobs} task_assigned_notify ({len(runs)} JobRuns), {args.per_transaction} per transaction")
    print(f"kills done: {kill_count} of {args.kills} (seed {args.seed}); consumers started: {stack.started}")
    if held:
        print(
            f"  messages held by the consumer at each kill: total {sum(held)}, "
            f"mean {sum(held) / len(held):.1f}, max {max(held)}, of which {held_done} had already run (not yet acked); "
            f"consumer alive for mean {sum(k.alive_for for k in kills) / kill_count:.2f}s before its kill"
        )
    print(
        f"time: setup {timings['setup']:.1f}s (enqueue {timings['enqueue']:.1f}s), "
        f"kill phase {timings['kills']:.1f}s, final drain {timings['drain']:.1f}s ({drain_end}), "
        f"total {timings['total']:.1f}s"
    )
    print(
        f"lost jobs: {len(missing)} tasks without a notification, {len(duplicated)} with more than one, "
        f"{len(not_one_run)} without exactly one JobRun; {len(not_final)} JobRuns not in a final state "
        f"({dict(Counter(runs[j]['state'] for j in not_final))})"
    )
    print(f"duplicate notifications: {sum(n - 1 for n in notified.values() if n > 1)}")
    print(
        f"extra deliveries: {len(redelivered)} JobRuns with deliveries > 1, {extra_deliveries} extra deliveries "
        f"over {kill_count} kills = {per_kill:.2f} per kill (target <= 1)"
    )
    print(
        f"extra runs: {len(rerun)} JobRuns with attempts > 1 ({extra_runs} extra); {len(unrecorded_run)} JobRuns "
        "ran before the run their history records (notification older than the recorded started_at: an "
        "earlier run is missing from the history)"
    )
    print(
        f"acked before history: {len(acked_early)} JobRuns whose message left the queue while their history "
        f"was not final ({sum('recovered' in kinds[j] for j in acked_early)} later `recovered`, "
        f"{sum(runs[j]['state'] not in FINAL for j in acked_early)} still not final)"
    )
    print(
        f"orphaned: {len(orphaned)} JobRuns with an `orphaned` event ({orphan_events} events); "
        f"{len(no_orphan_event)} JobRuns with deliveries > 1 but no `orphaned` event"
    )
    print(f"event kinds: {dict(sorted(event_counts.items()))}")
    print(f"failed JobRuns: {len(failed)}")
    for error, count in Counter(runs[j]["error"][:200] for j in failed).most_common(5):
        print(f"  {count} x {error}")
    print(f"messages left in the queue: {messages} (delayed: {delayed})")
    print(
        f"staff job-failed notifications: {sum(staff_told.values())} ({sum(n - 1 for n in staff_told.values())} "
        f"duplicates); emails: {Email.objects.count()} (this job sends none)"
    )
    if other_runs:
        print(f"other JobRuns (periodic jobs): {dict(other_runs)}")

    shapes, examples = scan_logs(stack.logs)
    print(f"consumer log lines at WARNING or above, by shape: {sum(shapes.values())}")
    for shape, count in shapes.most_common(8):
        print(f"  {count} x {shape}")
        for example in examples[shape]:
            print(f"      {example}")

    checks = {
        "0 jobs lost (one notification per task)": not missing and not not_one_run,
        "every job's history in a final state": not not_final and len(runs) == args.jobs,
        "no job failed": not failed,
        "no duplicate notification": not duplicated,
        f"<= 1 extra delivery per kill ({per_kill:.2f})": per_kill <= 1,
        "queue empty": not messages and not delayed,
        f"{args.kills} kills done": kill_count == args.kills,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    passed = all(checks.values())
    print("PASS" if passed else "FAIL", "against the target")

    samples = {
        "not final": not_final,
        "acked before history": acked_early,
        "failed": failed,
        "deliveries > 1 without `orphaned` event": no_orphan_event,
        "ran more than once": rerun,
        "most deliveries": sorted(redelivered, key=lambda j: -runs[j]["deliveries"]),
    }
    for label, job_ids in samples.items():
        if not job_ids:
            continue
        print(f"sample, {label} ({len(job_ids)}):")
        for job_id in job_ids[:SAMPLES]:
            run = runs[job_id]
            print(
                f"  {job_id} task {task_of[job_id]} state={run['state']} deliveries={run['deliveries']} "
                f"attempts={run['attempts']} notifications={notified[task_of[job_id]]}: {' > '.join(kinds[job_id])}"
            )
    if missing:
        print(f"sample, tasks without notification: {missing[:SAMPLES]}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-sleep", type=float, default=0.1, help="seconds after a consumer registers")
    parser.add_argument("--max-sleep", type=float, default=0.6)
    parser.add_argument("--per-transaction", type=int, default=100, help="jobs enqueued per transaction")
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--stall", type=float, default=60, help="end the drain when nothing changes this long")
    parser.add_argument("--log-level", default="WARNING", help="the consumers' LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR (logs, databases)")
    args = parser.parse_args()

    total_start = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix="kill-soak-"))
    stack = Stack(data_dir, args.log_level)
    queue_file = None
    timings: dict[str, float] = {}
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        setup_django(stack)
        timings["enqueue"] = create_jobs(args.jobs, args.per_transaction)
        from django.db import connection

        connection.close()
        queue_file = QueueFile(data_dir / "huey.sqlite3")
        if queue_file.messages() != args.jobs:
            raise RuntimeError(f"{queue_file.messages()} messages queued for {args.jobs} jobs")
        timings["setup"] = time.monotonic() - total_start

        rng = random.Random(args.seed)
        kills: list[Kill] = []
        phase = time.monotonic()
        while len(kills) < args.kills and queue_file.messages():
            proc = stack.start_consumer()
            started = time.monotonic()
            wait_registered(stack, queue_file, proc)
            time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
            if proc.poll() is not None:
                raise RuntimeError(f"consumer {proc.pid} exited by itself with {proc.returncode}")
            stack.kill_consumer()
            killed_at = time.time()
            held = queue_file.held_by(proc.pid)
            kills.append(Kill(proc.pid, time.monotonic() - started, killed_at, held, queue_file.messages()))
        timings["kills"] = time.monotonic() - phase

        phase = time.monotonic()
        stack.start_consumer()
        drain_end = drain(stack, queue_file, args.jobs, args.drain_timeout, args.stall)
        code = stack.stop_consumer()
        drain_end += f"; SIGTERM exit code {code}"
        timings["drain"] = time.monotonic() - phase
        timings["total"] = time.monotonic() - total_start
        passed = report(args, stack, queue_file, kills, timings, drain_end)
        return 0 if passed else 1
    finally:
        if stack.consumer is not None:
            stack.consumer.kill()
            stack.consumer.wait()
            stack._reap(None)
        if queue_file is not None:
            queue_file.close()
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
