"""Interference: how much one person's heavy background work slows everyone else's requests.

    .venv/bin/python bench/interference.py [--everyday 8] [--seconds 60] [--workspaces 0,50000]
        [--web-workers 2] [--web-threads 4] [--consumer-nice 0] [--files-consumer 10] [--import-rows 2000]
    .venv/bin/python -m tests.postgres_server -- .venv/bin/python bench/interference.py --workspaces 0

The stack is `tests/live_stack.py`'s, as `make run` runs it on one server: a temporary DATA_DIR,
gunicorn with `--web-workers` processes of `--web-threads` threads, one `manage.py run_huey` with
its default workers (the sum of its lanes; started under `nice -n N` with `--consumer-nice N`)
serving all but the lanes FILE_LANES, which a second `run_huey --no-periodic` serves under `nice
-n 10` (`--files-consumer N`; -1: one consumer serves every lane), on SQLite, or in a database of its own when DATABASE_URL names a PostgreSQL server. The API throttle
and the e-mail rate limit are set far above what the clients reach, and DB_TRANSACTION_LOG_MS=10
makes the web server and the consumer log each app-database write transaction that held the write
lock for 10 ms or more (logger `tasks_app.db`: held=, waited=, origin=).

Users: EVERYDAY users (`--everyday`) and one heavy user, each with an API token. With
`--workspaces`, the run is repeated on a fresh stack for each size N: N tasks of the heavy user,
SEEDED_PER_DAY a day going back N / SEEDED_PER_DAY days, are seeded before the load (0: none).

An everyday client is a thread that loops, a fresh connection per request (`http.client`): create
a task, list 20 tasks, complete the task it created, read `/api/me/`. The heavy client starts, on
a fixed 1 s cadence (each second's requests in a thread of their own, so a slow answer does not
delay the next second's), one report (XLSX and PDF in turn, of one past day, a different day each
time, so that no report folds into one already building and each has at most a day's rows) and
one CSV import of `--import-rows` rows (all valid and unique in the run, statuses mixed). A poller
follows each of them through its `status_url` until it is no longer pending or running; its
time from request to done is the row's `finished_at` less the time its request was sent.

Two phases on one stack, each `--seconds` long:

1. "alone": the everyday clients only; then the run waits until every job has finished;
2. "with heavy": the same everyday clients again, beside the heavy client; then the run waits
   (at most `--finish-timeout` seconds) for every report, import and job to finish.

Printed per workspace size: the everyday clients' requests/s (requests sent in the phase, divided
by its length) and p50/p95/p99/max latency (all kinds together, and p50/p99 per kind), alone and
with the heavy client; the cores the web server, the consumer (with the processes it starts), the
clients and the whole machine used in each phase (from /proc); responses 5xx and unanswered per
phase and client; "database is locked"
lines the web and consumer logs gained per phase; jobs that did not succeed; the imports and
reports (how many, request to done p50/max); the longest write transactions by origin; the issue's
targets as PASS/FAIL lines (they do not change the exit status). It exits 1 when a result is wrong:
a 5xx or unanswered request, a job that did not succeed, a report that did not succeed, an import
that did not create exactly its rows. `tests/integration/test_interference.py` runs it for seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
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
from tests.live_stack import LiveStack  # noqa: E402

STACK_ENV = {
    "API_TOKEN_RATE": "1000000/minute",
    "EMAIL_RATE_LIMIT_PER_MINUTE": "1000000",
    "MAIL_SENDER_PER_MINUTE": "1000000",
    "DB_TRANSACTION_LOG_MS": "10",
    "HUEY_WORKERS": "",  # the settings' default: the sum of the lanes, as `make run` starts it
}
SEEDED_PER_DAY = 500
LOGS = ("web.log", "consumer.log")
LOCKED = "database is locked"
TRANSACTION = re.compile(r"\btasks_app\.db\b.*\bheld=(?P<held>[\d.]+)ms")
WAITED = re.compile(r"\bwaited=(?P<waited>[\d.]+)ms")
ORIGIN = re.compile(r"\borigin=(?P<origin>.*)$")
BUSY = ("pending", "running")
# The targets.
MIN_RATE_SHARE = 0.75  # everyday requests/s with the heavy client, of alone
MAX_P99_RATIO = 2.0  # everyday p99 with the heavy client, of alone
MAX_P99_MS = 250.0
MAX_IMPORT_SECONDS = 3.0  # from an import's upload to its end

CREATE_USERS = """
import json
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token
names = [f"everyday{{n}}" for n in range({count})] + ["heavy"]
tokens = {{}}
for name in names:
    user = get_user_model().objects.create_user(name, f"{{name}}@example.com", "a-long-password")
    tokens[name] = Token.objects.create(user=user).key
print(json.dumps({{"tokens": tokens, "today": timezone.localdate().isoformat()}}))
"""
# bulk_create, then created_at moved to its day (auto_now_add sets it on insert); the done ones
# completed now, so that no retention job removes them during the run; no due dates, so that no
# overdue check notifies about them.
SEED = """
import datetime
from django.contrib.auth import get_user_model
from django.utils import timezone
from tasks_app.models import Task
from tasks_app.services.user_stats import user_stats_refresh
heavy = get_user_model().objects.get(username="heavy")
statuses, priorities = ["todo", "in_progress", "done"], ["low", "normal", "high"]
now = timezone.now()
left, day = {count}, 0
while left > 0:
    day += 1
    rows = [
        Task(
            title=f"seeded {{day}}-{{n}}",
            description="a task of the heavy user's workspace",
            owner=heavy,
            created_by=heavy,
            status=statuses[n % 3],
            priority=priorities[n // 3 % 3],
            completed_at=now if n % 3 == 2 else None,
        )
        for n in range(min({per_day}, left))
    ]
    Task.objects.bulk_create(rows, batch_size=500)
    noon = datetime.datetime.combine(timezone.localdate() - datetime.timedelta(days=day), datetime.time(12))
    Task.objects.filter(owner=heavy, created_at__gte=now).update(created_at=timezone.make_aware(noon))
    left -= len(rows)
user_stats_refresh(heavy)
print(day)
"""
UNFINISHED_JOBS = """
from tasks_app.models import JobRun
print(JobRun.objects.exclude(state__in=JobRun.FINISHED_STATES).count())
"""
JOBS = """
import json
from collections import Counter
from tasks_app.models import JobRun
runs = JobRun.objects.values_list("name", "state")
print(json.dumps(Counter(f"{name.rsplit('.', 1)[-1]} {state}" for name, state in runs)))
"""


def stack_for(data_dir: Path) -> LiveStack:
    """The run's stack (not started)."""
    return LiveStack(data_dir, **STACK_ENV)


FILE_LANES = "reports,imports"


def start(
    stack: LiveStack, web_workers: int = 2, web_threads: int = 4, consumer_nice: int = 0, files_consumer: int = 10
) -> None:
    """Start the stack as `make run` does; with files_consumer >= 0 the file lanes run in a second
    consumer at that nice (the Procfile's `files`), with -1 in the one consumer."""
    stack.data_dir.mkdir()
    stack.manage("migrate", "--noinput")
    stack.start_web(workers=web_workers, threads=web_threads)
    nice = ("nice", "-n", str(consumer_nice)) if consumer_nice else ()
    if files_consumer < 0:
        stack.start_consumer(prefix=nice)
    else:
        stack.start_consumer(prefix=nice, env={"HUEY_CONSUMER_LANES": "default,emails,maintenance"})
        files = stack.spawn_consumer(
            "--no-periodic",
            prefix=("nice", "-n", str(files_consumer)),
            env={"HUEY_CONSUMER_LANES": FILE_LANES},
            log_name="consumer.log",
        )
        stack.more_consumers.append(files)
    stack.wait_for_consumer()


@dataclass
class Api:
    """One user's requests, each on a fresh connection, recorded as Samples."""

    url: str
    token: str
    samples: list[Sample] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # responses not 2xx, the first few kept

    def call(self, kind: str, method: str, path: str, body: bytes | None = None, content_type: str = "") -> tuple:
        """One request; returns (status, decoded JSON body or {})."""
        sample, data = timed_request(self.url, self.token, kind, method, path, body, content_type, timeout=60)
        self.samples.append(sample)
        status = sample.status
        if not 200 <= status < 300:
            if len(self.refused) < 20:
                self.refused.append(f"{method} {path}: {status} {data[:200]!r}")
            return status, {}
        return status, (json.loads(data) if data[:1] in (b"{", b"[") else {})

    def post_json(self, kind: str, path: str, payload: dict) -> tuple:
        return self.call(kind, "POST", path, json.dumps(payload).encode(), "application/json")


def everyday_loop(api: Api, deadline: float, today: datetime.date, rng: random.Random) -> None:
    """Create a task, list 20, complete the one created, read /api/me/; until the deadline."""
    n = 0
    while time.monotonic() < deadline:
        n += 1
        due = rng.choice([None, (today + datetime.timedelta(days=rng.randint(0, 14))).isoformat()])
        payload = {"title": f"everyday task {n}", "priority": rng.choice(["low", "normal", "high"]), "due_date": due}
        status, task = api.post_json("create", "/api/tasks/", payload)
        api.call("list", "GET", "/api/tasks/?page_size=20")
        if status == 201:
            api.post_json("complete", f"/api/tasks/{task['id']}/complete/", {})
        api.call("me", "GET", "/api/me/")


@dataclass
class Work:
    """A report or an import the heavy client started, as the poller last saw it."""

    kind: str  # "report" or "import"
    status_url: str
    requested_at: float  # time.time() when its request was sent
    rows: int = 0  # an import: rows in its file
    status: str = ""  # its final status; "" while pending or running
    seconds: float | None = None  # from its request to its end
    created: int | None = None  # an import's counts
    failed: int | None = None


@dataclass
class Heavy:
    """The heavy user: a report and an import started every second, and a poller following them."""

    api: Api
    today: datetime.date
    days: int  # the reports cycle through this many past days
    import_rows: int
    works: list[Work] = field(default_factory=list)
    folded: int = 0  # requests answered with work already in progress (200, not 202)
    give_up: float = math.inf  # time.monotonic() after which the poller stops
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded: threading.Event = field(default_factory=threading.Event)

    def run(self, started: float, deadline: float) -> None:
        """Start second k's report and import at started + k s, each second in a thread of its own."""
        ticks = []
        k = 0
        while started + k < deadline:
            time.sleep(max(0.0, started + k - time.monotonic()))
            ticks.append(threading.Thread(target=self.tick, args=(k,)))
            ticks[-1].start()
            k += 1
        for tick in ticks:
            tick.join()
        self.loaded.set()

    def tick(self, k: int) -> None:
        day = (self.today - datetime.timedelta(days=1 + k % self.days)).isoformat()
        report = {"format": ["xlsx", "pdf"][k % 2], "date_from": day, "date_to": day}
        requested_at = time.time()
        self.started("report", requested_at, 0, *self.api.post_json("report", "/api/reports/", report))
        boundary = uuid.uuid4().hex
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="tasks.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{self.csv(k)}\r\n--{boundary}--\r\n"
        ).encode()
        requested_at = time.time()
        answer = self.api.call("import", "POST", "/api/imports/", body, f"multipart/form-data; boundary={boundary}")
        self.started("import", requested_at, self.import_rows, *answer)

    def csv(self, k: int) -> str:
        """`import_rows` valid rows, unique in the run, statuses and priorities mixed."""
        statuses, priorities = ["todo", "in_progress", "done"], ["low", "normal", "high"]
        rows = [
            f"heavy import {k}-{n},from the heavy client's file {k},{statuses[n % 3]},{priorities[n // 3 % 3]},"
            + ("" if n % 2 else (self.today + datetime.timedelta(days=30 + n % 60)).isoformat())
            for n in range(self.import_rows)
        ]
        return "title,description,status,priority,due_date\n" + "\n".join(rows) + "\n"

    def started(self, kind: str, requested_at: float, rows: int, status: int, body: dict) -> None:
        if status in (200, 202):
            with self.lock:
                self.folded += status == 200
                if all(work.status_url != body["status_url"] for work in self.works):
                    self.works.append(Work(kind, body["status_url"], requested_at, rows))

    def follow(self) -> None:
        """Poll each unfinished report and import until the load is over and all have finished, or give_up."""
        while time.monotonic() < self.give_up:
            with self.lock:
                unfinished = [work for work in self.works if not work.status]
            if not unfinished and self.loaded.is_set():
                return
            for work in unfinished:
                status, row = self.api.call("poll", "GET", work.status_url)
                if status != 200 or row["status"] in BUSY:
                    continue
                finished = row.get("finished_at")
                end = datetime.datetime.fromisoformat(finished).timestamp() if finished else time.time()
                work.seconds = end - work.requested_at
                work.created, work.failed = row.get("created"), row.get("failed")
                work.status = row["status"]
            time.sleep(0.5)


@dataclass
class Transaction:
    log: str
    held: float  # ms
    waited: float  # ms
    origin: str


@dataclass
class Phase:
    name: str
    loadavg: tuple[float, float, float]  # os.getloadavg() just before it
    started: float  # time.monotonic()
    seconds: float
    everyday: list[Sample]
    heavy: list[Sample]
    cpu: dict[str, float] = field(default_factory=dict)  # cores each process used during the phase
    locked: dict[str, int] = field(default_factory=dict)  # "database is locked" lines per log, to the next phase
    transactions: list[Transaction] = field(default_factory=list)  # logged slow write transactions, to the next phase

    def latencies(self, kind: str = "") -> list[float]:
        """Milliseconds of the everyday requests sent during the phase (of one kind, or all)."""
        end = self.started + self.seconds
        return [s.seconds * 1000 for s in self.everyday if s.at < end and (not kind or s.kind == kind)]

    @property
    def rate(self) -> float:
        return len(self.latencies()) / self.seconds


@dataclass(repr=False)
class Outcome:
    workspace: int  # tasks seeded for the heavy user
    days: int  # ... over this many days
    everyday_users: int
    import_rows: int
    phases: list[Phase]
    works: list[Work]
    folded: int
    jobs: dict[str, int]  # "name state": how many, of every job in the history
    unfinished_jobs: int  # not in a finished state when the run stopped waiting
    refused: list[str]  # the first responses that were not 2xx

    def samples(self) -> list[Sample]:
        return [s for phase in self.phases for s in [*phase.everyday, *phase.heavy]]

    @property
    def server_errors(self) -> int:
        return sum(s.status >= 500 for s in self.samples())

    @property
    def lost(self) -> int:
        return sum(s.status == 0 for s in self.samples())

    @property
    def locked(self) -> int:
        return sum(n for phase in self.phases for n in phase.locked.values())

    @property
    def jobs_not_succeeded(self) -> dict[str, int]:
        return {job: n for job, n in self.jobs.items() if not job.endswith(" succeeded")}

    def of(self, kind: str) -> list[Work]:
        return [work for work in self.works if work.kind == kind]

    @property
    def wrong_imports(self) -> list[Work]:
        return [w for w in self.of("import") if (w.status, w.created, w.failed) != ("succeeded", w.rows, 0)]

    @property
    def reports_not_succeeded(self) -> list[Work]:
        return [work for work in self.of("report") if work.status != "succeeded"]

    def checks(self) -> list[tuple[str, bool, str]]:
        """What must hold whatever the speed: (what, passed, detail)."""
        wrong = [
            f"{w.status_url}: {w.status or 'unfinished'}, created {w.created} failed {w.failed}"
            for w in self.wrong_imports
        ]
        reports = [f"{w.status_url}: {w.status or 'unfinished'}" for w in self.reports_not_succeeded]
        not_succeeded = self.jobs_not_succeeded
        unfinished = f", {self.unfinished_jobs} unfinished" if self.unfinished_jobs else ""
        return [
            ("no 5xx response", not self.server_errors, "\n".join(r for r in self.refused if ": 5" in r)),
            ("no request without an answer", not self.lost, "\n".join(r for r in self.refused if ": 0 " in r)),
            ("every job succeeded", not not_succeeded and not self.unfinished_jobs, f"{not_succeeded}{unfinished}"),
            (f"every import created exactly its {self.import_rows:,} rows", not wrong, "\n".join(wrong[:10])),
            ("every report succeeded", not reports, "\n".join(reports[:10])),
        ]

    @property
    def passed(self) -> bool:
        return all(ok for _, ok, _ in self.checks())

    def targets(self) -> list[tuple[str, bool]]:
        """The issue's targets: (what and the figure, met)."""
        alone, heavy = self.phases
        share = ratio(heavy.rate, alone.rate)
        p99_alone, p99_heavy = percentile(alone.latencies(), 0.99), percentile(heavy.latencies(), 0.99)
        p99_ratio = ratio(p99_heavy, p99_alone)
        not_succeeded = sum(self.jobs_not_succeeded.values()) + self.unfinished_jobs
        imports = self.of("import")
        slow = [w for w in imports if w.seconds is None or w.seconds > MAX_IMPORT_SECONDS]
        slowest = max((w.seconds for w in imports if w.seconds is not None), default=math.nan)
        return [
            (f"everyday req/s with heavy ≥ {MIN_RATE_SHARE:.0%} of alone: {share:.0%}", share >= MIN_RATE_SHARE),
            (
                f"everyday p99 with heavy ≤ {MAX_P99_RATIO:g}× alone and < {MAX_P99_MS:g} ms:"
                f" {p99_heavy:,.0f} ms, {p99_ratio:.2f}× alone",
                p99_ratio <= MAX_P99_RATIO and p99_heavy < MAX_P99_MS,
            ),
            (f"0 5xx: {self.server_errors}", not self.server_errors),
            (f'0 "{LOCKED}": {self.locked}', not self.locked),
            (f"0 failed jobs: {not_succeeded}", not not_succeeded),
            (
                f"every import done within {MAX_IMPORT_SECONDS:g} s of its upload:"
                f" {len(slow)} of {len(imports)} later, the slowest {slowest:.1f} s",
                bool(imports) and not slow,
            ),
        ]


def run(
    stack: LiveStack,
    *,
    everyday: int = 8,
    seconds: float = 60,
    workspace: int = 0,
    import_rows: int = 2000,
    finish_timeout: float = 600,
    seed: int = 1,
) -> Outcome:
    """On `stack` (started): seed the workspace, run the two phases, wait for the work, read the logs."""
    users = json.loads(stack.shell(CREATE_USERS.format(count=everyday)))
    tokens, today = users["tokens"], datetime.date.fromisoformat(users["today"])
    days = int(stack.shell(SEED.format(count=workspace, per_day=SEEDED_PER_DAY))) if workspace else 0
    heavy_token = tokens.pop("heavy")
    rng = random.Random(seed)
    refused = []

    def everyday_phase(deadline: float) -> tuple[list[Api], list[threading.Thread]]:
        apis = [Api(stack.url, token) for token in tokens.values()]
        loops = [
            threading.Thread(target=everyday_loop, args=(api, deadline, today, random.Random(rng.random())))
            for api in apis
        ]
        for loop in loops:
            loop.start()
        return apis, loops

    # 1. alone
    offsets = log_sizes(stack)
    phases = [Phase("alone", os.getloadavg(), time.monotonic(), seconds, [], [])]
    cpu = cpu_seconds(stack)
    apis, loops = everyday_phase(phases[0].started + seconds)
    for loop in loops:
        loop.join()
    phases[0].cpu = cores_used(cpu, cpu_seconds(stack), time.monotonic() - phases[0].started)
    phases[0].everyday = [s for api in apis for s in api.samples]
    refused += [r for api in apis for r in api.refused]
    wait_for_jobs(stack, finish_timeout)

    # 2. with heavy
    offsets2 = log_sizes(stack)
    read_logs(stack, phases[0], offsets, offsets2)
    phases.append(Phase("with heavy", os.getloadavg(), time.monotonic(), seconds, [], []))
    deadline = phases[1].started + seconds
    heavy = Heavy(Api(stack.url, heavy_token), today, days or 30, import_rows)
    cpu = cpu_seconds(stack)
    apis, loops = everyday_phase(deadline)
    load = threading.Thread(target=heavy.run, args=(phases[1].started, deadline))
    poller = threading.Thread(target=heavy.follow)
    load.start()
    poller.start()
    for loop in loops:
        loop.join()
    phases[1].cpu = cores_used(cpu, cpu_seconds(stack), time.monotonic() - phases[1].started)
    give_up = time.monotonic() + finish_timeout
    heavy.give_up = give_up
    load.join()
    poller.join()
    unfinished = wait_for_jobs(stack, max(1.0, give_up - time.monotonic()))
    phases[1].everyday = [s for api in apis for s in api.samples]
    phases[1].heavy = heavy.api.samples
    refused += [r for api in apis for r in api.refused] + heavy.api.refused
    read_logs(stack, phases[1], offsets2, log_sizes(stack))
    jobs = json.loads(stack.shell(JOBS))
    return Outcome(workspace, days, everyday, import_rows, phases, heavy.works, heavy.folded, jobs, unfinished, refused)


def _process_times() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used), of every process on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        times[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return times


def cpu_seconds(stack: LiveStack) -> dict[str, float]:
    """CPU seconds used so far by the web server (its workers included), the consumer (and the
    process it builds files in), these clients, and the whole machine."""
    times = _process_times()

    def tree(root: int) -> float:
        pids, total = [root], 0.0
        while pids:
            pid = pids.pop()
            total += times.get(pid, (0, 0.0))[1]
            pids += [child for child, (parent, _) in times.items() if parent == pid]
        return total

    machine = sum(int(n) for n in Path("/proc/stat").read_text().split()[1:9] if n) / os.sysconf("SC_CLK_TCK")
    idle = [int(n) for n in Path("/proc/stat").read_text().split()[4:6]]
    return {
        "web": tree(stack.web.pid),
        "consumer": sum(tree(consumer.pid) for consumer in [stack.consumer, *stack.more_consumers]),
        "clients": times[os.getpid()][1],
        "machine": machine - sum(idle) / os.sysconf("SC_CLK_TCK"),
    }


def cores_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    return {name: (after[name] - before[name]) / seconds for name in before}


def wait_for_jobs(stack: LiveStack, timeout: float) -> int:
    """Wait until every job in the history has finished, at most `timeout` s; return how many have not."""
    give_up = time.monotonic() + timeout
    while (unfinished := int(stack.shell(UNFINISHED_JOBS))) and time.monotonic() < give_up:
        time.sleep(2)  # each look starts a `manage.py shell`: not too often
    return unfinished


def log_sizes(stack: LiveStack) -> dict[str, int]:
    return {name: (stack.data_dir / name).stat().st_size for name in LOGS if (stack.data_dir / name).exists()}


def read_logs(stack: LiveStack, phase: Phase, start: dict[str, int], end: dict[str, int]) -> None:
    """Count the phase's "database is locked" lines and read its slow write transactions, per log."""
    for name, end_size in end.items():
        with open(stack.data_dir / name, "rb") as log:
            log.seek(start.get(name, 0))
            text = log.read(end_size - start.get(name, 0)).decode(errors="replace")
        lines = text.splitlines()
        phase.locked[name] = sum(LOCKED in line for line in lines)
        for line in lines:
            if match := TRANSACTION.search(line):
                waited, origin = WAITED.search(line), ORIGIN.search(line)
                phase.transactions.append(
                    Transaction(
                        name,
                        float(match["held"]),
                        float(waited["waited"]) if waited else 0.0,
                        origin["origin"].strip() if origin else "?",
                    )
                )


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def report(outcome: Outcome) -> str:
    """The figures of one workspace size, its targets and its checks."""
    alone, heavy = outcome.phases
    seeded = f"{outcome.workspace:,} tasks over {outcome.days} days" if outcome.workspace else "empty"
    lines = [
        f"== heavy user's workspace: {seeded}",
        *(
            f"load average before {phase.name}: {' '.join(f'{n:.2f}' for n in phase.loadavg)}"
            for phase in outcome.phases
        ),
        "",
        f"{f'everyday clients ({outcome.everyday_users})':28}{'alone':>12}{'with heavy':>12}{'with ÷ alone':>14}",
    ]

    def row(label: str, a: float, b: float, with_ratio: bool = False, digits: int = 0) -> str:
        shown = f"{ratio(b, a):13.2f}×" if with_ratio else ""
        return f"{label:28}{a:12,.{digits}f}{b:12,.{digits}f}{shown}"

    lines.append(row("requests/s", alone.rate, heavy.rate, with_ratio=True, digits=1))
    lines.append(row("requests", len(alone.latencies()), len(heavy.latencies())))
    for label, share in [("p50 ms", 0.5), ("p95 ms", 0.95), ("p99 ms", 0.99)]:
        a, b = percentile(alone.latencies(), share), percentile(heavy.latencies(), share)
        lines.append(row(label, a, b, with_ratio=label == "p99 ms", digits=1))
    highest = max(alone.latencies(), default=math.nan), max(heavy.latencies(), default=math.nan)
    lines.append(row("max ms", *highest, digits=1))
    for kind in ("create", "list", "complete", "me"):
        for label, share in [("p50", 0.5), ("p99", 0.99)]:
            a, b = percentile(alone.latencies(kind), share), percentile(heavy.latencies(kind), share)
            lines.append(row(f"  {kind} {label} ms", a, b, digits=1))

    def failures(samples: list[Sample]) -> str:
        return f"{sum(s.status >= 500 for s in samples)} / {sum(s.status == 0 for s in samples)}"

    lines.append(f"{'5xx / no answer, everyday':28}{failures(alone.everyday):>12}{failures(heavy.everyday):>12}")
    lines.append(f"{'5xx / no answer, heavy':28}{'-':>12}{failures(heavy.heavy):>12}")
    other = Counter(s.status for s in outcome.samples() if 300 <= s.status < 500)
    if other:
        lines.append(f"other responses not 2xx: {dict(other)}")
    for name in ("web", "consumer", "clients", "machine"):
        cores = [phase.cpu.get(name, math.nan) for phase in outcome.phases]
        lines.append(row(f"cores used, {name}", *cores, digits=2))
    for name in LOGS:
        counts = [phase.locked.get(name, 0) for phase in outcome.phases]
        lines.append(f"{f'locked lines, {name}':28}{counts[0]:12,}{counts[1]:12,}")
    logged = [phase.transactions for phase in outcome.phases]
    lines.append(f"{'write transactions logged':28}{len(logged[0]):12,}{len(logged[1]):12,}")
    totals = [sum(t.held for t in phase) for phase in logged]
    lines.append(f"{'  their held ms, total':28}{totals[0]:12,.0f}{totals[1]:12,.0f}")
    lines.append(
        f"(locked lines: {LOCKED!r}; transactions logged: held or waited ≥ {STACK_ENV['DB_TRANSACTION_LOG_MS']} ms;"
        " the logs' 'with heavy' column runs to the end of the wait for its work)"
    )
    heavy_ms = defaultdict(list)
    for sample in heavy.heavy:
        heavy_ms[sample.kind].append(sample.seconds * 1000)
    lines.append(
        "heavy client's requests: "
        + ", ".join(f"{kind} {len(ms)} p50 {median(ms):,.0f} max {max(ms):,.0f} ms" for kind, ms in heavy_ms.items())
    )

    jobs = outcome.jobs
    not_succeeded = outcome.jobs_not_succeeded
    lines += ["", f"jobs: {sum(jobs.values()):,}; not succeeded: {not_succeeded or 'none'}"]
    if outcome.unfinished_jobs:
        lines.append(f"jobs still unfinished when the wait ended: {outcome.unfinished_jobs}")
    imports, reports = outcome.of("import"), outcome.of("report")
    done = [w.seconds for w in imports if w.seconds is not None]
    exact = len(imports) - len(outcome.wrong_imports)
    lines.append(
        f"imports: {len(imports)}, {exact} created exactly {outcome.import_rows:,} rows;"
        f" request to done p50 {median(done):.1f} s, max {max(done, default=math.nan):.1f} s"
    )
    done = [w.seconds for w in reports if w.seconds is not None]
    succeeded = sum(w.status == "succeeded" for w in reports)
    lines.append(
        f"reports: {len(reports)}, {succeeded} succeeded; request to done p50 {median(done):.1f} s,"
        f" max {max(done, default=math.nan):.1f} s"
    )
    if outcome.folded:
        lines.append(f"requests answered with work already in progress: {outcome.folded}")

    by_origin: dict[str, list[Transaction]] = defaultdict(list)
    for transaction in [t for phase in logged for t in phase]:
        by_origin[transaction.origin].append(transaction)
    longest = sorted(by_origin.items(), key=lambda item: -max(t.held for t in item[1]))[:10]
    lines += ["", "the longest write transactions, by origin (both phases, web and consumer):"]
    lines.append(f"{'count':>7}{'max held ms':>13}{'total held ms':>15}{'max waited ms':>15}  origin")
    for origin, transactions in longest:
        held = [t.held for t in transactions]
        waited = max(t.waited for t in transactions)
        lines.append(f"{len(held):7,}{max(held):13,.1f}{sum(held):15,.0f}{waited:15,.1f}  {origin}")
    if not longest:
        lines.append("  (none logged)")

    lines += ["", "targets:"]
    lines += [f"{'PASS' if ok else 'FAIL'}  {what}" for what, ok in outcome.targets()]
    lines += ["checks (exit 1 when one fails):"]
    for what, ok, detail in outcome.checks():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {what}" + (f"\n      {detail}" if detail and not ok else ""))
    return "\n".join(lines)


def sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",") if size.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--everyday", type=int, default=8, help="everyday clients")
    parser.add_argument("--seconds", type=float, default=60, help="of each phase")
    parser.add_argument(
        "--workspaces", type=sizes, default=[0, 50_000], help="tasks seeded for the heavy user, one run each"
    )
    parser.add_argument("--workspace", type=int, help="one size: the same as --workspaces N")
    parser.add_argument("--import-rows", type=int, default=2000, help="rows of each of the heavy client's imports")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--web-threads", type=int, default=4, help="threads of each gunicorn process")
    parser.add_argument("--consumer-nice", type=int, default=0, help="start run_huey under `nice -n N`")
    parser.add_argument(
        "--files-consumer",
        type=int,
        default=10,
        help=f"the lanes {FILE_LANES} in a second run_huey under `nice -n N`, as `make run` does; -1: one consumer",
    )
    parser.add_argument("--finish-timeout", type=float, default=600, help="the longest wait for the work after a phase")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    workspaces = [args.workspace] if args.workspace is not None else args.workspaces
    engine = "PostgreSQL" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(
        f"{time.strftime('%Y-%m-%d %H:%M')}, {engine}, gunicorn {args.web_workers} workers × {args.web_threads}"
        f" threads, run_huey nice {args.consumer_nice}"
        + (f" + one for {FILE_LANES} nice {args.files_consumer}" if args.files_consumer >= 0 else "")
        + f", {args.everyday} everyday clients + 1 heavy,"
        f" {args.seconds:g} s a phase, imports of {args.import_rows:,} rows",
        flush=True,
    )
    passed = True
    for workspace in workspaces:
        with tempfile.TemporaryDirectory(prefix="interference-") as tmp:
            stack = stack_for(Path(tmp) / "data")
            try:
                start(stack, args.web_workers, args.web_threads, args.consumer_nice, args.files_consumer)
                outcome = run(
                    stack,
                    everyday=args.everyday,
                    seconds=args.seconds,
                    workspace=workspace,
                    import_rows=args.import_rows,
                    finish_timeout=args.finish_timeout,
                    seed=args.seed,
                )
            except BaseException as error:
                print(stack.logs(), getattr(error, "stderr", ""), file=sys.stderr, sep="\n")  # a manage.py's own
                raise
            finally:
                stack.stop()
        print(report(outcome), flush=True)
        passed = passed and outcome.passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
