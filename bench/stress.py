"""Concurrency stress: API clients against a live stack while its reports and imports run.

    .venv/bin/python bench/stress.py [--clients 16] [--seconds 60] [--web-workers 4] [--seed 1]
    .venv/bin/python -m tests.postgres_server -- .venv/bin/python bench/stress.py   # on PostgreSQL

The stack is `tests/live_stack.py`'s: a temporary DATA_DIR, gunicorn with `--web-workers`
processes of 4 threads and one `manage.py run_huey` (its default 6 workers in their lanes), on
SQLite, or in a database of its own when DATABASE_URL names a PostgreSQL server. Its API
throttle (`API_TOKEN_RATE`) and e-mail rate limit are set far above what the clients reach, so
neither holds a request or a job back.

Each client is a thread with a user and token of its own and a fresh connection per request
(`http.client`). It asks for a report and uploads an import, then, until the time is up, loops: create a task (random priority and due date),
complete one of its open tasks half the time, list tasks with one of a few filters; now and then
read `/api/me/` or its unread notifications, ask for a report (CSV, XLSX or PDF) or upload a CSV
import (IMPORT_ROWS good rows and one bad one), at most one of each waiting at a time, polled on
each loop and downloaded (reports) once done. Then each client waits for its reports and imports,
the run waits for every job in the history to finish, and the checks are made:

- every response 2xx (none 5xx, none lost), measured per kind: requests/s, p50/p95/p99 latency;
- no "database is locked", Traceback, ERROR or CRITICAL line in what the web server's and the
  consumer's logs gained from the first request on (before it, /healthz may log its 503 until the
  consumer's first heartbeat);
- every report and import succeeded (an import: IMPORT_ROWS created, its bad row refused by line);
- every job in the history succeeded, each run once (attempts and deliveries 1);
- per user, from the database: tasks = created through the API + rows imported; done = completed;
  `/api/me/`'s task_stats say the same; no `task_assigned` notification and no `task_completed`
  e-mail (each client creates and completes its own tasks, which tells no one), one notification
  per report and per import, and as many notification jobs as those.

It exits 1 if a check fails. `tests/integration/test_stress.py` runs it for a few seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.timed_request import Sample, timed_request  # noqa: E402
from tests.live_stack import LiveStack, wait_for  # noqa: E402

STACK_ENV = {
    "API_TOKEN_RATE": "1000000/minute",
    "EMAIL_RATE_LIMIT_PER_MINUTE": "1000000",
    "MAIL_SENDER_PER_MINUTE": "1000000",
}
LOG_PROBLEMS = re.compile(r"database is locked|Traceback|\bERROR\b|\bCRITICAL\b")
IMPORT_ROWS = 10  # good rows per imported file; each file has one bad row too
LISTS = [
    "/api/tasks/?status=todo&ordering=-created_at&page_size=20",
    "/api/tasks/?mine=true&priority=high",
    "/api/tasks/?overdue=true&ordering=due_date",
    "/api/tasks/?status=done&page_size=50",
    "/api/tasks/?search=task&page=1",
]

CREATE_USERS = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
tokens = {{}}
for n in range({count}):
    user = get_user_model().objects.create_user(f"stress{{n}}", f"stress{{n}}@example.com", "a-long-password")
    tokens[user.username] = Token.objects.create(user=user).key
print(json.dumps(tokens))
"""
UNFINISHED_JOBS = """
from tasks_app.models import JobRun
print(JobRun.objects.exclude(state__in=JobRun.FINISHED_STATES).count())
"""
COUNTS = """
import json
from collections import Counter
from django.contrib.auth import get_user_model
from django.db.models import F
from tasks_app.models import Email, JobRun, Notification, Task, UserTaskStats
users = {}
stats_rows = {
    row["user__username"]: {**row, "counted_on": str(row["counted_on"]), "updated_at": str(row["updated_at"])}
    for row in UserTaskStats.objects.filter(user__username__startswith="stress").values(
        "user__username", "open", "done", "counted_on", "version", "updated_at"
    )
}
for user in get_user_model().objects.filter(username__startswith="stress"):
    notices = Counter(Notification.objects.filter(user=user).values_list("kind", flat=True))
    users[user.username] = {
        "tasks": Task.objects.filter(owner=user).count(),
        "done": Task.objects.filter(owner=user, status=Task.Status.DONE).count(),
        "task_assigned": notices["task_assigned"],
        "report_ready": notices["report_ready"],
        "import_done": notices["import_done"],
        "completed_emails_sent": Email.objects.filter(user=user, kind="task_completed", status="sent").count(),
    }
runs = JobRun.objects.all()
print(json.dumps({
    "users": users,
    "stats_rows": stats_rows,  # to tell why /api/me/ disagreed, if it did
    "jobs": Counter(f"{name.rsplit('.', 1)[-1]} {state}" for name, state in runs.values_list("name", "state")),
    "rerun": runs.exclude(attempts=1, deliveries=1).count(),
}))
"""


def stack_for(data_dir: Path) -> LiveStack:
    """The stress run's stack (not started): its throttle and e-mail limit out of the way."""
    return LiveStack(data_dir, **STACK_ENV)


def start(stack: LiveStack, web_workers: int) -> None:
    stack.data_dir.mkdir()
    stack.manage("migrate", "--noinput")
    stack.start_web(workers=web_workers)
    stack.start_consumer()
    stack.wait_for_consumer()


@dataclass
class Client:
    """One API user's loop; its tallies are what the database must show afterwards."""

    url: str
    username: str
    token: str
    seed: int
    samples: list[Sample] = field(default_factory=list)
    open_tasks: list[int] = field(default_factory=list)
    created: int = 0
    completed: int = 0
    imported: int = 0
    reports: int = 0
    imports: int = 0
    waiting: dict[str, str] = field(default_factory=dict)  # kind ("report", "import") -> its status_url
    refused: list[str] = field(default_factory=list)  # responses not 2xx
    problems: list[str] = field(default_factory=list)  # reports and imports that did not end as they should

    def call(self, kind: str, method: str, path: str, body: bytes | None = None, content_type: str = "") -> tuple:
        """One request on a fresh connection; returns (status, body), recorded as a Sample."""
        sample, data = timed_request(self.url, self.token, kind, method, path, body, content_type, timeout=30)
        self.samples.append(sample)
        status = sample.status
        if not 200 <= status < 300:
            self.refused.append(f"{method} {path}: {status} {data[:200]!r}")
            return status, {}
        is_json = data[:1] in (b"{", b"[")
        return status, (json.loads(data) if is_json else data)

    def post_json(self, kind: str, path: str, payload: dict) -> tuple:
        return self.call(kind, "POST", path, json.dumps(payload).encode(), "application/json")

    def run(self, deadline: float, finish_timeout: float) -> None:
        rng = random.Random(self.seed)
        self.request_report(rng)  # jobs run from the start
        self.upload()
        while time.monotonic() < deadline:
            self.step(rng)
        wait_until = time.monotonic() + finish_timeout
        while self.waiting and time.monotonic() < wait_until:
            self.poll()
            time.sleep(0.2)
        self.problems += [f"{kind} still not finished: {url}" for kind, url in self.waiting.items()]

    def step(self, rng: random.Random) -> None:
        due = rng.choice([None, datetime.date.today() + datetime.timedelta(days=rng.randint(-5, 10))])
        payload = {"title": f"{self.username} task {self.created}", "priority": rng.choice(["low", "normal", "high"])}
        status, task = self.post_json("create", "/api/tasks/", {**payload, "due_date": due and due.isoformat()})
        if status == 201:
            self.created += 1
            self.open_tasks.append(task["id"])
        if self.open_tasks and rng.random() < 0.5:
            task_id = self.open_tasks.pop(rng.randrange(len(self.open_tasks)))
            if self.post_json("complete", f"/api/tasks/{task_id}/complete/", {})[0] == 200:
                self.completed += 1
        self.call("list", "GET", rng.choice(LISTS))
        roll = rng.random()
        if roll < 0.05:
            self.call("me", "GET", "/api/me/")
        elif roll < 0.10:
            self.call("notifications", "GET", "/api/notifications/?unread=true")
        elif roll < 0.15 and "report" not in self.waiting:
            self.request_report(rng)
        elif roll < 0.20 and "import" not in self.waiting:
            self.upload()
        self.poll()

    def request_report(self, rng: random.Random) -> None:
        status, started = self.post_json("report", "/api/reports/", {"format": rng.choice(["csv", "xlsx", "pdf"])})
        if status == 202:
            self.reports += 1
            self.waiting["report"] = started["status_url"]

    def upload(self) -> None:
        rows = [
            f"{self.username} imported {self.imports}-{n},from a file,todo,low,2030-01-01" for n in range(IMPORT_ROWS)
        ]
        text = "title,description,status,priority,due_date\n" + "\n".join([*rows, "bad row,,todo,urgent,"]) + "\n"
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tasks.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{text}\r\n--{boundary}--\r\n"
        ).encode()
        status, started = self.call(
            "import", "POST", "/api/imports/", body, f"multipart/form-data; boundary={boundary}"
        )
        if status == 202:
            self.imports += 1
            self.waiting["import"] = started["status_url"]

    def poll(self) -> None:
        """Look at each waiting report or import once; download a built report, check an import's counts."""
        for kind, url in list(self.waiting.items()):
            status, row = self.call("poll", "GET", url)
            if status != 200 or row["status"] in ("pending", "running"):
                continue
            del self.waiting[kind]
            if row["status"] != "succeeded":
                self.problems.append(f"{kind} {url} ended {row['status']}: {row['error']}")
            elif kind == "report":
                status, content = self.call("download", "GET", row["download_url"])
                if status == 200 and not content:
                    self.problems.append(f"report {url}: an empty download")
            else:
                self.imported += row["created"]
                line = IMPORT_ROWS + 2  # the header is line 1
                if (row["created"], row["failed"], [e["line"] for e in row["errors"]]) != (IMPORT_ROWS, 1, [line]):
                    self.problems.append(f"import {url}: created {row['created']}, errors {row['errors']}")


@dataclass(repr=False)
class Outcome:
    clients: list[Client]
    started: float  # time.monotonic() of the load's start
    seconds: float  # of the load; the clients' waits for their reports and imports come after
    counts: dict  # from the database, once every job finished
    log_problems: list[str]
    checks: list[tuple[str, bool, str]]  # (what, passed, detail)

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks)


def run(stack: LiveStack, *, clients: int, seconds: float, seed: int = 1, finish_timeout: float = 120) -> Outcome:
    """Drive `stack` (started) with `clients` threads for `seconds`, wait for every job, and check."""
    tokens = json.loads(stack.shell(CREATE_USERS.format(count=clients)))
    logs = {path: path.stat().st_size for path in stack.data_dir.glob("*.log")}  # the start's lines are not read
    team = [Client(stack.url, name, token, seed * 1000 + n) for n, (name, token) in enumerate(tokens.items())]
    started = time.monotonic()
    deadline = started + seconds
    threads = [threading.Thread(target=client.run, args=(deadline, finish_timeout)) for client in team]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = {c.username: c.call("me", "GET", "/api/me/")[1].get("task_stats", {}) for c in team}
    wait_for(lambda: stack.shell(UNFINISHED_JOBS) == "0", timeout=finish_timeout, interval=1, what="every job")
    counts = json.loads(stack.shell(COUNTS))
    log_problems = [
        f"{path.name}: {line}"
        for path, start_size in sorted(logs.items())
        for line in path.read_bytes()[start_size:].decode(errors="replace").splitlines()
        if LOG_PROBLEMS.search(line)
    ]
    return Outcome(team, started, seconds, counts, log_problems, checks(team, counts, stats, log_problems))


def checks(team: list[Client], counts: dict, stats: dict, log_problems: list[str]) -> list[tuple[str, bool, str]]:
    samples = [sample for client in team for sample in client.samples]
    failed = Counter(f"{s.kind} {s.status}" for s in samples if not 200 <= s.status < 300)
    refused = [f"{client.username}: {response}" for client in team for response in client.refused]
    problems = [f"{client.username}: {problem}" for client in team for problem in client.problems]
    jobs = Counter(counts["jobs"])
    not_succeeded = {job: n for job, n in jobs.items() if not job.endswith(" succeeded")}
    wrong_users = []
    for client in team:
        have = counts["users"][client.username]
        expected = {
            "tasks": client.created + client.imported,
            "done": client.completed,
            "task_assigned": 0,  # one's own tasks notify no one
            "report_ready": client.reports,
            "import_done": client.imports,
            "completed_emails_sent": 0,  # one's own completion mails no one
        }
        expected_stats = {"open": have["tasks"] - have["done"], "done": have["done"]}
        seen_stats = {key: stats[client.username].get(key) for key in expected_stats}
        if have != expected:
            wrong_users.append(f"{client.username}: expected {expected}, database {have}")
        if seen_stats != expected_stats:
            row = counts["stats_rows"].get(client.username)
            wrong_users.append(
                f"{client.username}: /api/me/ task_stats {seen_stats}, expected {expected_stats}, row {row}"
            )
    expected_jobs = {
        "task_assigned_notify succeeded": 0,
        "task_completed_notify succeeded": 0,
        "email_send succeeded": 0,
        "report_build succeeded": sum(c.reports for c in team),
        "import_run succeeded": sum(c.imports for c in team),
        "import_notify succeeded": sum(c.imports for c in team),
    }
    wrong_jobs = {job: (jobs[job], n) for job, n in expected_jobs.items() if jobs[job] != n}
    return [
        ("every response 2xx (0 5xx, 0 lost)", not failed, "\n".join([str(dict(failed)), *refused[:5]])),
        ("no locked database, Traceback or ERROR in the logs", not log_problems, "\n".join(log_problems[:10])),
        ("every report and import succeeded with the right counts", not problems, "\n".join(problems[:10])),
        ("every job succeeded", not not_succeeded, str(not_succeeded)),
        ("each job ran once", counts["rerun"] == 0, f"{counts['rerun']} ran more than once"),
        ("the counts add up per user", not wrong_users, "\n".join(wrong_users[:10])),
        ("one job per notice (found, expected)", not wrong_jobs, str(wrong_jobs)),
    ]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(outcome: Outcome) -> str:
    """The figures of the load (requests sent before its end; the clients' last polls are left out), and the checks."""
    end = outcome.started + outcome.seconds
    by_kind = defaultdict(list)
    for client in outcome.clients:
        for sample in client.samples:
            if sample.at < end:
                by_kind[sample.kind].append(sample.seconds * 1000)
    rows = sorted(by_kind.items(), key=lambda item: -len(item[1]))
    rows.append(("all", [ms for _, values in rows for ms in values]))
    lines = [f"{'kind':14}{'requests':>9}{'per s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for kind, ms in rows:
        lines.append(
            f"{kind:14}{len(ms):9,}{len(ms) / outcome.seconds:8.1f}{statistics.median(ms):9.1f}"
            f"{percentile(ms, 0.95):9.1f}{percentile(ms, 0.99):9.1f}{max(ms):9.1f}"
        )
    jobs = outcome.counts["jobs"]
    lines.append(f"jobs: {sum(jobs.values()):,} ({', '.join(f'{job}: {n}' for job, n in sorted(jobs.items()))})")
    for what, ok, detail in outcome.checks:
        lines.append(f"{'PASS' if ok else 'FAIL'}  {what}" + (f"\n      {detail}" if detail and not ok else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn processes (4 threads each)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stress-") as tmp:
        stack = stack_for(Path(tmp) / "data")
        try:
            start(stack, args.web_workers)
            outcome = run(stack, clients=args.clients, seconds=args.seconds, seed=args.seed)
        finally:
            stack.stop()
    engine = "PostgreSQL" if stack.database else "SQLite"
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {engine}, {args.clients} clients, {args.web_workers} gunicorn workers")
    print(report(outcome))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
