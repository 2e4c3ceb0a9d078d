"""Online backups of the app's SQLite database, verified, rotated and restorable."""

import logging
import sqlite3
from pathlib import Path

from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)


class BackupError(Exception):
    pass


def backups_dir() -> Path:
    return Path(settings.DATA_DIR) / "backups"


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup API: a consistent copy while others keep reading and writing."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    dst.close()
    src.close()


def integrity_problems(path: Path) -> list[str]:
    """PRAGMA integrity_check's complaints; an empty list means the file is sound."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    conn.close()
    return [] if rows == ["ok"] else rows


def backup_create(*, keep: int, source: Path | None = None) -> Path:
    """Back up the app database into DATA_DIR/backups/, check it, and keep only the newest `keep`."""
    source = Path(source or settings.DATABASES["default"]["NAME"])
    folder = backups_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"app-{timezone.now():%Y%m%d-%H%M%S-%f}.sqlite3"
    partial = target.with_suffix(".partial")
    _copy(source, partial)
    problems = integrity_problems(partial)
    if problems:
        partial.unlink()
        raise BackupError(f"integrity check failed: {'; '.join(problems[:5])}")
    partial.rename(target)
    for old in sorted(folder.glob("app-*.sqlite3"))[:-keep]:
        old.unlink()
    logger.info("backup written path=%s bytes=%d", target, target.stat().st_size)
    return target


def backup_restore(backup: Path, target: Path) -> None:
    """Restore a backup into `target` (a fresh file, or the database while the site is stopped)."""
    problems = integrity_problems(backup)
    if problems:
        raise BackupError(f"refusing to restore a damaged backup: {'; '.join(problems[:5])}")
    _copy(backup, target)
