"""What each click costs: SQL queries and CPU per request, for every page and API endpoint people use.

    .venv/bin/python bench/page_cost.py [--sizes 1000,100000] [--calls 20] [--rounds 2] [--only REGEX]
        [--against DIR [--against-label before]] [--tree DIR] [--html DIR]

Each column of the table is one checkout measured in a fresh process of its own: this one, and
with `--against DIR` another one first (a copy of an earlier commit, e.g. `mkdir /tmp/base &&
git archive HEAD | tar -x -C /tmp/base`), so that a change is shown with and without in one run.
Each process builds the same data (a fixed seed) on a temporary DATA_DIR with its own SQLite
database, with the real settings (DEBUG off, so Django's cached template loader is on;
HUEY_IMMEDIATE off: a request enqueues its jobs, a consumer would run them):

- N tasks (each `--sizes`, grown in place from the smaller size): 50 of them belong to the person
  the pages are asked as (pat, no permissions; 10 more pat gave to others), the others to 19
  other people, created over the last 365 days, a third done, most with a due date (the older
  open ones overdue);
- N / 5 notifications (40 of them pat's, 15 unread), N / 10 emails, a job history of N / 2
  finished jobs over the last 14 days (the jobs and emails of pat's task page among them),
  hourly task statistics of the last 60 days, reports, imports and exports of pat's (one of each
  still running), a periodic job's ledger of the last week.

Each page is asked through Django's test client (a session, as a browser has): `--warmup` times
first (templates compiled, counts recounted), then once with its SQL queries counted, then
`--calls` times timed with time.process_time() (the process's CPU: Django and SQLite, which runs
in the process), of which the median is shown. "/ after a write" alternates a task created through
the API with the task list and times the list only: its cost when the figures it shows changed.
`/ops/` pages are asked as a staff superuser. Queries of the Huey queue (its own SQLite file) and
of the rate limits are not counted; they are the same at any size.

`--html DIR` writes each page's HTML to DIR/<column>/<size>/ (CSRF tokens blanked) to compare
what people see between two columns (`diff -r -w`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PERSON_TASKS = 50
OTHERS = 19
WORDS = ["invoice", "deploy", "review", "meeting", "report", "backup", "hiring", "budget"]


# -- the data ----------------------------------------------------------------------------------


def grow(size: int, state: dict) -> None:
    """Add tasks (and the rows that come with them) until there are `size`; the first call makes the people."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from tasks_app.models import Email, Notification, Task
    from tasks_app.services.user_stats import user_stats_refresh

    User = get_user_model()
    now = state.setdefault("now", timezone.now())
    rng = random.Random(size)
    if "person" not in state:
        password = make_password("a-long-bench-password")
        User.objects.bulk_create(
            [User(username="pat", email="pat@example.com", password=password, first_name="Pat")]
            + [User(username=f"user{n}", email=f"user{n}@example.com", password=password) for n in range(OTHERS)]
            + [User(username="ops", email="ops@example.com", password=password, is_staff=True, is_superuser=True)]
        )
        state["person"] = User.objects.get(username="pat").pk
        state["others"] = list(User.objects.filter(username__startswith="user").values_list("pk", flat=True))
        state["staff"] = User.objects.get(username="ops").pk
        state["tasks"] = state["notices"] = state["emails"] = 0
        _person_rows(state, now)
    person, others = state["person"], state["others"]

    tasks = []
    for n in range(state["tasks"], size - PERSON_TASKS - 10):
        owner = others[n % OTHERS]
        created = now - datetime.timedelta(days=365 * rng.random())
        tasks.append(_task(n, owner, owner if n % 7 else others[(n + 3) % OTHERS], created, now))
    insert(Task, tasks)
    state["tasks"] = max(state["tasks"], size - PERSON_TASKS - 10)

    task_ids = list(Task.objects.exclude(owner_id=person).values_list("pk", flat=True))
    notices = [
        {
            "user_id": others[n % OTHERS],
            "kind": Notification.Kind.TASK_ASSIGNED,
            "message": f"Someone gave you a task: {WORDS[n % 8]} {n}",
            "data": {"task_id": rng.choice(task_ids)},
            "read_at": None if n % 4 == 0 else now,
        }
        for n in range(state["notices"], size // 5)
    ]
    insert(Notification, notices)
    state["notices"] = max(state["notices"], size // 5)
    emails = []
    for n in range(state["emails"], size // 10):
        task = rng.choice(task_ids)
        emails.append(
            {
                "user_id": others[n % OTHERS],
                "kind": Email.Kind.TASK,
                "to": f"user{n % OTHERS}@example.com",
                "subject": f"Task {n}",
                "body": "…",
                "status": Email.Status.SENT,
                "sent_at": now,
                "dedup_key": f"task-email:{task}:bench-{n}",
                "task_id": task,  # where the model has it (the task's page reads its mails by it)
            }
        )
    insert(Email, emails)
    state["emails"] = max(state["emails"], size // 10)
    _job_history(size // 2, task_ids, state, now, rng)
    for user in User.objects.all():
        user_stats_refresh(user)


def insert(model, rows: list[dict]) -> None:
    """Write rows (values by attribute name; the fields' defaults for the others) with executemany:
    bulk_create's preparing of each value took most of a minute for 100,000 tasks."""
    from django.db import connection, models, transaction
    from django.utils import timezone

    if not rows:
        return
    fields = [field for field in model._meta.concrete_fields if not isinstance(field, models.AutoField)]
    now = timezone.now()
    defaults = {
        field.attname: now
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        else field.get_default()
        for field in fields
    }
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    sql = f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"
    values = [tuple(_stored(row.get(field.attname, defaults[field.attname])) for field in fields) for row in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, values)


def _has_field(model, attname: str) -> bool:
    return any(field.attname == attname for field in model._meta.concrete_fields)


def _stored(value):
    """A value as Django's SQLite backend stores it."""
    if isinstance(value, datetime.datetime):
        return str(value.astimezone(datetime.UTC).replace(tzinfo=None))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _task(n: int, owner: int, created_by: int, created: datetime.datetime, now: datetime.datetime) -> dict:
    from tasks_app.models import Task

    status = [Task.Status.TODO, Task.Status.IN_PROGRESS, Task.Status.DONE][n % 3]
    completed = min(created + datetime.timedelta(hours=5 + n % 90), now) if status == Task.Status.DONE else None
    return {
        "title": f"{WORDS[n % 8].capitalize()} {n}",
        "description": f"About the {WORDS[(n + 3) % 8]} of week {n % 52}.",
        "owner_id": owner,
        "created_by_id": created_by,
        "status": status,
        "priority": [Task.Priority.LOW, Task.Priority.NORMAL, Task.Priority.HIGH][n // 3 % 3],
        "due_date": None if n % 4 == 0 else (created + datetime.timedelta(days=14 + n % 30)).date(),
        "completed_at": completed,
        "created_at": created,
        "updated_at": completed or created,
    }


def _person_rows(state: dict, now: datetime.datetime) -> None:
    """Pat's own tasks, notifications, reports, imports and exports, and the jobs about them."""
    from tasks_app.models import JobRun, Notification, Report, Task, TaskImport, TaskStatsSnapshot, WorkspaceExport

    person, others = state["person"], state["others"]
    insert(
        Task,
        [
            _task(n, person, person if n % 5 else others[n % OTHERS], now - datetime.timedelta(days=n, hours=3), now)
            for n in range(PERSON_TASKS)
        ]
        + [_task(n, others[n % OTHERS], person, now - datetime.timedelta(days=n), now) for n in range(10)],
    )
    task = Task.objects.filter(owner_id=person).order_by("-created_at").first()
    state["task"] = task.pk
    Notification.objects.bulk_create(
        Notification(
            user_id=person,
            kind=Notification.Kind.TASK_ASSIGNED,
            message=f"User {n % OTHERS} gave you a task: {WORDS[n % 8]} {n}",
            data={"task_id": task.pk},
            read_at=None if n < 15 else now,
        )
        for n in range(40)
    )
    hour = now.replace(minute=0, second=0, microsecond=0)
    TaskStatsSnapshot.objects.bulk_create(
        TaskStatsSnapshot(hour=hour - datetime.timedelta(hours=h), created=h % 7, completed=h % 5, overdue=300 + h % 11)
        for h in range(1, 60 * 24)
    )
    files = []
    for model, extra in ((Report, {"format": "csv"}), (TaskImport, {}), (WorkspaceExport, {})):
        rows = [
            model(owner_id=person, status=model.Status.SUCCEEDED if n else model.Status.RUNNING, **extra)
            for n in range(5)
        ]
        model.objects.bulk_create(rows)
        for row in model.objects.filter(owner_id=person):
            row.job_id = f"{model.__name__.lower()}-{row.pk}"
            row.save(update_fields=["job_id"])
            files.append(
                JobRun(
                    id=row.job_id,
                    name=f"tasks_app.jobs.files.{'report_build' if model is Report else 'import_run' if model is TaskImport else 'export_part'}",
                    queue="tasks_app",
                    state=JobRun.State.RUNNING if row.status == model.Status.RUNNING else JobRun.State.SUCCEEDED,
                    triggered_by_id=person,
                    enqueued_at=now - datetime.timedelta(minutes=row.pk),
                    progress_current=40,
                    progress_total=100,
                )
            )
    JobRun.objects.bulk_create(files)
    state["import"] = TaskImport.objects.filter(owner_id=person).first().pk
    for name in ("task_assigned_notify", "task_completed_notify"):
        JobRun.objects.create(
            id=f"{name}-{task.pk}",
            name=f"tasks_app.jobs.{'notifications' if 'assigned' in name else 'emails'}.{name}",
            queue="tasks_app",
            args=[task.pk],
            state=JobRun.State.SUCCEEDED,
            triggered_by_id=others[0],
            enqueued_at=now - datetime.timedelta(hours=1),
            finished_at=now - datetime.timedelta(hours=1),
            **({"task_id": task.pk} if _has_field(JobRun, "task_id") else {}),
        )
    state["job"] = f"task_assigned_notify-{task.pk}"
    state["jobs"] = 0


def _job_history(size: int, task_ids: list[int], state: dict, now: datetime.datetime, rng: random.Random) -> None:
    """Finished jobs over the last 14 days (JOB_HISTORY_DAYS), of the app's own job names; the ticks of a periodic job."""
    from huey.contrib.djhuey import HUEY

    from tasks_app.models import JobRun, PeriodicTick

    names = sorted(HUEY._registry._registry)
    task_jobs = ["tasks_app.jobs.notifications.task_assigned_notify", "tasks_app.jobs.emails.task_completed_notify"]
    runs = []
    for n in range(state["jobs"], size):
        name = task_jobs[n % 2] if n % 3 else names[n % len(names)]
        enqueued = now - datetime.timedelta(days=14 * rng.random())
        about = rng.choice(task_ids) if name in task_jobs else None
        runs.append(
            {
                "id": f"bench-{n}",
                "name": name,
                "queue": "tasks_app",
                "args": [about] if about else [],
                "task_id": about,  # where the model has it (the task's page reads its jobs by it)
                "state": JobRun.State.FAILED if n % 97 == 0 else JobRun.State.SUCCEEDED,
                "error": "SMTPServerDisconnected: closed" if n % 97 == 0 else "",
                "triggered_by_id": state["others"][n % OTHERS] if n % 2 else None,
                "enqueued_at": enqueued,
                "started_at": enqueued + datetime.timedelta(seconds=0.01),
                "finished_at": enqueued + datetime.timedelta(seconds=0.5),
                "duration": 0.49,
                "attempts": 1,
                "deliveries": 1,
            }
        )
    insert(JobRun, runs)
    state["jobs"] = max(state["jobs"], size)
    if "periodic" not in state:
        from tasks_app.services.periodic_ledger import periodic_task_class

        name = "tasks_app.jobs.maintenance.stats_snapshot"
        task_class = periodic_task_class(name)
        due = list(task_class.periodic_schedule.ticks(now - datetime.timedelta(days=7), now))
        PeriodicTick.objects.bulk_create(
            PeriodicTick(name=name, due_at=at, outcome=PeriodicTick.Outcome.RAN, recorded_at=at) for at in due
        )
        state["periodic"] = name


# -- the pages ---------------------------------------------------------------------------------


def pages(state: dict) -> list[tuple[str, str, str, dict]]:
    """(label, method, path, options) of every page and endpoint measured; options: `staff`, `json` (a body)."""
    task, job, imported = state["task"], state["job"], state["import"]
    return [
        ("GET /", "get", "/", {}),
        ("GET /?q=invoice", "get", "/?q=invoice", {}),
        ("GET /?status=todo&sort=priority", "get", "/?status=todo&sort=priority", {}),
        ("GET /?overdue=1&mine=1&sort=due", "get", "/?overdue=1&mine=1&sort=due", {}),
        ("GET /?page=2", "get", "/?page=2", {}),
        ("GET / after a write", "get", "/", {"after_write": True}),
        ("GET /tasks/<id>/", "get", f"/tasks/{task}/", {}),
        ("GET /tasks/new/", "get", "/tasks/new/", {}),
        ("GET /tasks/<id>/edit/", "get", f"/tasks/{task}/edit/", {}),
        ("GET /notifications/", "get", "/notifications/", {}),
        ("GET /notifications/badge/", "get", "/notifications/badge/", {}),
        ("GET /reports/", "get", "/reports/", {}),
        ("GET /imports/", "get", "/imports/", {}),
        ("GET /imports/<id>/", "get", f"/imports/{imported}/", {}),
        ("GET /exports/", "get", "/exports/", {}),
        ("GET /account/", "get", "/account/", {}),
        ("GET /api/tasks/?page_size=20", "get", "/api/tasks/?page_size=20", {}),
        ("GET /api/tasks/?mine=true&ordering=-due_date", "get", "/api/tasks/?mine=true&ordering=-due_date", {}),
        ("POST /api/tasks/", "post", "/api/tasks/", {"json": {"title": "A new task", "priority": "high"}}),
        ("GET /api/tasks/<id>/", "get", f"/api/tasks/{task}/", {}),
        ("GET /api/me/", "get", "/api/me/", {}),
        ("GET /api/notifications/", "get", "/api/notifications/", {}),
        ("GET /ops/ (staff)", "get", "/ops/", {"staff": True}),
        ("GET /ops/?panel=1 (staff)", "get", "/ops/?panel=1", {"staff": True}),
        ("GET /ops/jobs/ (staff)", "get", "/ops/jobs/", {"staff": True}),
        ("GET /ops/jobs/<id>/ (staff)", "get", f"/ops/jobs/{job}/", {"staff": True}),
        ("GET /ops/schedule/<name>/ (staff)", "get", f"/ops/schedule/{state['periodic']}/", {"staff": True}),
    ]


class Pages:
    """A worker's pages at its current size, asked through Django's test client."""

    def __init__(self, state: dict) -> None:
        from django.contrib.auth import get_user_model
        from django.test import Client

        User = get_user_model()
        self.person, self.staff = Client(), Client()
        self.person.force_login(User.objects.get(pk=state["person"]))
        self.staff.force_login(User.objects.get(pk=state["staff"]))
        self.pages = pages(state)
        self.warm: set[str] = set()

    def ask(self, label: str, method: str, path: str, options: dict):
        client = self.staff if options.get("staff") else self.person
        if "json" in options:
            response = client.post(path, options["json"], content_type="application/json")
        else:
            response = getattr(client, method)(path)
        if response.status_code >= 400:
            raise RuntimeError(f"{label}: {response.status_code} {response.content[:300]!r}")
        return response

    def recycle_connection(self) -> None:
        """Each page asked once, then the database connection closed and opened again, as a
        server's are after their first CONN_MAX_AGE (the checkout's backend may do its closing work)."""
        from django.db import connection

        for label, method, path, options in self.pages:
            self.ask(label, method, path, options)
        connection.close()

    def write(self) -> None:
        """A task created through the API: the figures the task list shows change."""
        self.person.post("/api/tasks/", {"title": "Written between two views"}, content_type="application/json")

    def measure(self, index: int, calls: int, warmup: int, html: Path | None) -> dict:
        """One page's queries (counted once) and the CPU ms of each of `calls` requests; warmed up the first time."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        label, method, path, options = self.pages[index]
        between = self.write if options.get("after_write") else lambda: None
        if label not in self.warm:
            for _ in range(warmup):
                between()
                self.ask(label, method, path, options)
            self.warm.add(label)
        between()
        with CaptureQueriesContext(connection) as captured:
            response = self.ask(label, method, path, options)
        queries = len(captured)  # now: the next request empties the connection's log
        if html is not None and method == "get" and response["Content-Type"].startswith("text/html"):
            name = re.sub(r"[^\w]+", "_", label.removeprefix("GET ")).strip("_") or "root"
            text = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]*', r"\1", response.content.decode())
            html.mkdir(parents=True, exist_ok=True)
            (html / f"{name}.html").write_text(text)
        cpu = []
        for _ in range(calls):
            between()
            started = time.process_time()
            self.ask(label, method, path, options)
            cpu.append((time.process_time() - started) * 1000)
        return {"queries": queries, "cpu_ms": cpu}


def serve(args) -> None:
    """Serve the parent's commands, one JSON line each on stdin, for this process's checkout (its
    root first on sys.path): {"grow": size} builds the data, {"measure": page index, ...} measures
    a page; each answer is one line on stdout after ANSWER."""
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            DATA_DIR=data_dir,
            DJANGO_SECRET_KEY="bench",
            DJANGO_SETTINGS_MODULE="site_config.settings",
            DJANGO_DEBUG="0",
            HUEY_IMMEDIATE="0",
            DJANGO_ALLOWED_HOSTS="testserver",
            API_TOKEN_RATE="1000000/minute",
            LOG_LEVEL="WARNING",
            DB_TRANSACTION_LOG_MS="600000",  # building the data holds the write lock for seconds
        )
        import warnings

        import django

        warnings.filterwarnings("ignore", "No directory at", UserWarning)  # WhiteNoise: no collectstatic here
        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        assert not settings.DEBUG
        call_command("migrate", verbosity=0)
        state: dict = {}
        current = None
        for line in sys.stdin:
            command = json.loads(line)
            if "grow" in command:
                started = time.monotonic()
                state.setdefault("now", datetime.datetime.fromtimestamp(command["now"], datetime.UTC))
                grow(command["grow"], state)
                current = Pages(state)
                current.recycle_connection()
                answer = {"labels": [page[0] for page in current.pages], "seconds": time.monotonic() - started}
            else:
                html = Path(command["html"]) if command.get("html") else None
                answer = current.measure(command["measure"], command["calls"], command["warmup"], html)
            print(ANSWER + json.dumps(answer), flush=True)


ANSWER = "@@page_cost "


class Worker:
    """A worker process for one checkout, and the parent's side of its commands."""

    def __init__(self, label: str, root: Path) -> None:
        self.label, self.root = label, root
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "PYTHONPATH")}
        command = [sys.executable, __file__, "--worker", "--root", str(root)]
        self.process = subprocess.Popen(
            command, env=env, cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def send(self, **command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def answer(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(ANSWER):
                return json.loads(line.removeprefix(ANSWER))
        sys.exit(f"{self.label} ({self.root}) stopped; its errors are above")

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per page (the median is shown)")
    parser.add_argument("--rounds", type=int, default=2, help="turns the columns take at each page, their calls split")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default="", help="only the pages whose label matches this regex")
    parser.add_argument("--against", help="another checkout, a column of its own before this one's")
    parser.add_argument("--against-label", default="before")
    parser.add_argument("--label", default="after" if "--against" in sys.argv else "this")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout of the last column (default: this one)")
    parser.add_argument("--html", help="write each page's HTML under this folder")
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, args.root)
        os.chdir(args.root)
        return serve(args)

    columns = [(args.against_label, Path(args.against).resolve())] if args.against else []
    workers = [Worker(label, root) for label, root in [*columns, (args.label, Path(args.tree).resolve())]]
    sizes = [int(size) for size in args.sizes.split(",")]
    now = time.time()  # the data's "now", the same in every column
    results: dict = {worker.label: {} for worker in workers}
    took: list[tuple] = []  # (seconds, column, size, page) of each turn
    try:
        for size in sizes:
            for worker in workers:  # built side by side
                worker.send(grow=size, now=now)
            built = [worker.answer() for worker in workers]
            labels = built[-1]["labels"]
            print(f"  {size:,} tasks built in {max(b['seconds'] for b in built):.0f} s", file=sys.stderr, flush=True)
            for index, label in enumerate(labels):
                if args.only and not re.search(args.only, label):
                    continue
                for turn in range(args.rounds):
                    # Each column in turn, the order swapped every round: the machine's load falls on both alike.
                    for worker in workers if turn % 2 == 0 else workers[::-1]:
                        html = Path(args.html).resolve() / worker.label / str(size) if args.html else None
                        worker.send(
                            measure=index,
                            calls=max(args.calls // args.rounds, 1),
                            warmup=args.warmup,
                            html=str(html) if html and turn == 0 else None,
                        )
                        asked = time.monotonic()
                        figures = worker.answer()
                        took.append((time.monotonic() - asked, worker.label, size, label))
                        page = results[worker.label].setdefault(size, {}).setdefault(label, {"queries": 0, "cpu": []})
                        page["queries"] = figures["queries"]
                        page["cpu"] += figures["cpu_ms"]
            print(f"  {size:,} tasks measured", file=sys.stderr, flush=True)
    finally:
        for worker in workers:
            worker.stop()
    slowest = ", ".join(
        f"{page} ({column}, {size:,}) {seconds:.1f} s" for seconds, column, size, page in sorted(took)[-3:]
    )
    print(f"  slowest turns: {slowest}", file=sys.stderr)
    for pages_ in results.values():
        for figures in (page for by_size in pages_.values() for page in by_size.values()):
            figures["cpu_ms"] = statistics.median(figures.pop("cpu"))
    report(results, sizes, args)


def report(results: dict, sizes: list[int], args) -> None:
    labels = list(results)
    print(
        f"SQL queries and CPU ms per request (median of {args.calls} in {args.rounds} turns per column, after "
        f"{args.warmup} warm-up calls), Django test client, SQLite, {time.strftime('%Y-%m-%d')}"
    )
    head = ["page"]
    for size in sizes:
        for label in labels:
            head += [f"{label} q @{size:,}", f"{label} ms @{size:,}"]
        if len(labels) == 2:
            head.append(f"ratio @{size:,}")
    rows = [head]
    for page in results[labels[-1]][sizes[0]]:
        row = [page]
        for size in sizes:
            figures = [results[label][size].get(page) for label in labels]
            for figure in figures:
                row += [str(figure["queries"]), f"{figure['cpu_ms']:.1f}"] if figure else ["-", "-"]
            if len(labels) == 2:
                ok = all(figures)
                row.append(f"{figures[1]['cpu_ms'] / figures[0]['cpu_ms']:.2f}×" if ok else "-")
        rows.append(row)
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows[1:]:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
