"""Flood: one user's attack list beside a second user's report and "email me this task" (issue 19).

    .venv/bin/python bench/flood.py [--tasks 2000] [--web-workers 2] [--flood-threads 16] [--bob-delay 1]
    .venv/bin/python -m tests.postgres_server -- .venv/bin/python bench/flood.py   # on PostgreSQL

The stack is `tests/live_stack.py`'s, started as bench/stress.py starts it: a temporary DATA_DIR,
gunicorn with `--web-workers` processes of 4 threads and one `manage.py run_huey` with its default
workers (the sum of HUEY_LANES), on SQLite, or in a database of its own when DATABASE_URL names a
PostgreSQL server. The protections measured keep their defaults (API_TOKEN_RATE,
FILE_JOBS_PER_PERSON, MAIL_SENDER_RATE, EMAIL_RATE_LIMIT_PER_MINUTE, IMPORT_MAX_COLUMNS).

Users: "mallory", the flooder, who holds `tasks_app.change_task` (only its holders see someone
else's task, so only they can complete it), and "bob"; `--tasks` tasks each, created over past
days, so that reports have real work; and one more task of bob's, the one mallory completes.

Mallory's attack list: first an import of a CSV whose header has `--columns` columns (sent first,
so that the per-person limit on files leaves it a place), then, from `--flood-threads` threads at
once in a shuffled order: `--reports` reports (PDF, the longest to build, each from a different
first day to today), `--exports` exports and `--cycles` cycles on bob's task (complete, then PATCH
its status back to "todo"). `--bob-delay` s into the flood, bob asks at once for a report (PDF,
all his tasks) and for "email me this task" on the task mallory is completing.

Printed: per request kind, its count by status; bob's report and mail jobs from request to started
and to finished (from /api/jobs/; "mail within 5 s" is read as sent: its job finished); the hostile
import's job from started to finished, and its error; the emails bob got by kind and the files in
DATA_DIR/mail; the most files mallory had waiting or running at once (from the rows' created_at and
finished_at); the report builds in the order they started; the email_send jobs by result (False:
nothing left to send); /healthz, sampled each second from the flood's start until every job has
finished; the log lines with a Traceback, ERROR or "database is locked"; then the issue's targets as
PASS/FAIL lines. It exits 1 when a target fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.timed_request import Sample, timed_request  # noqa: E402
from tests.live_stack import LiveStack  # noqa: E402

STACK_ENV = {"HUEY_WORKERS": ""}  # the settings' default: the sum of the lanes, as `make run` starts it
TASKS_PER_DAY = 100  # seeded tasks' created_at: this many a day, going back from yesterday
FINISHED = {"succeeded", "failed", "revoked", "expired"}
LOG_PROBLEMS = re.compile(r"database is locked|Traceback|\bERROR\b|\bCRITICAL\b")
# The targets.
BOB_REPORT_START_S = 5.0
BOB_MAIL_S = 5.0
HOSTILE_IMPORT_S = 0.1

SETUP = """
import datetime, json
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from tasks_app.models import Task
from tasks_app.services.user_stats import user_stats_refresh
now, tokens, statuses = timezone.now(), {{}}, ["todo", "in_progress", "done"]
for name in ("mallory", "bob"):
    user = get_user_model().objects.create_user(name, f"{{name}}@example.com", "a-long-password")
    tokens[name] = Token.objects.create(user=user).key
    rows = [
        Task(title=f"{{name}} seeded {{n}}", description="seeded for the flood bench", owner=user, created_by=user,
             status=statuses[n % 3], completed_at=now if n % 3 == 2 else None)
        for n in range({tasks})
    ]
    ids = [task.pk for task in Task.objects.bulk_create(rows, batch_size=500)]
    for day, start in enumerate(range(0, len(ids), {per_day}), 1):
        noon = datetime.datetime.combine(timezone.localdate() - datetime.timedelta(days=day), datetime.time(12))
        Task.objects.filter(pk__in=ids[start:start + {per_day}]).update(created_at=timezone.make_aware(noon))
mallory, bob = (get_user_model().objects.get(username=name) for name in ("mallory", "bob"))
mallory.user_permissions.add(Permission.objects.get(content_type__app_label="tasks_app", codename="change_task"))
target = Task.objects.create(title="bob's task that mallory completes", owner=bob, created_by=bob)
for user in (mallory, bob):
    user_stats_refresh(user)
print(json.dumps({{"tokens": tokens, "task_id": target.pk, "today": timezone.localdate().isoformat()}}))
"""
UNFINISHED_JOBS = """
from tasks_app.models import JobRun
print(JobRun.objects.exclude(state__in=JobRun.FINISHED_STATES).count())
"""
FACTS = """
import json
from collections import Counter
from tasks_app.models import Email, JobRun, Report, TaskImport, WorkspaceExport
files = [
    (row.created_at.timestamp(), row.finished_at.timestamp() if row.finished_at else float("inf"))
    for model in (Report, TaskImport, WorkspaceExport)
    for row in model.objects.filter(owner__username="mallory")
]
emails = Email.objects.filter(user__username="bob").values_list("kind", "status")
runs = {run.pk: run for run in JobRun.objects.filter(name__endswith=".report_build", started_at__isnull=False)}
builds = sorted(
    (runs[report.job_id].started_at.timestamp(), report.owner.username, report.format, runs[report.job_id].duration)
    for report in Report.objects.select_related("owner")
    if report.job_id in runs
)
jobs = JobRun.objects.values_list("name", "state")
sends = JobRun.objects.filter(name__endswith=".email_send", finished_at__isnull=False)
print(json.dumps({
    "mallory_files": files,
    "report_builds": builds,
    "bob_emails": Counter(f"{kind} {status}" for kind, status in emails),
    "jobs": Counter(f"{name.rsplit('.', 1)[-1]} {state}" for name, state in jobs),
    "email_sends": Counter(sends.values_list("result_summary", flat=True)),
    "last_send": max((run.finished_at.timestamp() for run in sends), default=None),
}))
"""


@dataclass
class Api:
    """One user's requests, each on a fresh connection, recorded as Samples."""

    url: str
    token: str
    samples: list[Sample] = field(default_factory=list)

    def call(self, kind: str, method: str, path: str, body: bytes | None = None, content_type: str = "") -> tuple:
        """One request; returns (status, decoded JSON body or {})."""
        sample, data = timed_request(self.url, self.token, kind, method, path, body, content_type, timeout=60)
        self.samples.append(sample)
        return sample.status, (json.loads(data) if data[:1] == b"{" else {})

    def send_json(self, kind: str, method: str, path: str, payload: dict) -> tuple:
        return self.call(kind, method, path, json.dumps(payload).encode(), "application/json")

    def upload(self, kind: str, path: str, text: str) -> tuple:
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tasks.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--\r\n"
        ).encode()
        return self.call(kind, "POST", path, body, f"multipart/form-data; boundary={boundary}")

    def follow_job(self, job_id: str, give_up: float) -> dict:
        """Poll /api/jobs/<job_id>/ until the job has finished (or give_up, a time.monotonic()); its last row."""
        row: dict = {}
        while job_id and time.monotonic() < give_up:
            status, row = self.call("poll", "GET", f"/api/jobs/{job_id}/")
            if status == 200 and row["state"] in FINISHED:
                break
            time.sleep(0.2)
        return row


def timestamp(stamp: str | None) -> float | None:
    return datetime.datetime.fromisoformat(stamp).timestamp() if stamp else None


def complete_and_reopen(api: Api, task_id: int) -> None:
    api.send_json("complete", "POST", f"/api/tasks/{task_id}/complete/", {})
    api.send_json("reopen", "PATCH", f"/api/tasks/{task_id}/", {"status": "todo"})


def hostile_csv(columns: int) -> str:
    """A header of `columns` names (title first), and one row."""
    return ",".join(["title", *(f"column{n}" for n in range(1, columns))]) + "\na task\n"


def flood(mallory: Api, args: argparse.Namespace, task_id: int, today: datetime.date) -> tuple[int, dict]:
    """Mallory's attack list; returns the hostile import's answer (status, body)."""
    hostile = mallory.upload("import", "/api/imports/", hostile_csv(args.columns))
    seeded_days = -(-args.tasks // TASKS_PER_DAY)
    reports = [
        {
            "format": "pdf",  # the longest to build: the worst wait for everyone else
            "date_from": (today - datetime.timedelta(days=seeded_days + k)).isoformat(),
            "date_to": today.isoformat(),
        }
        for k in range(args.reports)
    ]
    attacks = [partial(mallory.send_json, "report", "POST", "/api/reports/", report) for report in reports]
    attacks += [partial(mallory.send_json, "export", "POST", "/api/exports/", {})] * args.exports
    attacks += [partial(complete_and_reopen, mallory, task_id)] * args.cycles
    random.Random(args.seed).shuffle(attacks)
    with ThreadPoolExecutor(args.flood_threads) as pool:
        for attack in [pool.submit(attack) for attack in attacks]:
            attack.result()
    return hostile


@dataclass
class BobsAsk:
    """One of bob's requests: when it was sent (time.time()), its answer, its job as last seen."""

    requested_at: float = 0.0
    status: int = 0
    job_id: str = ""
    job: dict = field(default_factory=dict)

    def seconds_to(self, moment: str) -> float | None:
        """From the request to the job's `moment` ("started_at", "finished_at"); None if it has none."""
        at = timestamp(self.job.get(moment))
        return None if at is None else at - self.requested_at


def bob_asks(bob: Api, ask: BobsAsk, kind: str, path: str, payload: dict) -> None:
    ask.requested_at = time.time()
    ask.status, body = bob.send_json(kind, "POST", path, payload)
    ask.job_id = body.get("job_id", "")


def sample_health(health: Api, stop: threading.Event) -> None:
    """GET /healthz once a second until `stop`."""
    while not stop.wait(1):
        health.call("healthz", "GET", "/healthz")


@dataclass
class Outcome:
    mallory: Api
    bob: Api
    health: Api
    flood_started_at: float  # time.time()
    flood_seconds: float  # to send mallory's attack list
    report: BobsAsk
    mail: BobsAsk
    hostile_status: int
    hostile_job: dict  # from /api/jobs/
    hostile_import: dict  # from /api/imports/<id>/
    unfinished: int  # jobs not finished when the wait for them ended
    facts: dict  # from the database: FACTS
    mail_files: int
    log_problems: list[str]

    @property
    def hostile_seconds(self) -> float | None:
        """The hostile import's job, from started to finished."""
        started, finished = (timestamp(self.hostile_job.get(moment)) for moment in ("started_at", "finished_at"))
        return finished - started if started and finished else None


def run(stack: LiveStack, args: argparse.Namespace) -> Outcome:
    """Seed, flood, and follow bob's work and the hostile import until every job has finished."""
    setup = json.loads(stack.shell(SETUP.format(tasks=args.tasks, per_day=TASKS_PER_DAY)))
    tokens, task_id = setup["tokens"], setup["task_id"]
    mallory, bob, health = Api(stack.url, tokens["mallory"]), Api(stack.url, tokens["bob"]), Api(stack.url, "")
    logs = {path: path.stat().st_size for path in stack.data_dir.glob("*.log")}
    stop_health = threading.Event()
    sampler = threading.Thread(target=sample_health, args=(health, stop_health))
    report, mail = BobsAsk(), BobsAsk()
    bobs = [
        threading.Timer(args.bob_delay, bob_asks, (bob, report, "bob report", "/api/reports/", {"format": "pdf"})),
        threading.Timer(args.bob_delay, bob_asks, (bob, mail, "bob email", f"/api/tasks/{task_id}/email/", {})),
    ]
    flood_started, flood_started_at = time.monotonic(), time.time()
    for thread in [sampler, *bobs]:
        thread.start()
    hostile_status, hostile = flood(mallory, args, task_id, datetime.date.fromisoformat(setup["today"]))
    flood_seconds = time.monotonic() - flood_started
    for timer in bobs:
        timer.join()
    give_up = time.monotonic() + args.finish_timeout
    for ask in (report, mail):
        ask.job = bob.follow_job(ask.job_id, give_up)
    hostile_job = mallory.follow_job(hostile.get("job_id", ""), give_up)
    hostile_import = mallory.call("poll", "GET", hostile["status_url"])[1] if "status_url" in hostile else {}
    while (unfinished := int(stack.shell(UNFINISHED_JOBS))) and time.monotonic() < give_up:
        time.sleep(1)
    stop_health.set()
    sampler.join()
    log_problems = [
        f"{path.name}: {line}"
        for path, start_size in sorted(logs.items())
        for line in path.read_bytes()[start_size:].decode(errors="replace").splitlines()
        if LOG_PROBLEMS.search(line)
    ]
    return Outcome(
        mallory,
        bob,
        health,
        flood_started_at,
        flood_seconds,
        report,
        mail,
        hostile_status,
        hostile_job,
        hostile_import,
        unfinished,
        json.loads(stack.shell(FACTS)),
        len(list((stack.data_dir / "mail").glob("*"))),
        log_problems,
    )


def most_at_once(spans: list[list[float]]) -> int:
    """The most (start, end) spans open at one moment."""
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    open_now = highest = 0
    for _, change in events:
        open_now += change
        highest = max(highest, open_now)
    return highest


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def targets(outcome: Outcome) -> list[tuple[str, bool]]:
    """The issue's targets: (what, met)."""
    report_started = outcome.report.seconds_to("started_at")
    mail_sent = outcome.mail.seconds_to("finished_at") if outcome.mail.job.get("state") == "succeeded" else None
    hostile_seconds = outcome.hostile_seconds
    health = outcome.health.samples
    return [
        (
            f"bob's report starts within {BOB_REPORT_START_S:g} s of its request",
            report_started is not None and report_started <= BOB_REPORT_START_S,
        ),
        (
            f"bob's mail is sent within {BOB_MAIL_S:g} s of its request",
            mail_sent is not None and mail_sent <= BOB_MAIL_S,
        ),
        (
            f"the hostile CSV is refused within {HOSTILE_IMPORT_S * 1000:g} ms of its job starting",
            outcome.hostile_import.get("status") == "failed"
            and hostile_seconds is not None
            and hostile_seconds <= HOSTILE_IMPORT_S,
        ),
        (f"/healthz 200 in each of its {len(health)} samples", bool(health) and all(s.status == 200 for s in health)),
        (
            "0 5xx (and none unanswered) across mallory's and bob's requests",
            all(0 < s.status < 500 for s in outcome.mallory.samples + outcome.bob.samples),
        ),
    ]


def report(outcome: Outcome, args: argparse.Namespace) -> str:
    """The run's figures, then its targets as PASS/FAIL lines."""
    facts = outcome.facts
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for sample in outcome.mallory.samples + outcome.bob.samples + outcome.health.samples:
        by_kind[sample.kind][sample.status] += 1
    lines = [f"mallory's attack list sent in {outcome.flood_seconds:.1f} s; requests by kind and status:"]
    for kind, statuses in by_kind.items():
        answers = ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(statuses.items()))
        lines.append(f"  {kind:11}{answers}")
    for name, ask in (("bob's report", outcome.report), ("bob's mail", outcome.mail)):
        lines.append(
            f"{name}: answered {ask.status}, job {ask.job.get('state', 'not seen')}"
            f" after {ask.job.get('attempts')} attempts; request to started"
            f" {seconds(ask.seconds_to('started_at'))}, to finished {seconds(ask.seconds_to('finished_at'))}"
        )
    lines.append(
        f"hostile import ({args.columns:,} columns): answered {outcome.hostile_status},"
        f" job {outcome.hostile_job.get('state', 'not seen')}, started to finished {seconds(outcome.hostile_seconds)};"
        f" import {outcome.hostile_import.get('status')}: {outcome.hostile_import.get('error')!r}"
    )
    lines.append(
        f"bob's emails (kind status: count): {facts['bob_emails']}; files in DATA_DIR/mail: {outcome.mail_files}"
    )
    files = facts["mallory_files"]
    lines.append(f"mallory's files: {len(files)} rows, at most {most_at_once(files)} waiting or running at once")
    builds = [f"{owner} {format} {duration or 0:.1f} s" for _, owner, format, duration in facts["report_builds"]]
    lines.append(f"report builds in the order they started: {', '.join(builds)}")
    last_send = facts["last_send"] and facts["last_send"] - outcome.flood_started_at
    lines.append(
        f"email_send jobs by result: {facts['email_sends']}; the last finished {seconds(last_send)} into the flood"
    )
    lines.append(f"jobs: {dict(sorted(facts['jobs'].items()))}; unfinished when the wait ended: {outcome.unfinished}")
    lines.append(f"log lines with a problem: {len(outcome.log_problems)}")
    lines += [f"  {line[:300]}" for line in outcome.log_problems[:10]]
    lines += [f"{'PASS' if met else 'FAIL'}  {what}" for what, met in targets(outcome)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000, help="seeded tasks of each user")
    parser.add_argument("--reports", type=int, default=40, help="mallory's report requests")
    parser.add_argument("--exports", type=int, default=10, help="mallory's export requests")
    parser.add_argument("--cycles", type=int, default=30, help="mallory's complete-and-reopen cycles on bob's task")
    parser.add_argument("--columns", type=int, default=30_000, help="columns of the hostile CSV's header")
    parser.add_argument("--flood-threads", type=int, default=16, help="mallory's requests in flight at once")
    parser.add_argument("--bob-delay", type=float, default=1.0, help="seconds into the flood when bob asks")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes (4 threads each)")
    parser.add_argument("--finish-timeout", type=float, default=150, help="the longest wait for the jobs")
    parser.add_argument("--seed", type=int, default=1, help="of the attack list's order")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        stack = LiveStack(Path(tmp) / "data", **STACK_ENV)
        engine = "PostgreSQL" if stack.database else "SQLite"
        print(f"{time.strftime('%Y-%m-%d %H:%M')}, {engine}, {args.tasks:,} tasks each, gunicorn {args.web_workers}×4")
        try:
            stack.data_dir.mkdir()
            stack.manage("migrate", "--noinput")
            stack.start_web(workers=args.web_workers)
            stack.start_consumer()
            stack.wait_for_consumer()
            outcome = run(stack, args)
        except BaseException as error:
            print(stack.logs(), getattr(error, "stderr", ""), file=sys.stderr, sep="\n")  # a manage.py's own
            raise
        finally:
            stack.stop()
    print(report(outcome, args))
    return 0 if all(met for _, met in targets(outcome)) else 1


if __name__ == "__main__":
    sys.exit(main())
