"""A real deployment in subprocesses, for integration and browser tests.

A temporary DATA_DIR holds the app database and the Huey queue; gunicorn serves the site and
`manage.py run_huey` consumes the queue, exactly as `make run` starts them (immediate mode off).
In the suite's PostgreSQL pass (DATABASE_URL set), each stack gets a database of its own on that
server instead, holding the app's tables and the queue.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() returns something truthy; return it, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def settings_error(**env: str) -> str:
    """What the start (`manage.py check`) says when these environment variables are refused."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "site_config.settings", **env}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0, "the settings were accepted"
    return result.stderr


def postgres_database(url: str, name: str, *, drop: bool = False, template: str | None = None) -> str:
    """Create (or drop) the database `name` on the server of `url`, a copy of `template` if given; return its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if drop:
            conn.execute(f"drop database if exists {name} with (force)")
        else:
            conn.execute(f"create database {name}" + (f" template {template}" if template else ""))
    return url.rsplit("/", 1)[0] + "/" + name


class LiveStack:
    def __init__(self, data_dir: Path, **extra_env: str):
        self.data_dir = data_dir
        self.database = None
        server = os.environ.get("DATABASE_URL", "")
        if server.startswith("postgres") and "DATABASE_URL" not in extra_env:
            self.database = f"stack_{os.getpid()}_{free_port()}"
            extra_env = {"DATABASE_URL": postgres_database(server, self.database), **extra_env}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "site_config.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "live-stack-secret-key",
            "DATA_DIR": str(data_dir),
            "HUEY_IMMEDIATE": "0",
            "HUEY_WORKERS": "2",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.web: subprocess.Popen | None = None
        self.consumer: subprocess.Popen | None = None
        self.more_consumers: list[subprocess.Popen] = []  # stopped with the stack

    # -- processes ---------------------------------------------------------------------------

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=check
        )

    def migrate(self, like: LiveStack | None = None) -> None:
        """The app's tables: `manage.py migrate`, or a copy of the database of `like`, a stack
        migrated before (the same tables and rows, in a fraction of the time)."""
        if like is None:
            self.manage("migrate", "--noinput")
        elif self.database:
            server = os.environ["DATABASE_URL"]
            postgres_database(server, self.database, drop=True)
            postgres_database(server, self.database, template=like.database)
        else:
            source = contextlib.closing(sqlite3.connect(like.data_dir / "app.sqlite3"))
            target = contextlib.closing(sqlite3.connect(self.data_dir / "app.sqlite3"))
            with source as source_db, target as target_db:
                source_db.backup(target_db)

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.data_dir / log_name, "ab")  # noqa: SIM115 (closed with the process)
        env = {**self.env, **(env or {})}
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def start_web(self, workers: int = 2, threads: int = 4) -> None:
        self.web = self.spawn_web(self.port, workers=workers, threads=threads)

    def spawn_web(self, port: int, log_name: str = "web.log", workers: int = 2, threads: int = 4) -> subprocess.Popen:
        """A gunicorn on `port` with `workers` processes of `threads` threads, answering once it
        returns (start_web: the stack's own)."""
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        args = [gunicorn, "site_config.wsgi", "--bind", f"127.0.0.1:{port}"]
        args += ["--workers", str(workers), "--threads", str(threads)]
        web = self._spawn(args, log_name)
        wait_for(lambda: self._web_answers(f"http://127.0.0.1:{port}"), timeout=20, what="the web server")
        return web

    def _web_answers(self, url: str) -> bool:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
        except urllib.error.HTTPError:
            return True  # a 503 is an answer: the consumer may not have beaten yet
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False
        return True

    def start_consumer(
        self, *args: str, with_test_jobs: bool = False, prefix: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        """`manage.py run_huey`; with_test_jobs: the same command with tests/crash_jobs.py registered too;
        prefix: a command that runs it, e.g. ("nice", "-n", "10")."""
        self.consumer = self.spawn_consumer(*args, with_test_jobs=with_test_jobs, prefix=prefix, env=env)

    def spawn_consumer(
        self,
        *args: str,
        with_test_jobs: bool = False,
        log_name: str = "consumer.log",
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ):
        """Another consumer process on this stack's queue (start_consumer: the stack's own), with
        these environment variables on top of the stack's."""
        command = ["tests/consumer_with_test_jobs.py"] if with_test_jobs else ["manage.py", "run_huey"]
        return self._spawn([*prefix, sys.executable, *command, *args], log_name, env)

    def kill_consumer(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no shutdown code runs."""
        self.consumer.kill()
        self.consumer.wait()
        self.consumer = None

    def shell(self, script: str) -> str:
        """Run Python in a `manage.py shell` of this stack; return what it printed."""
        return self.manage("shell", "--no-imports", "-c", script).stdout.strip()

    def wait_for_consumer(self) -> None:
        """Until the consumer has started (its first heartbeat): it flushes Huey's locks as it starts."""

        def beating() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    body = json.loads(response.read())
            except urllib.error.HTTPError as error:
                body = json.loads(error.read())
            return body["checks"]["consumer_heartbeat_age"] is not None

        wait_for(beating, timeout=20, what="the consumer's first heartbeat")

    def stop_consumer(self, sig: int = signal.SIGTERM) -> None:
        if self.consumer and self.consumer.poll() is None:
            self.consumer.send_signal(sig)
            try:
                self.consumer.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.consumer.kill()
                self.consumer.wait()
        self.consumer = None

    def stop(self) -> None:
        if self.web and self.web.poll() is None:
            self.web.terminate()  # it stops while the consumers do
        for consumer in self.more_consumers:
            consumer.terminate()
        self.stop_consumer()
        for consumer in self.more_consumers:
            consumer.wait(timeout=15)
        if self.web:
            self.web.wait(timeout=15)
        if self.database:
            postgres_database(os.environ["DATABASE_URL"], self.database, drop=True)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.data_dir.glob("*.log"))
        )

    # -- data ------------------------------------------------------------------------------

    def create_user(self, username: str, password: str = "a-long-test-password", *, staff: bool = False) -> str:
        """Create a user through Django and return an API token for it."""
        script = (
            "from django.contrib.auth import get_user_model; "
            "from rest_framework.authtoken.models import Token; "
            f"u = get_user_model().objects.create_user({username!r}, {username + '@example.com'!r}, {password!r}, "
            f"is_staff={staff}, is_superuser={staff}); "
            "print(Token.objects.create(user=u).key)"
        )
        return self.manage("shell", "--no-imports", "-c", script).stdout.strip()

    def give_task(self, token: str, owner_token: str, payload: dict, *, url: str | None = None) -> tuple[int, dict]:
        """Create a task (as the person of `token`) owned by the person of `owner_token`: one's
        own tasks notify no one, a task given by someone else notifies its owner."""
        owner = self.api("GET", "/api/me/", owner_token)[1]["id"]
        return self.api("POST", "/api/tasks/", token, {**payload, "owner": owner}, url=url)

    def api(
        self, method: str, path: str, token: str, payload: dict | None = None, *, url: str | None = None
    ) -> tuple[int, dict]:
        """Call the JSON API (of this stack's web server, or the one at `url`); return (status, decoded body)."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request((url or self.url) + path, data=data, method=method)
        request.add_header("Authorization", f"Token {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        return status, (json.loads(body) if body else {})
