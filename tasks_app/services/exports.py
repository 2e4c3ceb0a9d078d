"""A user's whole workspace as one zip: tasks, notifications and reports metadata."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from tasks_app.models import Notification, Report, Task, WorkspaceExport
from tasks_app.services import retention
from tasks_app.services.notifications import notify

PARTS = {
    "tasks": lambda user: Task.objects.filter(owner=user).values(
        "id", "title", "description", "status", "priority", "due_date", "completed_at", "created_at", "updated_at"
    ),
    "notifications": lambda user: Notification.objects.filter(user=user).values(
        "id", "kind", "message", "data", "read_at", "created_at"
    ),
    "reports": lambda user: Report.objects.filter(owner=user).values(
        "id", "format", "status", "task_status", "date_from", "date_to", "rows", "created_at", "finished_at"
    ),
}


def _parts_dir(export: WorkspaceExport) -> Path:
    return Path(settings.MEDIA_ROOT) / "exports" / f"parts-{export.pk}"


def export_part(export_id: int, part: str) -> str | None:
    """Write one part of an export as JSON; return its path, or None when the export is gone."""
    export = WorkspaceExport.objects.select_related("owner").filter(pk=export_id).first()
    if export is None:
        return None
    WorkspaceExport.objects.filter(pk=export_id, status=WorkspaceExport.Status.PENDING).update(
        status=WorkspaceExport.Status.RUNNING
    )
    folder = _parts_dir(export)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{part}.json"
    rows = list(PARTS[part](export.owner))
    path.write_text(json.dumps(rows, cls=DjangoJSONEncoder, indent=2))
    return str(path)


def export_combine(export_id: int, part_paths: list) -> WorkspaceExport | None:
    """Zip the parts into the export's file; fail the export when a part is missing."""
    export = WorkspaceExport.objects.select_related("owner").filter(pk=export_id).first()
    if export is None:
        return None
    missing = [p for p in part_paths if not isinstance(p, str) or not Path(p).exists()]
    if missing or len(part_paths) != len(PARTS):
        export.status, export.error = WorkspaceExport.Status.FAILED, _why_parts_failed(part_paths)
    else:
        name = f"exports/workspace-{export.pk}-{timezone.now():%Y%m%d-%H%M%S}.zip"
        target = Path(settings.MEDIA_ROOT) / name
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in map(Path, part_paths):
                archive.write(path, arcname=path.name)
        partial.rename(target)
        export.file.name, export.status = name, WorkspaceExport.Status.SUCCEEDED
    for path in part_paths:
        if isinstance(path, str):
            Path(path).unlink(missing_ok=True)
    if _parts_dir(export).exists():
        _parts_dir(export).rmdir()
    export.finished_at = timezone.now()
    export.save(update_fields=["file", "status", "error", "finished_at"])
    if export.status == WorkspaceExport.Status.SUCCEEDED:
        notify(
            user=export.owner,
            kind=Notification.Kind.EXPORT_READY,
            message="Your workspace export is ready.",
            data={"export_id": export.pk, "url": f"/exports/{export.pk}/download/"},
            dedup_key=f"export-ready:{export.pk}",
        )
    else:
        notify(
            user=export.owner,
            kind=Notification.Kind.EXPORT_FAILED,
            message=f"Your workspace export #{export.pk} failed: {export.error} Prepare a new one on the Export page.",
            data={"export_id": export.pk, "url": "/exports/"},
            dedup_key=f"export-failed:{export.pk}:{export.job_id}",
        )
    return export


def _why_parts_failed(part_paths: list) -> str:
    """The export's error: which parts were not written, and why (the failed jobs' errors)."""
    reasons = []
    for name, path in zip(PARTS, part_paths, strict=False):
        if not isinstance(path, str) or not Path(path).exists():
            error = (getattr(path, "metadata", None) or {}).get("error")  # a failed member's huey Error
            reasons.append(f"its {name} ({error})" if error else f"its {name}")
    return f"{', '.join(reasons) or 'a part'} could not be written.".capitalize()


def export_reopen(export_id: int, *, restart: Callable[[], str]) -> bool:
    """A part retried after its export failed: take the export back to pending and `restart` it
    (which enqueues every part again and returns the job id the pages then follow: the parts
    written before were removed when it failed). False when the export had not failed."""
    with transaction.atomic():
        reopened = WorkspaceExport.objects.filter(pk=export_id, status=WorkspaceExport.Status.FAILED).update(
            status=WorkspaceExport.Status.PENDING, error="", finished_at=None
        )
        if reopened:
            WorkspaceExport.objects.filter(pk=export_id).update(job_id=restart())
    return bool(reopened)


def exports_delete_old(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete exports (rows, zips and any parts a failed one left) created more than `older_than_days` ago."""
    return retention.file_rows_delete_old(
        WorkspaceExport,
        older_than_days=older_than_days,
        dry_run=dry_run,
        each=lambda export: shutil.rmtree(_parts_dir(export), ignore_errors=True),
    )
