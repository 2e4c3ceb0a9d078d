"""Online backups of the app database, verified, rotated and restorable.

SQLite: a copy made with SQLite's online backup API, checked with `PRAGMA integrity_check`.
PostgreSQL: `pg_dump --format=custom` (Debian's postgresql-client, of the server's major version),
checked by reading its table of contents back with `pg_restore --list`; restore it with
`pg_restore --clean --dbname=...`. The dump leaves out the queue's schema (`huey`), as SQLite's
backups leave out the queue's file: restoring an old queue would run old jobs again.
"""

import logging
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

from tasks_app.queue.progress import report_progress

logger = logging.getLogger(__name__)


class BackupError(Exception):
    pass


def backups_dir() -> Path:
    return Path(settings.DATA_DIR) / "backups"


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while others keep reading and writing.

    The copy leaves WAL mode for a plain rollback journal, so it stays one self-contained file
    that needs no -wal or -shm file beside it, whoever opens it later.
    """
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def integrity_problems(path: Path) -> list[str]:
    """PRAGMA integrity_check's complaints; an empty list means the file is sound."""
    # Read-write, never create: on a read-only connection SQLite skips the CHECK constraints.
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True)
    try:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as error:  # too damaged to check: "file is not a database", ...
        rows = [str(error)]
    finally:
        conn.close()
    return [] if rows == ["ok"] else rows


def _pg_run(tool: str, *args: str) -> subprocess.CompletedProcess:
    """Run a PostgreSQL client tool against the app database; BackupError with its complaint."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} not found: install Debian's postgresql-client to back up PostgreSQL")
    db = settings.DATABASES["default"]
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    target = [
        "--host",
        str(db.get("HOST") or ""),
        "--port",
        str(db.get("PORT") or ""),
        "--username",
        str(db.get("USER") or ""),
    ]
    result = subprocess.run([tool, *(arg for arg in target if arg), *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed: {result.stderr.strip()[:500]}")
    return result


def _dump(target: Path) -> None:
    _pg_run(
        "pg_dump", "--format=custom", "--exclude-schema=huey", f"--file={target}", settings.DATABASES["default"]["NAME"]
    )


def _dump_problems(path: Path) -> list[str]:
    """An archive pg_restore cannot read, or one without the app's tables, is no backup."""
    try:
        listing = _pg_run("pg_restore", "--list", str(path)).stdout
    except BackupError as error:
        return [str(error)]
    return [] if "TABLE DATA public tasks_app_task" in listing else ["the dump holds no tasks_app_task table"]


def backup_create(*, keep: int, source: Path | None = None) -> Path:
    """Back up the app database into DATA_DIR/backups/, check it, and keep only the newest `keep`.

    A copy that fails its check is deleted and BackupError says why.
    """
    postgres = source is None and connection.vendor == "postgresql"
    if not postgres:
        source = Path(source or settings.DATABASES["default"]["NAME"])
        if not source.is_file():  # sqlite3.connect would create an empty database and back that up
            raise BackupError(f"no database file at {source}")
    suffix = ".dump" if postgres else ".sqlite3"
    folder = backups_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"app-{timezone.now():%Y%m%d-%H%M%S-%f}{suffix}"
    partial = target.with_suffix(".partial")
    try:
        _dump(partial) if postgres else _copy(source, partial)
        # Between steps, as in any job: with thread workers this is where a job's timeout bites.
        report_progress(1, 3, "checking the copy")
        problems = _dump_problems(partial) if postgres else integrity_problems(partial)
        if problems:
            raise BackupError(f"integrity check failed: {'; '.join(problems[:5])}")
        report_progress(2, 3, "rotating old backups")
        partial.rename(target)
    except BaseException:  # a timeout or an interrupt too: never leave a half-made copy behind
        partial.unlink(missing_ok=True)
        raise
    for old in sorted(folder.glob(f"app-*{suffix}"))[:-keep]:
        old.unlink()
    report_progress(3, 3, target.name)
    logger.info("backup written path=%s bytes=%d", target, target.stat().st_size)
    return target


def backup_restore(backup: Path, target: Path) -> None:
    """Restore a backup into `target` (a fresh file, or the database while the site is stopped)."""
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    if backup.suffix == ".dump":
        raise BackupError(
            f"{backup.name} is a PostgreSQL dump: restore it with pg_restore --clean --dbname=DATABASE {backup}"
        )
    problems = integrity_problems(backup)
    if problems:
        raise BackupError(f"refusing to restore a damaged backup: {'; '.join(problems[:5])}")
    _copy(backup, target)
