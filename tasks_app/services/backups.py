"""Online backups of the app's SQLite database, verified, rotated and restorable."""

import logging
import sqlite3
from pathlib import Path

from django.conf import settings
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


def backup_create(*, keep: int, source: Path | None = None) -> Path:
    """Back up the app database into DATA_DIR/backups/, check it, and keep only the newest `keep`.

    A copy that fails its integrity check is deleted and BackupError says why.
    """
    source = Path(source or settings.DATABASES["default"]["NAME"])
    if not source.is_file():  # sqlite3.connect would create an empty database and back that up
        raise BackupError(f"no database file at {source}")
    folder = backups_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"app-{timezone.now():%Y%m%d-%H%M%S-%f}.sqlite3"
    partial = target.with_suffix(".partial")
    try:
        _copy(source, partial)
        # Between steps, as in any job: with thread workers this is where a job's timeout bites.
        report_progress(1, 3, "checking the copy")
        problems = integrity_problems(partial)
        if problems:
            raise BackupError(f"integrity check failed: {'; '.join(problems[:5])}")
        report_progress(2, 3, "rotating old backups")
        partial.rename(target)
    except BaseException:  # a timeout or an interrupt too: never leave a half-made copy behind
        partial.unlink(missing_ok=True)
        raise
    for old in sorted(folder.glob("app-*.sqlite3"))[:-keep]:
        old.unlink()
    report_progress(3, 3, target.name)
    logger.info("backup written path=%s bytes=%d", target, target.stat().st_size)
    return target


def backup_restore(backup: Path, target: Path) -> None:
    """Restore a backup into `target` (a fresh file, or the database while the site is stopped)."""
    if not backup.is_file():
        raise BackupError(f"no backup file at {backup}")
    problems = integrity_problems(backup)
    if problems:
        raise BackupError(f"refusing to restore a damaged backup: {'; '.join(problems[:5])}")
    _copy(backup, target)
