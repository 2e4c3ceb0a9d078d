"""A throw-away PostgreSQL server for the test suite and the benchmarks, from Debian's package.

    python -m tests.postgres_server -- COMMAND...   # runs COMMAND with DATABASE_URL set, then stops

`initdb` in a temporary folder, `pg_ctl` on a free port on 127.0.0.1 with trust authentication,
one database `tasks`; fsync off (nothing here outlives the run). PostgreSQL refuses to run as
root, so as root the server runs as Debian's `postgres` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.live_stack import free_port


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise SystemExit(f"{name} not found: install Debian's postgresql package (make system-deps)")
    return found


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def running() -> Iterator[str]:
    """Start a server; yield its URL (database `tasks`, user `tasks`, superuser); stop it after."""
    folder = Path(tempfile.mkdtemp(prefix="tasks-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    run = lambda *args: subprocess.run(_as_server_user(list(args)), check=True, capture_output=True)  # noqa: E731
    try:
        run(_bin("initdb"), "-D", str(data), "-U", "tasks", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
        run(_bin("pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w", "start")
        url = f"postgres://tasks@127.0.0.1:{port}/tasks"
        run(_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "tasks", "tasks")
        yield url
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_server_user([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), check=False)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if not command:
        raise SystemExit(__doc__)
    with running() as url:
        return subprocess.run(command, env={**os.environ, "DATABASE_URL": url}, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
