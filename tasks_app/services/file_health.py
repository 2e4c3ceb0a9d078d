"""The health of the files under DATA_DIR, for /healthz and /ops/: cheap to measure (file stats,
a directory listing and at most one small query), so it runs on every request.

- Each SQLite file's size and its -wal file's size. When a WAL last checkpointed is not observable
  in SQLite, and `PRAGMA wal_checkpoint` writes, so a health check reports only how big the WAL is:
  one that keeps growing means a reader never lets go (it checkpoints only up to the oldest reader).
- Free disk space under DATA_DIR.
- The newest backup's age. backups.py renames a copy to its final `app-*` name only after its
  integrity check passed (and deletes one that failed), so every such file is a verified backup;
  nothing is checked again here.
- On PostgreSQL, in place of the SQLite files: the database's size and its connections.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from tasks_app.services import backups

MB = 1024 * 1024


@dataclass(frozen=True)
class FileHealth:
    checks: dict  # the figures, JSON-ready
    problems: list[str]


def _sqlite_files() -> list[Path]:
    """The SQLite files this install writes: the app database, the rate limits and the queue."""
    names = [settings.DATABASES["default"]["NAME"], settings.RATE_LIMIT_DB] if connection.vendor == "sqlite" else []
    names.append(settings.HUEY.get("filename"))  # set only when the queue is on SQLite
    # A test database in memory, or a queue file not created yet, has nothing to measure.
    return [Path(name) for name in names if name and Path(name).is_file()]


def _size_mb(path: Path) -> float:
    return path.stat().st_size / MB if path.is_file() else 0.0


def _installed_at():
    """When the first migration ran: the start of the grace before the first backup is due."""
    return MigrationRecorder(connection).migration_qs.order_by("pk").values_list("applied", flat=True).first()


def _postgres_figures() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()),"
            " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())"
        )
        size, connections = cursor.fetchone()
    return {"database_mb": round(size / MB, 1), "connections": connections}


def measure() -> FileHealth:
    """Measure the files' health against the HEALTH_* thresholds; reads only, writes nothing."""
    backup_max_hours = settings.HEALTH_BACKUP_MAX_AGE_HOURS
    disk_min_mb = settings.HEALTH_DISK_FREE_MIN_MB
    wal_max_mb = settings.HEALTH_WAL_MAX_MB
    now = timezone.now()
    problems = []

    checks: dict = {"disk_free_mb": round(shutil.disk_usage(settings.DATA_DIR).free / MB, 1)}
    if checks["disk_free_mb"] < disk_min_mb:
        problems.append(f"free disk under {disk_min_mb:g} MB")

    suffix = ".dump" if connection.vendor == "postgresql" else ".sqlite3"
    # Names carry their creation time: the last in order is the newest, as backups.py rotates them.
    newest = max(backups.backups_dir().glob(f"app-*{suffix}"), default=None)
    if newest is None:
        checks["backup"] = None
        installed_at = _installed_at()
        if installed_at and (now - installed_at).total_seconds() / 3600 > backup_max_hours:
            problems.append(f"no backup yet, {backup_max_hours:g} h after install")
    else:
        age_hours = (now.timestamp() - newest.stat().st_mtime) / 3600
        checks["backup"] = {"name": newest.name, "age_hours": round(age_hours, 1), "mb": round(_size_mb(newest), 1)}
        if age_hours > backup_max_hours:
            problems.append(f"backup older than {backup_max_hours:g} h")

    checks["sqlite_files"] = {}
    for path in _sqlite_files():
        wal_mb = _size_mb(Path(f"{path}-wal"))
        checks["sqlite_files"][path.name] = {"mb": round(_size_mb(path), 1), "wal_mb": round(wal_mb, 1)}
        if wal_mb > wal_max_mb:
            problems.append(f"{path.name}'s WAL is {wal_mb:.1f} MB, over {wal_max_mb:g} MB")
    if connection.vendor == "postgresql":
        checks["postgres"] = _postgres_figures()
    return FileHealth(checks=checks, problems=problems)
