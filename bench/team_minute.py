"""A 200-person team's minute on one server (issue 26, item 1): a quiet minute, then the worst one.

    .venv/bin/python bench/team_minute.py [--people 200] [--tasks 10000] [--rate 50] [--seconds 60]
    .venv/bin/python bench/team_minute.py --quick   # 50 people, 1,000 tasks, 15 s minutes: about 2 minutes
    .venv/bin/python bench/team_minute.py --tasks 100000
    .venv/bin/python -m tests.postgres_server -- .venv/bin/python bench/team_minute.py   # on PostgreSQL

The stack is the one `make run` starts, started by `bench/interference.py`'s `start` on
`tests/live_stack.py`: a temporary DATA_DIR; gunicorn with the Procfile's `--web-workers` (2)
processes of `--web-threads` (4) threads, reading gunicorn.conf.py from the checkout (no access
log, which the Procfile writes to its terminal); the Procfile's `worker` (`run_huey` with its
scheduler, every lane but the file lanes) and `files` (`run_huey --no-periodic`, the `reports` and
`imports` lanes, under `nice -n 10`), each with the settings' workers; on SQLite, or in a database
of its own when DATABASE_URL names a PostgreSQL server. Two settings differ from `make run`'s:
the mail budget, `--mail-per-minute` (EMAIL_RATE_LIMIT_PER_MINUTE and MAIL_SENDER_PER_MINUTE; the
default budget, 10 a minute, sends 200 digests in 20 minutes: `--mail-per-minute 0` keeps it), and
DB_TRANSACTION_LOG_MS=100 (a write transaction that held or waited for SQLite's lock 100 ms is logged).

The data (one `manage.py shell`, bulk inserts): `--people` people, `--tasks` tasks shared out
evenly (50 each by default), created over the last 60 days, a third done, the open ones due in
the next 30 days or one in five overdue (a tenth with no due date), their overdue notices made (as the
day's first overdue check makes them) and their counts recounted; each person logged in: a
session written to the session store as a login writes it, and a CSRF cookie of their own.

The clicks are an open loop. Each person clicks on their own clock, exponential gaps of mean
people / `--rate` seconds (the team makes `--rate` clicks a second: 0.25 a person by default),
whatever the answers, and a click's latency counts from the moment it was due: a click waiting for
one of the `--client-threads` threads, or for a stalled server, is counted whole ("sent late"
tells the load generator's own share). A person is a browser: their session and CSRF cookies,
kept from Set-Cookie, and keep-alive connections (`http.client`), one per click in flight; a kept
connection the server has closed (gunicorn's keepalive is 2 s) is replaced before use, and a
request lost on a kept connection before any answer is sent again once on a fresh one, as
browsers do. The mix, each click with the status it expects:

    task list        25%  GET /                              200
    task page        15%  GET /tasks/<id>/ (one of theirs)   200
    notifications    10%  GET /notifications/                200
    api tasks mine   12%  GET /api/tasks/?mine=true          200
    api me            8%  GET /api/me/                       200
    create           18%  POST /api/tasks/, half of them for a teammate (who is notified)   201
    complete         12%  POST /tasks/<id>/complete/ (the task page's button, one of their open tasks)   302

Each run: `--warmup` seconds of the same clicks, not counted; then, each `--seconds` long:

1. the quiet minute: the clicks only; then the run waits until every job has finished;
2. the worst minute: the same clicks, and over its first `--spread` seconds `--file-people`
   different people each upload a CSV import of `--import-rows` rows and as many others (between
   them in the list; `--reporters importers`: the same people) each ask for a report (XLSX and PDF
   in turn, all their tasks), their pages polling each one's status URL every second, answered or
   not (progress.js's setInterval), until it has ended; and at its start the 08:00 digest to everyone,
   enqueued into the real queue as its schedule does (`queue.run_now`, by no one: a `manage.py
   shell` started before the minute, waiting for its cue) and run by the `worker` consumer,
   which writes each mail to DATA_DIR/mail (the file backend; messages are counted, not files: two
   sends in one second may share a file). The run then waits (at most
   `--finish-timeout` s) for the files, the last digest mail and every job.

Printed per minute: clicks, per second, p50/p95/p99/max latency in ms per kind and for all
clicks, errors by kind (status codes not expected, resets, timeouts, refusals), how late clicks
were sent and the connections opened, kept and sent again; the worst minute's work requests and
polls apart. Then each file job's answer, its time from request to started and to done (the row's
finished_at, read by polling its status URL; started from /api/jobs/<id>/) and its rows; the
digest from its cue to its job's start and end and to its first and last mail (the mail files'
times); the cores each process used, CPU seconds (/proc/<pid>/stat utime + stime, and the
children's they reaped) over wall seconds, during each minute and the worst minute's backlog (to
the end of its work): gunicorn's master and each worker, each consumer with the processes it
started, the PostgreSQL server, this load generator (its own threads only), the whole machine and
what else ran on it; the jobs run per minute with their waits and run times; the log lines with
a problem and the longest logged write transactions. Checks (exit 1 if one fails): every click
answered as expected (no 5xx, none unanswered), every report and import succeeded (each import
created exactly its rows), every digest mail written, every job succeeded, none recovered by the
consumer ("its message never reached the queue") after it had already run to its end, no
Traceback, ERROR or "database is locked" in the logs; the tasks in the database are the seeded,
created and imported ones, and as many done as seeded, completed and imported done.
`--keep-logs DIR` copies the stack's logs out of the temporary DATA_DIR.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import math
import os
import random
import re
import select
import shutil
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.interference import (  # noqa: E402
    LOCKED,
    ORIGIN,
    TRANSACTION,
    WAITED,
    log_sizes,
    percentile,
    start,
    wait_for_jobs,
)
from tests.live_stack import LiveStack  # noqa: E402

QUICK = {"people": 50, "tasks": 1000, "seconds": 15.0, "warmup": 3.0}
DEFAULTS = {"people": 200, "tasks": 10_000, "seconds": 60.0, "warmup": 5.0}
CLICKS_PER_PERSON_SECOND = 0.25  # --rate's default: 50 a second for 200 people
MIX = {  # kind: (share, the status it expects)
    "task list": (25, 200),
    "task page": (15, 200),
    "notifications": (10, 200),
    "api tasks mine": (12, 200),
    "api me": (8, 200),
    "create": (18, 201),
    "complete": (12, 302),  # to the task list: a 302 elsewhere (the login page, the edit form) is a problem
}
WORK_KINDS = ("report request", "import upload", "progress poll")
POLL_SECONDS = 1.0  # progress.js polls a status URL every second
FILE_BUSY = ("pending", "running")
DIGEST_SUBJECT = b"Subject: Your open tasks"  # tasks_app/templates/tasks_app/email/digest_subject.txt
MAIL_END = b"-" * 79 + b"\n"  # Django's file backend ends each message it writes with this line
LOG_PROBLEM = re.compile(rf"{LOCKED}|Traceback|\bERROR\b|\bCRITICAL\b|WORKER TIMEOUT|Booting worker")
SEED_DAYS = 60

SEED = """
import datetime, json, random, string
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.db.models import F
from django.utils import timezone
from tasks_app.models import Task
from tasks_app.services.notifications import notify_overdue
from tasks_app.services.user_stats import user_stats_refresh

User = get_user_model()
rng = random.Random(params["seed"])
password = make_password("a-long-bench-password")  # hashed once: 200 hashes would take a minute
User.objects.bulk_create(
    User(username=f"person{n:03}", email=f"person{n:03}@example.com", password=password, first_name=f"Person {n}")
    for n in range(params["people"])
)
people = list(User.objects.filter(username__startswith="person").order_by("username"))
today, now = timezone.localdate(), timezone.now()
rows = []
for person in people:
    for n in range(params["each"]):
        done, overdue = n % 3 == 2, rng.random() < 0.2
        due = today + datetime.timedelta(days=rng.randint(-20, -1) if overdue else rng.randint(0, 30))
        rows.append(Task(
            title=f"{person.username} task {n}", description="seeded for the team minute bench",
            owner=person, created_by=person, status=["todo", "in_progress", "done"][n % 3],
            priority=rng.choice(["low", "normal", "high"]), due_date=None if rng.random() < 0.1 else due,
        ))
Task.objects.bulk_create(rows, batch_size=1000)
ids = list(Task.objects.order_by("pk").values_list("pk", flat=True))
for day in range(params["days"]):  # auto_now_add set created_at on insert: spread it over the days
    moment = now - datetime.timedelta(days=day, minutes=rng.randint(1, 600))
    Task.objects.filter(pk__in=ids[day :: params["days"]]).update(created_at=moment)
Task.objects.filter(status="done").update(completed_at=F("created_at"))
for person in people:
    user_stats_refresh(person)
notified = notify_overdue()  # the day's first overdue check: most of a 100,000-task seed's time
engine = import_module(settings.SESSION_ENGINE)
sessions = {}
for person in people:
    session = engine.SessionStore()
    session[SESSION_KEY] = str(person.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = person.get_session_auth_hash()
    session.create()
    sessions[person.pk] = session.session_key
tasks = {person.pk: [[], []] for person in people}
for owner, pk, status in Task.objects.values_list("owner_id", "pk", "status"):
    tasks[owner][status == "done"].append(pk)
print(json.dumps({
    "people": [[p.pk, p.username, sessions[p.pk], *tasks[p.pk]] for p in people],
    "cookies": [settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME],
    "today": today.isoformat(),
    "overdue_notices": notified,
}))
"""
# Started before the worst minute (Django's start is no part of it); enqueues the digest on its cue.
DIGEST_CUE = """
import sys
from tasks_app import jobs, queue
name = queue.job_name(jobs.digest_send)
print("ready", flush=True)
sys.stdin.readline()
print(queue.run_now(name), flush=True)  # no user: the scheduler's run, not a person's
"""
FACTS = """
import json
from collections import Counter
from tasks_app.models import Email, JobEvent, JobRun
def ts(moment):
    return moment.timestamp() if moment else None
runs = JobRun.objects.values_list("name", "state", "enqueued_at", "started_at", "finished_at", "periodic", "id")
from tasks_app.models import Task
digests = Email.objects.filter(kind=Email.Kind.DIGEST)
# Jobs the consumer's recovery enqueued again ("its message never reached the queue"), and whether
# they had already run to the end by then: those ran twice.
recovered = [
    [event.job.name.rsplit(".", 1)[-1], event.job_id, event.job.events.filter(kind="complete", at__lt=event.at).exists()]
    for event in JobEvent.objects.filter(kind="recovered").select_related("job")
]
print(json.dumps({
    "runs": [[name.rsplit(".", 1)[-1], state, ts(a), ts(b), ts(c), periodic, pk] for name, state, a, b, c, periodic, pk in runs],
    "digests": dict(Counter(digests.values_list("status", flat=True))),
    "recovered": recovered,
    "tasks": Task.objects.count(),
    "done": Task.objects.filter(status=Task.Status.DONE).count(),
}))
"""


def stack_env(mail_per_minute: int) -> dict[str, str]:
    env = {"HUEY_WORKERS": "", "DB_TRANSACTION_LOG_MS": "100"}  # HUEY_WORKERS "": the settings' default
    if mail_per_minute:
        env |= {"EMAIL_RATE_LIMIT_PER_MINUTE": str(mail_per_minute), "MAIL_SENDER_PER_MINUTE": str(mail_per_minute)}
    return env


# -- one person's browser --------------------------------------------------------------------------

RESETS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.RemoteDisconnected)


@dataclass
class Answer:
    status: int  # 0: none
    body: bytes
    error: str  # why there is no answer: reset, timeout, refused, other ...
    sent: float  # time.monotonic() the request was (last) sent
    location: str = ""  # a redirect's


def failure(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionRefusedError):
        return "refused"
    if isinstance(error, RESETS):
        return "reset"
    return f"other ({type(error).__name__})"


def still_open(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection with something to read has been closed by the server."""
    return connection.sock is not None and not select.select([connection.sock], [], [], 0)[0]


class Browser:
    """One person's cookies and keep-alive connections; several clicks may be in flight at once."""

    def __init__(self, address: tuple[str, int], cookies: dict[str, str], csrf_cookie: str, timeout: float):
        self.address, self.cookies, self.csrf_cookie, self.timeout = address, cookies, csrf_cookie, timeout
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.connections = Counter()  # opened, kept, sent again

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Answer:
        for attempt in (1, 2):
            connection, kept = self._connection()
            sent = time.monotonic()
            try:
                connection.request(method, path, body=body, headers=self._headers(method, path, content_type))
                response = connection.getresponse()
                data = response.read()
            except RESETS as error:
                connection.close()
                if kept and attempt == 1:  # closed by the server as we sent: the request never ran
                    with self.lock:
                        self.connections["sent again"] += 1
                    continue
                return Answer(0, b"", failure(error), sent)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                return Answer(0, b"", failure(error), sent)
            self._keep(connection, response)
            return Answer(response.status, data, "", sent, response.getheader("Location", ""))
        raise AssertionError("unreachable")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self.lock:
            while self.idle:
                connection = self.idle.pop()
                if still_open(connection):
                    self.connections["kept"] += 1
                    return connection, True
                connection.close()
            self.connections["opened"] += 1
        return http.client.HTTPConnection(*self.address, timeout=self.timeout), False

    def _headers(self, method: str, path: str, content_type: str) -> dict[str, str]:
        with self.lock:
            headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in self.cookies.items())}
            if method not in ("GET", "HEAD") and not content_type.startswith("application/x-www-form-urlencoded"):
                headers["X-CSRFToken"] = self.cookies.get(self.csrf_cookie, "")
        headers["Accept"] = "application/json" if path.startswith("/api/") else "text/html"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _keep(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        with self.lock:
            for header in response.msg.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    if morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.coded_value
            if response.will_close:
                connection.close()
            else:
                self.idle.append(connection)

    def csrf_token(self) -> str:
        with self.lock:
            return self.cookies.get(self.csrf_cookie, "")


# -- the team ------------------------------------------------------------------------------------


@dataclass
class Person:
    pk: int
    username: str
    browser: Browser
    tasks: list[int]  # theirs, any status
    open_tasks: list[int]


@dataclass
class Click:
    kind: str
    due: float  # time.monotonic() it was due
    sent: float  # ... sent
    done: float  # ... answered, or given up
    status: int  # 0: no answer
    error: str = ""  # "" or why no answer
    expected: bool = True  # the status the kind expects
    location: str = ""  # a redirect's

    @property
    def ms(self) -> float:
        return (self.done - self.due) * 1000

    @property
    def problem(self) -> str:
        """Empty when answered as expected; else the status (and where it redirected) or why there was no answer."""
        if self.expected:
            return ""
        return self.error or f"{self.status}" + (f" to {self.location}" if self.location else "")


class Team:
    """Everyone's browsers, and what each click does."""

    def __init__(self, people: list[Person], today: datetime.date):
        self.people, self.today = people, today
        self.lock = threading.Lock()  # the task lists
        self.created = 0
        self.in_flight = self.most_in_flight = 0
        self.skipped = Counter()  # clicks with nothing to click on (a complete with no open task)
        self.done = Counter()  # tasks created and completed, warm-up included: what the database must show
        self.seeded = Counter()  # tasks, done
        self.seed_seconds = 0.0

    def click(self, person: Person, kind: str, due: float, seed: float) -> Click | None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self._click(person, kind, due, random.Random(seed))
        finally:
            with self.lock:
                self.in_flight -= 1

    def _click(self, person: Person, kind: str, due: float, rng: random.Random) -> Click | None:
        browser = person.browser
        owner = None
        if kind == "task list":
            answer = browser.request("GET", "/")
        elif kind == "task page":
            with self.lock:
                task_id = rng.choice(person.tasks)
            answer = browser.request("GET", f"/tasks/{task_id}/")
        elif kind == "notifications":
            answer = browser.request("GET", "/notifications/")
        elif kind == "api tasks mine":
            answer = browser.request("GET", "/api/tasks/?mine=true")
        elif kind == "api me":
            answer = browser.request("GET", "/api/me/")
        elif kind == "create":
            owner = person if rng.random() < 0.5 else rng.choice([p for p in self.people if p is not person])
            with self.lock:
                self.created += 1
                n = self.created
            due_date = None if rng.random() < 0.3 else (self.today + datetime.timedelta(days=rng.randint(0, 14)))
            payload = {
                "title": f"{person.username}'s new task {n}",
                "description": "made in the team minute bench",
                "priority": rng.choice(["low", "normal", "high"]),
                "due_date": due_date and due_date.isoformat(),
                "owner": owner.pk,
            }
            answer = browser.request("POST", "/api/tasks/", json.dumps(payload).encode(), "application/json")
        else:  # complete
            with self.lock:
                if not person.open_tasks:
                    self.skipped[kind] += 1
                    return None
                task_id = person.open_tasks.pop(rng.randrange(len(person.open_tasks)))
            form = f"csrfmiddlewaretoken={browser.csrf_token()}".encode()
            answer = browser.request("POST", f"/tasks/{task_id}/complete/", form, "application/x-www-form-urlencoded")
        click = Click(kind, due, answer.sent, time.monotonic(), answer.status, answer.error, location=answer.location)
        click.expected = answer.status == MIX[kind][1] and (kind != "complete" or answer.location == "/")
        with self.lock:
            self.done[kind] += click.expected
            if kind == "create" and click.expected:
                task_id = json.loads(answer.body)["id"]
                owner.tasks.append(task_id)
                owner.open_tasks.append(task_id)
        return click

    def connections(self) -> Counter:
        return sum((person.browser.connections for person in self.people), Counter())


def clicks_for(
    team: Team, seconds: float, rate: float, rng: random.Random, pool: ThreadPoolExecutor
) -> tuple[float, list[Future]]:
    """Dispatch every person's clicks due in the next `seconds`, each on their own exponential
    clock; return when the time is up, with the minute's start (time.monotonic()) and the clicks in flight."""
    kinds, shares = list(MIX), [share for share, _ in MIX.values()]
    per_person = rate / len(team.people)
    started = time.monotonic()
    end = started + seconds
    due = [(started + rng.expovariate(per_person), n) for n in range(len(team.people))]
    heapify(due)
    clicks = []
    while due[0][0] < end:
        at, n = heappop(due)
        time.sleep(max(0.0, at - time.monotonic()))
        kind = rng.choices(kinds, shares)[0]
        clicks.append(pool.submit(team.click, team.people[n], kind, at, rng.random()))
        heappush(due, (at + rng.expovariate(per_person), n))
    time.sleep(max(0.0, end - time.monotonic()))
    return started, clicks


# -- the worst minute's work -----------------------------------------------------------------------


@dataclass
class FileJob:
    """A report or an import one person started, as their page last saw it."""

    person: Person
    kind: str  # "report xlsx", "report pdf", "import"
    rows: int = 0  # an import's file; a report's rows once built
    requested_at: float = 0.0  # time.time() its request was sent
    answer: int = 0  # the request's status
    status_url: str = ""
    job_id: str = ""
    status: str = ""  # its final status; "" while pending or running
    error: str = ""
    started_at: float | None = None  # time.time(), from /api/jobs/<id>/
    finished_at: float | None = None
    created: int | None = None
    failed: int | None = None

    def seconds_to(self, moment: float | None) -> float | None:
        return None if moment is None else moment - self.requested_at


IMPORT_STATUSES = ["todo", "in_progress", "done"]


def done_rows(rows: int) -> int:
    """How many of an import's rows are done (row n's status: IMPORT_STATUSES[n % 3])."""
    return sum(IMPORT_STATUSES[n % 3] == "done" for n in range(rows))


def import_csv(person: Person, rows: int, today: datetime.date) -> str:
    """`rows` valid tasks, statuses and priorities mixed, half with a due date."""
    lines = [
        f"{person.username} imported {n},from the team minute bench,{IMPORT_STATUSES[n % 3]},"
        f"{['low', 'normal', 'high'][n // 3 % 3]},{'' if n % 2 else (today + datetime.timedelta(days=n % 60))}"
        for n in range(rows)
    ]
    return "title,description,status,priority,due_date\n" + "\n".join(lines) + "\n"


class Work:
    """The worst minute's reports and imports, started over its first seconds, and their polls."""

    def __init__(self, reporters: list[Person], importers: list[Person], import_rows: int, today: datetime.date):
        self.reporters, self.importers, self.import_rows, self.today = reporters, importers, import_rows, today
        self.jobs: list[FileJob] = []
        self.requests: list[Click] = []  # the asks, uploads and polls
        self.lock = threading.Lock()
        self.started = threading.Event()  # every job asked for

    def start(self, started: float, spread: float) -> None:
        """Reporter k asks for a report at started + k × spread / n, importer k uploads half a step later."""
        step = spread / max(1, len(self.reporters))
        asks = []
        for k, (reporter, importer) in enumerate(zip(self.reporters, self.importers, strict=True)):
            asks.append((started + k * step, FileJob(reporter, f"report {['xlsx', 'pdf'][k % 2]}")))
            asks.append((started + (k + 0.5) * step, FileJob(importer, "import", rows=self.import_rows)))
        threads = [threading.Timer(max(0.0, at - time.monotonic()), self.ask, (job, at)) for at, job in asks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.started.set()

    def ask(self, job: FileJob, due: float) -> None:
        browser = job.person.browser
        job.requested_at = time.time()
        if job.kind == "import":
            boundary = "team-minute-boundary"
            body = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tasks.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\n{import_csv(job.person, job.rows, self.today)}\r\n--{boundary}--\r\n"
            ).encode()
            answer = browser.request("POST", "/api/imports/", body, f"multipart/form-data; boundary={boundary}")
            kind = "import upload"
        else:
            payload = json.dumps({"format": job.kind.split()[1]}).encode()
            answer = browser.request("POST", "/api/reports/", payload, "application/json")
            kind = "report request"
        job.answer = answer.status
        click = Click(kind, due, answer.sent, time.monotonic(), answer.status, answer.error, answer.status == 202)
        if click.expected:
            started = json.loads(answer.body)
            job.status_url, job.job_id = started["status_url"], started["job_id"]
        else:
            job.status, job.error = "not started", answer.error or answer.body[:200].decode(errors="replace")
        with self.lock:
            self.jobs.append(job)
            self.requests.append(click)

    def follow(self, give_up: float, pool: ThreadPoolExecutor) -> None:
        """Poll each started job's status URL every second until it has ended (or give_up, a
        time.monotonic()), each poll on `pool` whether or not the last one has been answered, as
        progress.js's setInterval does; then read each job's start."""
        tick, polls = time.monotonic(), []
        while time.monotonic() < give_up:
            with self.lock:
                waiting = [job for job in self.jobs if not job.status]
            if not waiting and self.started.is_set():
                break
            polls += [pool.submit(self.poll, job, tick) for job in waiting]
            tick += POLL_SECONDS
            time.sleep(max(0.0, tick - time.monotonic()))
        for poll in polls:
            poll.result()
        for job in self.jobs:
            if job.job_id:
                answer = job.person.browser.request("GET", f"/api/jobs/{job.job_id}/")
                if answer.status == 200:
                    job.started_at = timestamp(json.loads(answer.body).get("started_at"))

    def poll(self, job: FileJob, due: float) -> None:
        answer = job.person.browser.request("GET", job.status_url)
        click = Click("progress poll", due, answer.sent, time.monotonic(), answer.status, answer.error)
        click.expected = answer.status == 200
        with self.lock:
            self.requests.append(click)
        if not click.expected:
            return
        row = json.loads(answer.body)
        if row["status"] not in FILE_BUSY and not job.status:  # polls overlap: the first to see the end
            job.finished_at = timestamp(row.get("finished_at")) or time.time()
            job.created, job.failed, job.error = row.get("created"), row.get("failed"), row.get("error") or ""
            job.rows = job.rows or row.get("rows") or 0  # a report's, once built
            job.status = row["status"]


def timestamp(stamp: str | None) -> float | None:
    return datetime.datetime.fromisoformat(stamp).timestamp() if stamp else None


class Digest:
    """The 08:00 digest: a shell waiting to enqueue it, and the mail it writes, watched."""

    def __init__(self, stack: LiveStack, expected: int):
        self.folder, self.expected = stack.data_dir / "mail", expected
        self.shell = subprocess.Popen(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c", DIGEST_CUE],
            cwd=ROOT,
            env=stack.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.shell.stdout.readline().strip() != "ready":
            raise RuntimeError("the digest's shell did not start")
        self.cued_at: float | None = None  # time.time()
        self.job_id = ""
        self.mails: list[float] = []  # each digest mail file's time
        self.other_mails = 0
        self._read = {path: path.stat().st_size for path in self._files()}  # bytes read of each mail file

    def _files(self) -> list[Path]:
        return list(self.folder.iterdir()) if self.folder.is_dir() else []

    def cue(self) -> None:
        self.cued_at = time.time()
        self.shell.stdin.write("go\n")
        self.shell.stdin.flush()
        self.job_id = self.shell.stdout.readline().strip()
        self.shell.wait(timeout=30)

    def watch(self, give_up: float) -> None:
        """Count the digest mails as they are written, until all are (or give_up, a time.monotonic()).

        Messages, not files: the file backend names a file by the second and the backend object's
        id(), so two sends in one second may append to one file."""
        while len(self.mails) < self.expected and time.monotonic() < give_up:
            for path in self._files():
                done = self._read.get(path, 0)
                text = path.read_bytes()[done:]
                end = text.rfind(MAIL_END)
                if end < 0:
                    continue  # nothing new, or a message still being written: read on the next look
                written = path.stat().st_mtime
                self._read[path] = done + end + len(MAIL_END)
                for message in text[: end + len(MAIL_END)].split(MAIL_END)[:-1]:
                    if DIGEST_SUBJECT in message:
                        self.mails.append(written)
                    else:
                        self.other_mails += 1
            time.sleep(0.25)

    def seconds(self, which) -> float | None:
        return which(self.mails) - self.cued_at if self.mails and self.cued_at else None


# -- CPU ---------------------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def process_times() -> dict[int, tuple[int, float, float]]:
    """pid -> (parent pid, its own CPU seconds, those of its children it reaped), every process."""
    times = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        own, reaped = (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK
        times[int(stat.parent.name)] = (int(fields[1]), own, reaped)
    return times


def tree_seconds(times: dict[int, tuple[int, float, float]], root: int | None) -> float:
    """CPU seconds of `root` and every process under it, living or reaped."""
    pids, total = [root] if root in times else [], 0.0
    while pids:
        pid = pids.pop()
        total += times[pid][1] + times[pid][2]
        pids += [child for child, (parent, _, _) in times.items() if parent == pid]
    return total


def machine_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all but idle and iowait)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / TICK


def postgres_pid() -> int | None:
    """The PostgreSQL server's postmaster, when DATABASE_URL names one on this machine."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return None
    import psycopg

    with psycopg.connect(url) as connection:
        folder = connection.execute("show data_directory").fetchone()[0]
    return int((Path(folder) / "postmaster.pid").read_text().split()[0])


def cpu_seconds(stack: LiveStack, postgres: int | None) -> dict[str, float]:
    """CPU seconds so far of each part of the stack (gunicorn's master and each worker too), the
    load generator's threads, and the whole machine."""
    times = process_times()
    web = stack.web.pid
    seconds = {"web (gunicorn, all)": tree_seconds(times, web), "  master": times[web][1] + times[web][2]}
    for pid in sorted(pid for pid, (parent, _, _) in times.items() if parent == web):
        seconds[f"  worker {pid}"] = tree_seconds(times, pid)
    seconds["worker consumer (+ children)"] = tree_seconds(times, stack.consumer.pid)
    seconds["files consumer (+ children)"] = tree_seconds(times, stack.more_consumers[0].pid)
    if postgres:
        seconds["PostgreSQL server"] = tree_seconds(times, postgres)
    seconds["load generator (this process)"] = times[os.getpid()][1]
    seconds["whole machine"] = machine_seconds()
    return seconds


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two readings, with what the rest of the machine used."""
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    ours = sum(seconds for name, seconds in used.items() if not name.startswith(" ") and name != "whole machine")
    used["everything else on the machine"] = used["whole machine"] - ours
    return used


# -- a run ---------------------------------------------------------------------------------------------


@dataclass
class Minute:
    name: str
    loadavg: tuple[float, float, float]
    started: float  # time.monotonic()
    started_at: float  # time.time()
    seconds: float
    clicks: list[Click] = field(default_factory=list)
    connections: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    most_in_flight: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds in the minute
    backlog_cpu: dict[str, float] = field(default_factory=dict)  # ... after it, until its work had ended
    backlog_seconds: float = 0.0
    end_reading: dict[str, float] = field(default_factory=dict)  # cpu_seconds() at its end
    logs: list[str] = field(default_factory=list)  # problem lines, from its start to the next one's
    transactions: list[tuple[float, float, str]] = field(default_factory=list)  # logged (held ms, waited ms, origin)
    ended_at: float = 0.0  # time.time() its waits ended


@dataclass(repr=False)
class Outcome:
    args: argparse.Namespace
    engine: str
    overdue_notices: int
    minutes: list[Minute]
    work: Work
    digest: Digest
    facts: dict
    unfinished_jobs: int
    team: Team

    def checks(self) -> list[tuple[str, bool, str]]:
        clicks = [c for minute in self.minutes for c in minute.clicks] + self.work.requests
        wrong = Counter(f"{c.kind} {c.problem}" for c in clicks if c.problem)
        files = [
            f"{job.person.username} {job.kind}: {job.status or 'unfinished'} {job.error}".strip()
            for job in self.work.jobs
            if job.status != "succeeded" or (job.kind == "import" and (job.created, job.failed) != (job.rows, 0))
        ]
        missing = len(self.work.reporters) + len(self.work.importers) - len(self.work.jobs)
        runs = Counter(f"{name} {state}" for name, state, *_ in self.facts["runs"] if state != "succeeded")
        logs = [line for minute in self.minutes for line in minute.logs if "Booting worker" not in line]
        imported = [job for job in self.work.jobs if job.kind == "import" and job.created]
        team = self.team
        expected = {
            "tasks": team.seeded["tasks"] + team.done["create"] + sum(job.created for job in imported),
            "done": team.seeded["done"] + team.done["complete"] + sum(done_rows(job.rows) for job in imported),
        }
        found = {name: self.facts[name] for name in expected}
        ran_twice = [row for row in self.facts["recovered"] if row[2]]
        mails = len(self.digest.mails)
        return [
            ("every click answered as expected (no 5xx, none unanswered)", not wrong, str(dict(wrong))),
            (
                "every report and import succeeded, each import with exactly its rows",
                not files and not missing,
                "\n".join(files[:10]) + (f"\n{missing} not asked for" if missing else ""),
            ),
            (
                f"every digest mail written ({mails} of {self.digest.expected})",
                mails == self.digest.expected,
                f"digest rows by status: {self.facts['digests']}",
            ),
            (
                "every job succeeded",
                not runs and not self.unfinished_jobs,
                f"{dict(runs)}; unfinished when the wait ended: {self.unfinished_jobs}",
            ),
            (
                "no job recovered and run again after it had finished",
                not ran_twice,
                f"{len(ran_twice)} ran twice: " + ", ".join(f"{name} {job_id}" for name, job_id, _ in ran_twice[:10]),
            ),
            (
                "the tasks in the database add up (seeded + created + imported; done: + completed)",
                found == expected,
                f"expected {expected}, found {found}",
            ),
            ('no Traceback, ERROR or "database is locked" in the logs', not logs, "\n".join(logs[:10])),
        ]

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks())


def seed(stack: LiveStack, args: argparse.Namespace) -> tuple[Team, int]:
    """The people, their tasks and sessions; returns the team and how many overdue notices were made."""
    params = {"people": args.people, "each": args.tasks // args.people, "days": SEED_DAYS, "seed": args.seed}
    seeded = json.loads(stack.shell(f"params = {params!r}\n{SEED}"))
    session_cookie, csrf_cookie = seeded["cookies"]
    address = ("127.0.0.1", stack.port)
    rng = random.Random(args.seed)
    people = []
    for pk, username, session, open_tasks, done_tasks in seeded["people"]:
        csrf = "".join(rng.choices(string.ascii_letters + string.digits, k=32))  # Django takes a client's secret
        browser = Browser(address, {session_cookie: session, csrf_cookie: csrf}, csrf_cookie, args.timeout)
        people.append(Person(pk, username, browser, open_tasks + done_tasks, list(open_tasks)))
    team = Team(people, datetime.date.fromisoformat(seeded["today"]))
    team.seeded = Counter(
        tasks=sum(len(p.tasks) for p in people), done=sum(len(p.tasks) - len(p.open_tasks) for p in people)
    )
    return team, seeded["overdue_notices"]


def read_logs(stack: LiveStack, minute: Minute, start_sizes: dict[str, int], end_sizes: dict[str, int]) -> None:
    for name, end in end_sizes.items():
        with open(stack.data_dir / name, "rb") as log:
            log.seek(start_sizes.get(name, 0))
            lines = log.read(end - start_sizes.get(name, 0)).decode(errors="replace").splitlines()
        minute.logs += [f"{name}: {line}" for line in lines if LOG_PROBLEM.search(line)]
        for line in lines:
            if match := TRANSACTION.search(line):
                waited, origin = WAITED.search(line), ORIGIN.search(line)
                minute.transactions.append(
                    (
                        float(match["held"]),
                        float(waited["waited"]) if waited else 0.0,
                        origin["origin"].strip() if origin else "?",
                    )
                )


def run(stack: LiveStack, args: argparse.Namespace) -> Outcome:
    """On `stack` (started): seed, warm up, the quiet minute, the worst minute, their waits, the facts."""
    seeding = time.monotonic()
    team, overdue_notices = seed(stack, args)
    team.seed_seconds = time.monotonic() - seeding
    rng = random.Random(args.seed)
    postgres = postgres_pid()
    every = team.people
    n = args.file_people
    importers = [every[k * len(every) // n] for k in range(n)]
    # Reporters between the importers, so that a report is of a workspace as it was (--reporters importers: theirs).
    shift = 0 if args.reporters == "importers" else max(1, len(every) // (2 * n))
    reporters = [every[(k * len(every) // n + shift) % len(every)] for k in range(n)]
    work = Work(reporters, importers, args.import_rows, team.today)
    minutes = []
    with ThreadPoolExecutor(args.client_threads) as pool:
        if args.warmup:
            for click in clicks_for(team, args.warmup, args.rate, rng, pool)[1]:
                click.result()
            wait_for_jobs(stack, args.finish_timeout)

        def one_minute(name: str, extras=None) -> Minute:
            before = team.connections()
            skipped = Counter(team.skipped)
            team.most_in_flight = team.in_flight
            minute = Minute(name, os.getloadavg(), time.monotonic(), time.time(), args.seconds)
            cpu = cpu_seconds(stack, postgres)
            if extras:
                extras(minute.started)
            _, clicks = clicks_for(team, args.seconds, args.rate, rng, pool)
            after = cpu_seconds(stack, postgres)
            minute.cpu = cpu_used(cpu, after)
            minute.clicks = [c for future in clicks if (c := future.result()) is not None]
            minute.connections = team.connections() - before
            minute.skipped = team.skipped - skipped
            minute.most_in_flight = team.most_in_flight
            minute.end_reading = after
            return minute

        # 1. quiet
        sizes = log_sizes(stack)
        quiet = one_minute("quiet minute")
        unfinished = wait_for_jobs(stack, args.finish_timeout)
        quiet.backlog_seconds = time.monotonic() - quiet.started - args.seconds
        quiet.backlog_cpu = cpu_used(quiet.end_reading, cpu_seconds(stack, postgres))
        quiet.ended_at = time.time()
        minutes.append(quiet)

        # 2. worst
        digest = Digest(stack, expected=len(every))
        threads = []

        def begin_work(started: float) -> None:
            give_up = started + args.seconds + args.finish_timeout
            threads.extend(
                [
                    threading.Thread(target=digest.cue),
                    threading.Thread(target=work.start, args=(started, args.spread)),
                    threading.Thread(target=work.follow, args=(give_up, pool)),
                    threading.Thread(target=digest.watch, args=(give_up,)),
                ]
            )
            for thread in threads:
                thread.start()

        sizes_worst = log_sizes(stack)
        read_logs(stack, quiet, sizes, sizes_worst)
        worst = one_minute("worst minute", begin_work)
        for thread in threads:
            thread.join()
        unfinished = wait_for_jobs(
            stack, max(1.0, worst.started + args.seconds + args.finish_timeout - time.monotonic())
        )
        worst.backlog_seconds = time.monotonic() - worst.started - args.seconds
        worst.backlog_cpu = cpu_used(worst.end_reading, cpu_seconds(stack, postgres))
        worst.ended_at = time.time()
        read_logs(stack, worst, sizes_worst, log_sizes(stack))
        minutes.append(worst)
    facts = json.loads(stack.shell(FACTS))
    engine = "PostgreSQL" if stack.database else "SQLite"
    return Outcome(args, engine, overdue_notices, minutes, work, digest, facts, unfinished, team)


# -- the report ----------------------------------------------------------------------------------------


def ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share):,.0f}" if values else "-"


def click_table(rows: list[tuple[str, list[Click]]], seconds: float) -> list[str]:
    lines = [f"{'':24}{'clicks':>7}{'per s':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  errors"]
    for label, clicks in rows:
        latencies = [c.ms for c in clicks]
        errors = Counter(c.problem for c in clicks if c.problem)
        shown = ", ".join(f"{problem} × {n}" for problem, n in errors.most_common()) or "-"
        highest = f"{max(latencies):,.0f}" if latencies else "-"
        lines.append(
            f"{label:24}{len(clicks):7,}{len(clicks) / seconds:7.1f}{ms(latencies, 0.5):>9}{ms(latencies, 0.95):>9}"
            f"{ms(latencies, 0.99):>9}{highest:>9}  {shown}"
        )
    return lines


def minute_report(minute: Minute, work: Work | None) -> list[str]:
    load = " ".join(f"{n:.2f}" for n in minute.loadavg)
    lines = [f"== {minute.name} ({minute.seconds:g} s; load average before it {load})"]
    by_kind = defaultdict(list)
    for click in minute.clicks:
        by_kind[click.kind].append(click)
    rows = [(kind, by_kind[kind]) for kind in MIX]
    lines += click_table([*rows, ("all clicks", minute.clicks)], minute.seconds)
    if work is not None:
        end = minute.started + minute.seconds
        requests = defaultdict(list)
        for request in work.requests:
            requests[request.kind if request.due < end else "polls after it"].append(request)
        lines.append("the work's own requests due in the minute (not in all clicks):")
        lines += click_table([(kind, requests[kind]) for kind in WORK_KINDS], minute.seconds)[1:]
        later = requests["polls after it"]
        if later:
            lines.append(
                f"then {len(later):,} more polls until the work had ended: p50 {ms([c.ms for c in later], 0.5)} ms,"
                f" p99 {ms([c.ms for c in later], 0.99)} ms, problems {dict(Counter(c.problem for c in later if c.problem))}"
            )
    late = [(c.sent - c.due) * 1000 for c in minute.clicks]
    connections = minute.connections
    lines.append(
        f"sent late (the load generator's lag): p50 {ms(late, 0.5)} ms, p99 {ms(late, 0.99)} ms,"
        f" max {max(late, default=math.nan):,.0f} ms; most clicks in flight at once {minute.most_in_flight}"
    )
    lines.append(
        f"connections: {connections['opened']:,} opened, {connections['kept']:,} kept ones reused,"
        f" {connections['sent again']:,} requests sent again after a kept one closed under them"
        + (f"; skipped (nothing to click on): {dict(minute.skipped)}" if minute.skipped else "")
    )
    return lines


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def work_report(outcome: Outcome) -> list[str]:
    work, digest = outcome.work, outcome.digest
    lines = ["", "== the worst minute's work (seconds from the request)"]
    lines.append(f"{'person':12}{'job':14}{'answer':>7}{'status':>11}{'started':>9}{'done':>8}  rows")
    for job in sorted(work.jobs, key=lambda job: job.requested_at):
        rows = f"created {job.created:,}, failed {job.failed:,}" if job.created is not None else f"{job.rows:,}"
        lines.append(
            f"{job.person.username:12}{job.kind:14}{job.answer:7}{job.status or 'unfinished':>11}"
            f"{seconds_text(job.seconds_to(job.started_at)):>9}{seconds_text(job.seconds_to(job.finished_at)):>8}  {rows}"
        )
    for kind in ("report xlsx", "report pdf", "import"):
        done = [job.seconds_to(job.finished_at) for job in work.jobs if job.kind == kind and job.finished_at]
        if done:
            lines.append(
                f"{kind}: {len(done)} done, request to done p50 {percentile(done, 0.5):.1f} s, max {max(done):.1f} s"
            )
    run = next((run for run in outcome.facts["runs"] if run[6] == digest.job_id), None)
    job = (
        f"its job started {run[3] - digest.cued_at:.1f} s, ended {run[4] - digest.cued_at:.1f} s"
        if run and run[3] and run[4] and digest.cued_at
        else "its job not seen"
    )
    lines.append(
        f"digest (job {digest.job_id or '?'}): {job} after the cue; mails {len(digest.mails)} of {digest.expected},"
        f" first {seconds_text(digest.seconds(min))} s, last {seconds_text(digest.seconds(max))} s after the cue;"
        f" other mails written meanwhile: {digest.other_mails}"
    )
    return lines


def cpu_report(minutes: list[Minute]) -> list[str]:
    quiet, worst = minutes
    columns = [("quiet", quiet.cpu, quiet.seconds), ("worst", worst.cpu, worst.seconds)]
    columns.append((f"backlog {worst.backlog_seconds:.0f} s", worst.backlog_cpu, worst.backlog_seconds))
    lines = ["", "== cores used (CPU seconds / wall seconds; CPU seconds in brackets)"]
    lines.append(f"{'':34}" + "".join(f"{name:>18}" for name, _, _ in columns))
    names = list(dict.fromkeys(name for _, cpu, _ in columns for name in cpu))
    for name in names:
        cells = [
            f"{cpu[name] / wall:.2f} ({cpu[name]:.1f})" if name in cpu and wall > 0 else "-" for _, cpu, wall in columns
        ]
        lines.append(f"{name:34}" + "".join(f"{cell:>18}" for cell in cells))
    lines.append(
        "(the backlog: from the worst minute's end until its files, digest and jobs had ended; the bench's"
        " own manage.py shells are in 'everything else')"
    )
    return lines


def jobs_report(outcome: Outcome) -> list[str]:
    quiet, worst = outcome.minutes
    windows = [(quiet, quiet.started_at, worst.started_at), (worst, worst.started_at, worst.ended_at)]
    recovered = outcome.facts["recovered"]
    lines = [
        "",
        "== jobs enqueued in each minute (to the end of its waits): count, wait to start p50/max, run p50/max (s);"
        f" recovered by the consumer (no message in the queue): {len(recovered)},"
        f" of which had already finished: {sum(ran for *_, ran in recovered)}",
    ]
    for minute, start_at, end_at in windows:
        by_name = defaultdict(list)
        for name, state, enqueued, started, finished, periodic, _ in outcome.facts["runs"]:
            if start_at <= (enqueued or started or 0) < end_at:  # a row without its enqueue time: by its start
                by_name[name + (" (periodic)" if periodic else "")].append((state, enqueued, started, finished))
        lines.append(f"{minute.name}:")
        for name, runs in sorted(by_name.items(), key=lambda item: -len(item[1])):
            waits = [started - enqueued for _, enqueued, started, _ in runs if started and enqueued]
            durations = [finished - started for _, _, started, finished in runs if started and finished]
            states = Counter(state for state, *_ in runs)
            other = {state: n for state, n in states.items() if state != "succeeded"}
            no_enqueue = sum(enqueued is None for _, enqueued, _, _ in runs)
            lines.append(
                f"  {name:34}{len(runs):6,}   wait {percentile(waits, 0.5):6.2f} / {max(waits, default=math.nan):6.2f}"
                f"   run {percentile(durations, 0.5):6.2f} / {max(durations, default=math.nan):6.2f}"
                + (f"   not succeeded: {other}" if other else "")
                + (f"   without an enqueue time: {no_enqueue}" if no_enqueue else "")
            )
    return lines


def logs_report(minutes: list[Minute]) -> list[str]:
    lines = ["", "== the logs (web.log, consumer.log), from each minute's start to the end of its waits"]
    for minute in minutes:
        kinds = Counter(match[0] for line in minute.logs if (match := LOG_PROBLEM.search(line)))
        held = sorted(minute.transactions, reverse=True)
        lines.append(
            f"{minute.name}: problem lines {dict(kinds) or 'none'}; write transactions logged (≥ 100 ms) {len(held)}"
            + (f", the longest {held[0][0]:,.0f} ms" if held else "")
        )
        lines += [f"    {line[:300]}" for line in minute.logs[:8]]
        by_origin = defaultdict(list)
        for ms_held, ms_waited, origin in held:
            by_origin[origin].append((ms_held, ms_waited))
        if by_origin:
            lines.append(f"    {'count':>5}{'max held ms':>13}{'max waited ms':>15}  origin")
        for origin, values in sorted(by_origin.items(), key=lambda item: -max(h for h, _ in item[1]))[:6]:
            most_held, most_waited = max(h for h, _ in values), max(w for _, w in values)
            lines.append(f"    {len(values):5}{most_held:13,.0f}{most_waited:15,.0f}  {origin[:200]}")
    return lines


def report(outcome: Outcome) -> str:
    args = outcome.args
    mail = f"{args.mail_per_minute:,} a minute" if args.mail_per_minute else "the settings' default"
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M')}, {outcome.engine}, {args.people} people, {args.tasks:,} tasks"
        f" ({args.tasks // args.people} each; {outcome.overdue_notices:,} overdue notices; seeded in"
        f" {outcome.team.seed_seconds:.0f} s), {args.rate:g} clicks/s,"
        f" {args.seconds:g} s a minute; gunicorn {args.web_workers} × {args.web_threads} threads, the worker and files"
        f" consumers; mail budget {mail}; the worst minute's work: {args.file_people} reports (by"
        f" {'the importers' if args.reporters == 'importers' else 'other people'}) and {args.file_people} imports of"
        f" {args.import_rows:,} rows over {args.spread:g} s, the digest to {args.people}",
        "",
    ]
    quiet, worst = outcome.minutes
    lines += minute_report(quiet, None)
    lines += [""] + minute_report(worst, outcome.work)
    lines += work_report(outcome)
    lines += cpu_report(outcome.minutes)
    lines += jobs_report(outcome)
    lines += logs_report(outcome.minutes)
    lines += ["", "checks (exit 1 when one fails):"]
    for what, ok, detail in outcome.checks():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {what}" + (f"\n      {detail}" if detail and not ok else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 people, 1,000 tasks, 15 s minutes (about 2 minutes)")
    parser.add_argument("--people", type=int, help="the team (200; --quick 50)")
    parser.add_argument("--tasks", type=int, help="seeded tasks in all, shared out evenly (10,000; --quick 1,000)")
    parser.add_argument("--rate", type=float, help=f"the team's clicks a second ({CLICKS_PER_PERSON_SECOND} a person)")
    parser.add_argument("--seconds", type=float, help="of each minute (60; --quick 15)")
    parser.add_argument(
        "--warmup", type=float, help="seconds of clicks before the quiet minute, not counted (5; --quick 3)"
    )
    parser.add_argument("--file-people", type=int, default=12, help="people who each start an import; as many a report")
    parser.add_argument(
        "--reporters",
        choices=["others", "importers"],
        default="others",
        help="who asks for the reports: other people (default), or the importers (reports of their imported rows)",
    )
    parser.add_argument("--import-rows", type=int, default=2000, help="rows of each import")
    parser.add_argument("--spread", type=float, default=5.0, help="seconds over which the reports and imports start")
    parser.add_argument(
        "--mail-per-minute", type=int, default=1_000_000, help="the mail budget; 0: the settings' default (10)"
    )
    parser.add_argument(
        "--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2)), help="gunicorn processes"
    )
    parser.add_argument(
        "--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", 4)), help="threads of each"
    )
    parser.add_argument("--client-threads", type=int, default=100, help="the load generator's threads")
    parser.add_argument("--timeout", type=float, default=30.0, help="a request without an answer this long: timeout")
    parser.add_argument(
        "--finish-timeout", type=float, default=600.0, help="the longest wait for the work after a minute"
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the stack's logs (web.log, consumer.log) to this folder")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.rate is None:
        args.rate = CLICKS_PER_PERSON_SECOND * args.people
    if not 0 < args.file_people <= args.people:
        parser.error("--file-people: from 1 to --people")
    with tempfile.TemporaryDirectory(prefix="team-minute-") as tmp:
        stack = LiveStack(Path(tmp) / "data", **stack_env(args.mail_per_minute))
        try:
            start(stack, args.web_workers, args.web_threads)
            outcome = run(stack, args)
        except BaseException as error:
            print(stack.logs(), getattr(error, "stderr", ""), file=sys.stderr, sep="\n")  # a manage.py's own
            raise
        finally:
            stack.stop()
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in stack.data_dir.glob("*.log"):
                    shutil.copy(log, args.keep_logs / log.name)
    print(report(outcome), flush=True)
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
