"""Kill soak: does the leased SQLite queue lose, or visibly duplicate, jobs and their follow-ups when its consumer is SIGKILLed?

    .venv/bin/python bench/kill_soak.py [--jobs 10000] [--kills 50] [--seed 1] [--keep]
        [--pipelines 0.10] [--chords 0.10] [--retries 0.05]

What it measures, against the target "0 jobs lost over 50 SIGKILLs of the consumer while it drains
10,000 jobs; every job's history ends in a final state; <= 2 extra deliveries per kill (the jobs
running at the kill); no visible duplicate, no follow-up enqueued twice, no job run more than its
retries allow":

1. A temporary DATA_DIR (app database and queue), `manage.py migrate` in a subprocess, then, in
   this process (Django set up on the same DATA_DIR), a few users, the `soak_run` table of
   bench/soak_jobs.py, and `--jobs` units of work enqueued as a request does (`queue.enqueue_on_commit`
   or `queue.enqueue_message_on_commit` inside `transaction.atomic()`, the first job's history row
   written in that transaction and its message queued on commit), in a seeded random order. For
   speed, `--per-transaction` units (100) share one transaction. The units:
   - notify (the rest): one `task_assigned_notify` job per task (tasks made with bulk_create), which
     creates one Notification with a dedup key, so a job run twice shows as a second run in its
     history, never as a second row;
   - pipelines (`--pipelines`, a fraction of the units): `soak_step` 1 `.then()` 2 (`.then()` 3 for
     every other one);
   - chords (`--chords`): a group of 3 `soak_member` jobs `.then(soak_callback)`;
   - retries (`--retries`): `soak_flaky` (retries=2, 1 s apart) failing on purpose on its first 1,
     2 or 3 attempts (3: fails for good), with `.error(soak_on_error)`: Huey enqueues that handler
     after each failed attempt.
   Every run of a soak job writes a `soak_run` row: the step it did (its key), its job id, and the
   message it ran from and that message's delivery.
2. The consumer (`manage.py run_huey` with bench/soak_jobs.py registered, HUEY_WORKERS=2) as a
   subprocess. Loop: wait until it has registered in the queue's `consumer` table (so the kill lands
   while it drains, not while Django starts), sleep uniform(0.1, 0.6) s (seeded), SIGKILL it, note
   the messages it held (running, or done and not yet acked), start a new one; until `--kills`
   kills are done or the queue is empty. The next consumer releases the dead one's messages at
   start (`orphaned` + `requeued` events; a done one is deleted once its history is written).
3. A last consumer drains everything: until every expected job has a JobRun in a final state and
   the queue's `message` and `delayed` tables are empty (or `--drain-timeout` s pass, or nothing
   changes for `--stall` s with the queue empty); then SIGTERM.
4. Figures, from the app database and the queue file, each criterion on its own PASS/FAIL line:
   lost work per kind (tasks without exactly one notification; pipelines, chords and flaky jobs
   missing a step's run or their expected end), JobRuns not in a final state, failed JobRuns other
   than the flaky jobs meant to fail for good, duplicate notifications, duplicated follow-ups
   (a step with two JobRuns, or `soak_run` rows of one step from two messages; a chord callback
   given a None or a wrong result), flaky jobs with more than retries + 1 committed runs (their
   `complete` and `error` events), committed runs without their `executing` event, extra
   deliveries per kill (`requeued` events; the running messages each kill left), messages left
   in the queue, `chord:` keys left in the queue's kv and counter tables; then figures without a
   target (runs killed before any of their events was written, messages acked before their
   history, `orphaned` events, staff notifications, warnings in the consumer logs) and, for any
   failure, the history (event kinds in order) of a few of the jobs concerned.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB = "tasks_app.jobs.notifications.task_assigned_notify"
STEP, MEMBER, CALLBACK, FLAKY, ON_ERROR = (
    f"bench.soak_jobs.{name}" for name in ("soak_step", "soak_member", "soak_callback", "soak_flaky", "soak_on_error")
)
# How many leading arguments name the piece of work a JobRun does (a step of which pipeline...).
IDENTIFYING_ARGS = {JOB: 1, STEP: 2, MEMBER: 2, CALLBACK: 1, FLAKY: 1, ON_ERROR: 1}
FINAL = {"succeeded", "failed", "revoked", "expired"}
COMMITTED_RUN = {"complete", "error"}  # a run's outcome events: written only once its done mark committed
CHORD_SIZE = 3
RETRIES = 2  # soak_jobs.RETRIES (not imported: that module needs Django set up)
OWNERS = 20
SAMPLES = 5  # jobs shown per anomaly
MAX_EXTRA_PER_KILL = 2  # HUEY_WORKERS: the jobs a consumer can be running when it is killed


@dataclass
class Kill:
    pid: int
    alive_for: float  # seconds from start to SIGKILL
    at: float  # time.time() of the SIGKILL
    running: list[tuple[int, str]]  # (message id, job id) of the messages it held, not done: they run again
    done: list[str]  # job ids of the messages it held that were done, not yet acked
    left: int  # messages in the queue (ready or claimed) at the kill


@dataclass
class Plan:
    """The units of work to enqueue, in order: (kind, number within its kind)."""

    units: list[tuple[str, int]]
    counts: Counter = field(default_factory=Counter)

    @classmethod
    def mixed(cls, jobs: int, pipelines: float, chords: float, retries: float, rng: random.Random) -> Plan:
        counts = Counter(pipeline=round(jobs * pipelines), chord=round(jobs * chords), retry=round(jobs * retries))
        counts["notify"] = jobs - sum(counts.values())
        if counts["notify"] < 0:
            raise SystemExit("--pipelines + --chords + --retries must not exceed 1")
        kinds = [kind for kind, count in counts.items() for _ in range(count)]
        rng.shuffle(kinds)
        numbers: Counter = Counter()
        units = []
        for kind in kinds:
            units.append((kind, numbers[kind]))
            numbers[kind] += 1
        return cls(units, counts)

    def steps(self, pipeline: int) -> int:
        return 2 + pipeline % 2

    def failures(self, job: int) -> int:
        """Failed attempts of flaky job `job`: 1, 2, or 3 (more than RETRIES: it fails for good)."""
        return 1 + job % 3

    def expected_runs(self) -> Counter:
        """JobRuns per job name once everything ran (a flaky job's handlers share one job id)."""
        return Counter(
            {
                JOB: self.counts["notify"],
                STEP: sum(self.steps(n) for n in range(self.counts["pipeline"])),
                MEMBER: CHORD_SIZE * self.counts["chord"],
                CALLBACK: self.counts["chord"],
                FLAKY: self.counts["retry"],
                ON_ERROR: self.counts["retry"],
            }
        )

    def first_messages(self) -> int:
        """Messages in the queue once everything is enqueued: a chord's members, a pipeline's first step."""
        return (
            self.counts["notify"] + self.counts["pipeline"] + CHORD_SIZE * self.counts["chord"] + self.counts["retry"]
        )


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
        """`manage.py run_huey` with bench/soak_jobs.py registered (Django is set up here by now)."""
        from bench.soak_jobs import CONSUMER

        self.started += 1
        self._log = open(self.logs / f"consumer-{self.started:03d}.log", "wb")  # noqa: SIM115 (closed in _reap)
        self.consumer = subprocess.Popen(
            [sys.executable, "-c", CONSUMER],
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

    def held_by(self, pid: int) -> tuple[list[tuple[int, str]], list[str]]:
        """The messages this consumer holds: (message id, job id) of those not done, job ids of the done ones."""
        rows = self.conn.execute(
            "select id, job_id, done_at is not null from message where claimed_by like ?", (f"%:{pid}:%",)
        ).fetchall()
        running = [(message_id, job_id) for message_id, job_id, done in rows if not done]
        return running, [job_id for _, job_id, done in rows if done]

    def job_ids(self) -> set[str]:
        return {
            job_id for (job_id,) in self.conn.execute("select job_id from message union select job_id from delayed")
        }

    def chord_keys(self) -> tuple[int, int]:
        """Keys Huey's chords left behind: member results (kv) and member counts (counter)."""
        return (
            self.one("select count(*) from kv where key like 'chord:%'"),
            self.one("select count(*) from counter where key like 'chord:%'"),
        )

    def close(self) -> None:
        self.conn.close()


def setup_django(stack: Stack) -> None:
    os.environ.update(stack.env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_jobs(plan: Plan, per_transaction: int) -> float:
    """Users, the soak_run table, tasks for the notify units (bulk, nothing enqueued), then every
    unit of the plan enqueued as a request does; returns the seconds the enqueueing took."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from huey.api import group

    from bench import soak_jobs
    from tasks_app import jobs as app_jobs
    from tasks_app import queue
    from tasks_app.models import Task

    User = get_user_model()
    users = [User(username=f"owner{i}", email=f"owner{i}@example.com", password="!") for i in range(OWNERS)]
    users.append(User(username="staff", email="staff@example.com", password="!", is_staff=True, is_superuser=True))
    User.objects.bulk_create(users)
    soak_jobs.create_run_table()
    owners = list(User.objects.filter(is_staff=False).order_by("pk"))
    Task.objects.bulk_create(
        [Task(title=f"soak task {i}", owner=owners[i % len(owners)]) for i in range(plan.counts["notify"])],
        batch_size=1000,
    )
    task_ids = list(Task.objects.order_by("pk").values_list("pk", flat=True))

    def enqueue(kind: str, n: int) -> None:
        if kind == "notify":
            queue.enqueue_on_commit(app_jobs.task_assigned_notify, task_ids[n])
        elif kind == "pipeline":
            pipeline = soak_jobs.soak_step.s(n, 1)
            for step in range(2, plan.steps(n) + 1):
                pipeline.then(soak_jobs.soak_step, n, step)
            queue.enqueue_message_on_commit(pipeline)
        elif kind == "chord":
            members = [soak_jobs.soak_member.s(n, index) for index in range(CHORD_SIZE)]
            queue.enqueue_message_on_commit(group(members).then(soak_jobs.soak_callback, n))
        else:
            flaky = soak_jobs.soak_flaky.s(n, plan.failures(n)).error(soak_jobs.soak_on_error, n)
            queue.enqueue_message_on_commit(flaky)

    start = time.perf_counter()
    for first in range(0, len(plan.units), per_transaction):
        with transaction.atomic():  # as a request would; several units per transaction for speed
            for kind, n in plan.units[first : first + per_transaction]:
                enqueue(kind, n)
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


def still_to_finish(expected: Counter) -> tuple[int, Counter]:
    """Expected JobRuns not (yet) in a final state, and the soak's JobRuns by state."""
    from django.db import connection

    from tasks_app.models import JobRun

    rows = JobRun.objects.filter(name__in=expected).values_list("name", "state")
    states = Counter(state for _, state in rows)
    final = Counter(name for name, state in rows if state in FINAL)
    connection.close()  # no long-lived connection beside the consumer's
    not_final = sum(count for state, count in states.items() if state not in FINAL)
    return not_final + sum(max(count - final[name], 0) for name, count in expected.items()), states


def drain(stack: Stack, queue_file: QueueFile, expected: Counter, timeout: float, stall: float) -> str:
    """Wait until every expected job is final and the queue empty; returns why the wait ended.

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
        waiting, states = still_to_finish(expected)
        queued = queue_file.messages() + queue_file.delayed()
        now = time.monotonic()
        if not waiting and not queued:
            return f"drained in {now - start:.1f}s{note}"
        key = (tuple(sorted(states.items())), queued)
        if key != last:
            last, last_change = key, now
        if now - start > timeout:
            return f"TIMEOUT after {timeout:.0f}s: {waiting} jobs not final, {queued} messages left{note}"
        if not queued and now - last_change > stall:
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


@dataclass
class SoakRow:
    """One run of a soak job, as it recorded itself in `soak_run`."""

    key: str
    job_id: str
    message_id: int | None
    delivery: int | None
    detail: str
    at: float


def load_soak_rows() -> list[SoakRow]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select key, job_id, message_id, delivery, detail, at from soak_run order by id")
        return [SoakRow(*row) for row in cursor.fetchall()]


def enqueued_twice(rows: list[SoakRow]) -> bool:
    """Runs of one step from two messages: two message ids, or one id twice with the same delivery
    (SQLite gives a new message the id of the last one deleted, when that was the highest)."""
    messages = Counter((row.message_id, row.delivery) for row in rows)
    return len({row.message_id for row in rows}) > 1 or any(count > 1 for count in messages.values())


def lost_work(plan: Plan, rows_by_key: dict[str, list[SoakRow]], runs_by_work: dict, runs: dict) -> dict:
    """Per kind, the units whose work did not all happen as planned (a missing step, a wrong hand-over,
    a flaky job that did not end as meant)."""
    lost: dict[str, list] = defaultdict(list)
    for n in range(plan.counts["pipeline"]):
        steps = plan.steps(n)
        handed = [rows_by_key.get(f"step:{n}:{step}") for step in range(1, steps + 1)]
        wrong_input = any(
            row.detail != f"{n}:{step - 1}" for step, step_rows in enumerate(handed[1:], 2) for row in step_rows or ()
        )
        if not all(handed) or wrong_input:
            lost["pipeline"].append(n)
    for n in range(plan.counts["chord"]):
        keys = [f"member:{n}:{index}" for index in range(CHORD_SIZE)] + [f"callback:{n}"]
        if not all(key in rows_by_key for key in keys):
            lost["chord"].append(n)
    for n in range(plan.counts["retry"]):
        failures = plan.failures(n)
        keys = [f"flaky:{n}:{attempt}" for attempt in range(min(failures, RETRIES) + 1)]
        keys += [f"on-error:{n}:{attempt}" for attempt in range(min(failures, RETRIES + 1))]
        meant = "failed" if failures > RETRIES else "succeeded"
        flaky_runs = runs_by_work[(FLAKY, (n,))]
        if not all(key in rows_by_key for key in keys) or [runs[j]["state"] for j in flaky_runs] != [meant]:
            lost["retry"].append(n)
    return lost


def report(
    args, plan: Plan, stack: Stack, queue_file: QueueFile, kills: list[Kill], timings: dict, drain_end: str
) -> bool:
    from tasks_app.models import Email, JobEvent, JobRun, Notification, Task

    expected = plan.expected_runs()
    runs = {row["id"]: row for row in JobRun.objects.filter(name__in=expected).values()}
    kinds: dict[str, list[str]] = defaultdict(list)
    for job_id, kind in (
        JobEvent.objects.filter(job__name__in=expected).order_by("at", "id").values_list("job_id", "kind")
    ):
        kinds[job_id].append(kind)
    runs_by_work: dict[tuple, list[str]] = defaultdict(list)  # (name, identifying args) -> job ids
    for job_id, run in runs.items():
        runs_by_work[(run["name"], tuple(run["args"][: IDENTIFYING_ARGS[run["name"]]]))].append(job_id)
    runs_per_name = Counter(run["name"] for run in runs.values())
    soak_rows = load_soak_rows()
    rows_by_key: dict[str, list[SoakRow]] = defaultdict(list)
    rows_by_job: dict[str, list[SoakRow]] = defaultdict(list)
    for row in soak_rows:
        rows_by_key[row.key].append(row)
        rows_by_job[row.job_id].append(row)

    # Notify jobs: one notification per task.
    task_ids = set(Task.objects.values_list("pk", flat=True))
    notified: Counter = Counter()
    notified_at = {}  # task id -> when its (first) notification was created
    for data, created_at in Notification.objects.filter(kind=Notification.Kind.TASK_ASSIGNED).values_list(
        "data", "created_at"
    ):
        notified[data.get("task_id")] += 1
        notified_at[data.get("task_id")] = min(created_at, notified_at.get(data.get("task_id"), created_at))
    notify_runs = {job_id: run for job_id, run in runs.items() if run["name"] == JOB}
    runs_per_task = Counter(run["args"][0] for run in notify_runs.values() if run["args"])
    missing = sorted(pk for pk in task_ids if notified[pk] == 0)
    duplicated = sorted(pk for pk in task_ids if notified[pk] > 1)
    not_one_run = sorted(pk for pk in task_ids if runs_per_task[pk] != 1)
    task_of = {job_id: (run["args"] or [None])[0] for job_id, run in notify_runs.items()}
    lost = lost_work(plan, rows_by_key, runs_by_work, runs)

    # Duplicated follow-ups: a piece of work with two job ids, or run from two messages.
    two_jobs = {work: job_ids for work, job_ids in runs_by_work.items() if work[0] != JOB and len(job_ids) > 1}
    two_messages = {key: rows for key, rows in rows_by_key.items() if enqueued_twice(rows)}
    chord_results = {n: rows_by_key[f"callback:{n}"] for n in range(plan.counts["chord"])}
    given_none = sorted(n for n, rows in chord_results.items() if any("None" in row.detail for row in rows))
    given_wrong = sorted(
        n
        for n, rows in chord_results.items()
        if any(row.detail != repr([f"{n}:{index}" for index in range(CHORD_SIZE)]) for row in rows)
    )

    # Retries: a flaky job's committed runs (outcome events) against its retries, and its handlers'.
    flaky_of = {job_ids[0]: work[1][0] for work, job_ids in runs_by_work.items() if work[0] == FLAKY}
    handler_of = {job_ids[0]: work[1][0] for work, job_ids in runs_by_work.items() if work[0] == ON_ERROR}
    committed = {job_id: sum(kind in COMMITTED_RUN for kind in kinds[job_id]) for job_id in runs}
    over_retries = sorted(job_id for job_id in flaky_of if committed[job_id] > RETRIES + 1)
    flaky_miscount = sorted(
        job_id for job_id, n in flaky_of.items() if committed[job_id] != min(plan.failures(n), RETRIES) + 1
    )
    handler_miscount = sorted(
        job_id
        for job_id, n in handler_of.items()
        if committed[job_id] != min(plan.failures(n), RETRIES + 1) or "error" in kinds[job_id]
    )
    flaky_attempts = sum(runs[job_id]["attempts"] for job_id in flaky_of)
    flaky_committed = sum(committed[job_id] for job_id in flaky_of)
    flaky_rows = sum(len(rows_by_job[job_id]) for job_id in flaky_of)
    meant_to_fail = {job_id for job_id, n in flaky_of.items() if plan.failures(n) > RETRIES}

    # Deliveries: the `redelivered` events against the running messages each kill left.
    not_final = sorted(job_id for job_id, run in runs.items() if run["state"] not in FINAL)
    failed = sorted(job_id for job_id, run in runs.items() if run["state"] == "failed")
    unexpected_failed = sorted(set(failed) - meant_to_fail)
    # Each message a dead consumer held unfinished goes back (`requeued`) and is delivered again; the
    # `redelivered` event of that delivery is lost when its consumer is killed before writing it.
    requeues = sum(kinds[job_id].count("requeued") for job_id in runs)
    redeliveries = sum(kinds[job_id].count("redelivered") for job_id in runs)
    extra_deliveries = sum(max(run["deliveries"] - 1, 0) for run in runs.values())
    redelivered = sorted(job_id for job_id in runs if "redelivered" in kinds[job_id])
    rerun = sorted(job_id for job_id, run in runs.items() if run["attempts"] > max(committed[job_id], 1))
    orphaned = sorted(job_id for job_id in runs if "orphaned" in kinds[job_id])
    orphan_events = sum(kinds[job_id].count("orphaned") for job_id in runs)
    no_orphan_event = sorted(job_id for job_id in redelivered if "orphaned" not in kinds[job_id])
    event_counts = Counter(kind for job_id in runs for kind in kinds[job_id])
    messages, delayed = queue_file.messages(), queue_file.delayed()
    chord_kv, chord_counters = queue_file.chord_keys()

    # Runs the history does not show. A committed run (`complete`/`error`) with no `executing` event
    # before it: its consumer died after the done mark, and the events written for it then lack
    # the ones from before the job's body. A run whose work is there (a notification older than
    # the run the history records, more soak_run rows than runs recorded) with no event at all:
    # its consumer died before the done mark and before its `executing` event was written.
    without_executing = sorted(job_id for job_id, run in runs.items() if committed[job_id] > run["attempts"])
    unrecorded_run = sorted(
        job_id
        for job_id, run in notify_runs.items()
        if run["started_at"] and task_of[job_id] in notified_at and notified_at[task_of[job_id]] < run["started_at"]
    ) + sorted(
        job_id
        for job_id, rows in rows_by_job.items()
        if len(rows) > max(runs.get(job_id, {}).get("attempts", 0), committed.get(job_id, 0))
    )
    # Acked before the history was written: the message left the queue while the job's history
    # still said pending/running (settled by `recovered` if pending, never if running).
    in_queue = queue_file.job_ids()
    acked_early = sorted(
        job_id
        for job_id, run in runs.items()
        if "recovered" in kinds[job_id] or (run["state"] not in FINAL and job_id not in in_queue)
    )
    ran_before_kill = 0  # running messages at a kill whose job had already done its work: it runs again
    for kill in kills:
        killed_at = datetime.datetime.fromtimestamp(kill.at, datetime.UTC)
        for message_id, job_id in kill.running:
            if job_id in task_of:
                ran_before_kill += notified_at.get(task_of[job_id], killed_at) < killed_at
            else:
                ran_before_kill += any(
                    row.message_id == message_id and row.at < kill.at for row in rows_by_job.get(job_id, ())
                )
    staff_told = Counter(
        Notification.objects.filter(kind=Notification.Kind.JOB_FAILED).values_list("dedup_key", flat=True)
    )
    other_runs = Counter(JobRun.objects.exclude(name__in=expected).values_list("name", "state"))
    kill_count = len(kills)
    per_kill = requeues / kill_count if kill_count else 0.0
    running_at_kill = [len(kill.running) for kill in kills]
    held = [len(kill.running) + len(kill.done) for kill in kills]

    mix = ", ".join(f"{plan.counts[kind]} {kind}" for kind in ("notify", "pipeline", "chord", "retry"))
    print(f"units of work: {len(plan.units)} ({mix}); {args.per_transaction} per transaction")
    print(
        f"JobRuns: {len(runs)} (expected {sum(expected.values())}); by job: "
        + ", ".join(f"{name.rsplit('.', 1)[-1]} {runs_per_name[name]}/{count}" for name, count in expected.items())
    )
    print(f"kills done: {kill_count} of {args.kills} (seed {args.seed}); consumers started: {stack.started}")
    if held:
        print(
            f"  messages held by the consumer at each kill: total {sum(held)}, mean {sum(held) / len(held):.1f}, "
            f"max {max(held)}; running (they run again): total {sum(running_at_kill)}, max {max(running_at_kill)}, "
            f"of which {ran_before_kill} had already done their work (not yet marked done); done, not yet acked: "
            f"{sum(len(kill.done) for kill in kills)}; consumer alive for mean "
            f"{sum(k.alive_for for k in kills) / kill_count:.2f}s before its kill"
        )
    print(
        f"time: setup {timings['setup']:.1f}s (enqueue {timings['enqueue']:.1f}s), "
        f"kill phase {timings['kills']:.1f}s, final drain {timings['drain']:.1f}s ({drain_end}), "
        f"total {timings['total']:.1f}s"
    )
    print(
        f"lost: notify: {len(missing)} tasks without a notification, {len(duplicated)} with more than one, "
        f"{len(not_one_run)} without exactly one JobRun; pipelines: {len(lost['pipeline'])} of "
        f"{plan.counts['pipeline']} missing a step or handed a wrong result; chords: {len(lost['chord'])} of "
        f"{plan.counts['chord']} missing a member or the callback; flaky: {len(lost['retry'])} of "
        f"{plan.counts['retry']} missing an attempt or a handler, or not ending as meant"
    )
    print(f"not final: {len(not_final)} JobRuns ({dict(Counter(runs[j]['state'] for j in not_final))})")
    print(f"duplicate notifications: {sum(n - 1 for n in notified.values() if n > 1)}")
    print(
        f"duplicated follow-ups: {len(two_jobs)} steps with more than one JobRun "
        f"({dict(Counter(work[0].rsplit('.', 1)[-1] for work in two_jobs))}); {len(two_messages)} steps run from "
        f"more than one message ({dict(Counter(key.split(':')[0] for key in two_messages))}); chord callbacks "
        f"given a None: {len(given_none)}, given other than their members' results: {len(given_wrong)}"
    )
    print(
        f"retries: {len(flaky_of)} flaky jobs (retries={RETRIES}), {flaky_committed} committed runs "
        f"(`complete`/`error` events), {flaky_attempts} attempts (`executing`), {flaky_rows} runs that wrote their "
        f"row; {len(over_retries)} with more than {RETRIES + 1} committed runs, {len(flaky_miscount)} with other "
        f"than the runs meant; {len(handler_miscount)} on_error handlers not run once per failed attempt"
    )
    print(
        f"extra deliveries: {requeues} `requeued` events over {kill_count} kills = {per_kill:.2f} per kill "
        f"(target <= {MAX_EXTRA_PER_KILL}), for {sum(running_at_kill)} messages running at the kills (at most "
        f"{max(running_at_kill, default=0)} at one); {redeliveries} `redelivered` events ({len(redelivered)} "
        f"JobRuns); JobRun.deliveries - 1 summed: {extra_deliveries}"
    )
    print(
        f"extra runs: {len(rerun)} JobRuns with more attempts than committed runs "
        f"({sum(max(runs[j]['attempts'] - max(committed[j], 1), 0) for j in rerun)} extra); {len(unrecorded_run)} "
        "JobRuns whose work ran once more than their history records (a consumer killed before the done mark "
        "and before the run's `executing` event was written)"
    )
    print(
        f"runs without their `executing` event: {len(without_executing)} JobRuns "
        f"({sum(committed[j] - runs[j]['attempts'] for j in without_executing)} committed runs; "
        f"{sum(runs[j]['attempts'] == 0 and runs[j]['state'] in FINAL for j in without_executing)} finished with "
        f"attempts 0, {sum(runs[j]['started_at'] is None for j in without_executing)} without started_at), "
        f"{sum('orphaned' in kinds[j] for j in without_executing)} of them orphaned after their done mark"
    )
    print(
        f"acked before history: {len(acked_early)} JobRuns whose message left the queue while their history "
        f"was not final ({sum('recovered' in kinds[j] for j in acked_early)} later `recovered`, "
        f"{sum(runs[j]['state'] not in FINAL for j in acked_early)} still not final)"
    )
    print(
        f"orphaned: {len(orphaned)} JobRuns with an `orphaned` event ({orphan_events} events); "
        f"{len(no_orphan_event)} JobRuns redelivered without an `orphaned` event"
    )
    print(f"event kinds: {dict(sorted(event_counts.items()))}")
    print(f"failed JobRuns: {len(failed)} ({len(meant_to_fail)} flaky jobs meant to fail for good)")
    for error, count in Counter(runs[j]["error"][:200] for j in failed).most_common(5):
        print(f"  {count} x {error}")
    print(f"messages left in the queue: {messages} (delayed: {delayed})")
    print(f"chord keys left in the queue: {chord_kv} results (kv), {chord_counters} counters")
    print(
        f"staff job-failed notifications: {sum(staff_told.values())} for {len(meant_to_fail)} jobs meant to fail "
        f"({sum(n - 1 for n in staff_told.values())} duplicates); emails: {Email.objects.count()} (these jobs send none)"
    )
    if other_runs:
        print(f"other JobRuns (periodic jobs): {dict(other_runs)}")

    shapes, examples = scan_logs(stack.logs)
    print(f"consumer log lines at WARNING or above, by shape: {sum(shapes.values())} (flaky jobs log their failures)")
    for shape, count in shapes.most_common(8):
        print(f"  {count} x {shape}")
        for example in examples[shape]:
            print(f"      {example}")

    checks = {
        "0 notify jobs lost (one notification per task, one JobRun per task)": not missing and not not_one_run,
        f"0 pipelines lost ({plan.counts['pipeline']})": not lost["pipeline"],
        f"0 chords lost ({plan.counts['chord']})": not lost["chord"],
        f"0 flaky jobs lost or ending otherwise than meant ({plan.counts['retry']})": not lost["retry"],
        "every job's history in a final state": not not_final and runs_per_name == expected,
        "no job failed but the flaky ones meant to": not unexpected_failed,
        "no duplicate notification": not duplicated,
        "no follow-up enqueued twice (one JobRun and one message per step)": not two_jobs and not two_messages,
        "no chord callback given a None or a wrong result": not given_none and not given_wrong,
        f"no flaky job with more than retries + 1 = {RETRIES + 1} committed runs": not over_retries,
        "every flaky job and handler ran as often as its failures say": not flaky_miscount and not handler_miscount,
        "every committed run has its `executing` event (JobRun.attempts, started_at)": not without_executing,
        f"<= {MAX_EXTRA_PER_KILL} extra deliveries per kill ({per_kill:.2f}; max running at a kill "
        f"{max(running_at_kill, default=0)})": per_kill <= MAX_EXTRA_PER_KILL
        and max(running_at_kill, default=0) <= MAX_EXTRA_PER_KILL,
        "queue empty": not messages and not delayed,
        "no chord: keys left in the queue's kv and counter tables": not chord_kv and not chord_counters,
        f"{args.kills} kills done": kill_count == args.kills,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    passed = all(checks.values())
    print("PASS" if passed else "FAIL", "against the target")

    def work_of(job_id: str) -> str:
        run = runs[job_id]
        return f"{run['name'].rsplit('.', 1)[-1]}{tuple(run['args'][: IDENTIFYING_ARGS[run['name']]])}"

    samples = {
        "not final": not_final,
        "acked before history": acked_early,
        "failed, not meant to": unexpected_failed,
        "more committed runs than retries allow": over_retries,
        "flaky, other than the runs meant": flaky_miscount,
        "on_error handler, other than once per failed attempt": handler_miscount,
        "step with more than one JobRun": [job_id for job_ids in two_jobs.values() for job_id in job_ids],
        "step run from more than one message": sorted({row.job_id for rows in two_messages.values() for row in rows}),
        "committed runs without `executing` event": without_executing,
        "redelivered without `orphaned` event": no_orphan_event,
        "ran more than once": rerun,
        "most deliveries": sorted(redelivered, key=lambda j: -kinds[j].count("redelivered")),
    }
    for label, job_ids in samples.items():
        if not job_ids:
            continue
        print(f"sample, {label} ({len(job_ids)}):")
        for job_id in job_ids[:SAMPLES]:
            run = runs[job_id]
            done = [f"{row.key}@{row.message_id}/{row.delivery}" for row in rows_by_job.get(job_id, ())]
            print(
                f"  {job_id} {work_of(job_id)} state={run['state']} deliveries={run['deliveries']} "
                f"attempts={run['attempts']} committed={committed[job_id]} "
                f"{f'notifications={notified[task_of[job_id]]}' if job_id in task_of else f'runs={done}'}: "
                f"{' > '.join(kinds[job_id])}"
            )
    for kind, units in lost.items():
        if units:
            print(f"sample, {kind} units lost: {units[:SAMPLES]}")
    for n in (given_none + given_wrong)[:SAMPLES]:
        print(f"sample, chord {n} callback given: {[row.detail for row in chord_results[n]]}")
    if missing:
        print(f"sample, tasks without notification: {missing[:SAMPLES]}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000, help="units of work (a pipeline or a chord is one)")
    parser.add_argument("--pipelines", type=float, default=0.10, help="fraction of the units that are pipelines")
    parser.add_argument("--chords", type=float, default=0.10, help="fraction that are chords of 3")
    parser.add_argument("--retries", type=float, default=0.05, help="fraction that are flaky jobs with retries")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-sleep", type=float, default=0.1, help="seconds after a consumer registers")
    parser.add_argument("--max-sleep", type=float, default=0.6)
    parser.add_argument("--per-transaction", type=int, default=100, help="units enqueued per transaction")
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--stall", type=float, default=60, help="end the drain when nothing changes this long")
    parser.add_argument("--log-level", default="WARNING", help="the consumers' LOG_LEVEL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DATA_DIR (logs, databases)")
    args = parser.parse_args()

    total_start = time.monotonic()
    rng = random.Random(args.seed)
    plan = Plan.mixed(args.jobs, args.pipelines, args.chords, args.retries, rng)
    data_dir = Path(tempfile.mkdtemp(prefix="kill-soak-"))
    stack = Stack(data_dir, args.log_level)
    queue_file = None
    timings: dict[str, float] = {}
    try:
        stack.manage("migrate", "--no-input", "-v", "0")
        setup_django(stack)
        timings["enqueue"] = create_jobs(plan, args.per_transaction)
        from django.db import connection

        connection.close()
        queue_file = QueueFile(data_dir / "huey.sqlite3")
        if queue_file.messages() != plan.first_messages():
            raise RuntimeError(f"{queue_file.messages()} messages queued, {plan.first_messages()} expected")
        timings["setup"] = time.monotonic() - total_start

        kills: list[Kill] = []
        phase = time.monotonic()
        while len(kills) < args.kills and queue_file.messages() + queue_file.delayed():
            proc = stack.start_consumer()
            started = time.monotonic()
            wait_registered(stack, queue_file, proc)
            time.sleep(rng.uniform(args.min_sleep, args.max_sleep))
            if proc.poll() is not None:
                raise RuntimeError(f"consumer {proc.pid} exited by itself with {proc.returncode}")
            stack.kill_consumer()
            killed_at = time.time()
            running, done = queue_file.held_by(proc.pid)
            kills.append(Kill(proc.pid, time.monotonic() - started, killed_at, running, done, queue_file.messages()))
        timings["kills"] = time.monotonic() - phase

        phase = time.monotonic()
        stack.start_consumer()
        drain_end = drain(stack, queue_file, plan.expected_runs(), args.drain_timeout, args.stall)
        code = stack.stop_consumer()
        drain_end += f"; SIGTERM exit code {code}"
        timings["drain"] = time.monotonic() - phase
        timings["total"] = time.monotonic() - total_start
        passed = report(args, plan, stack, queue_file, kills, timings, drain_end)
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
