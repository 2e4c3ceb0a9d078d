"""Jobs for work a user downloads or reviews later: reports, CSV imports, workspace exports."""

import logging

from django.conf import settings
from huey.api import group
from huey.contrib.djhuey import db_task, lock_task
from huey.exceptions import CancelExecution

from tasks_app import queue
from tasks_app.jobs.schedule import daily, periodic_job, run_once_within
from tasks_app.models import TaskImport
from tasks_app.services import exports, imports, reports

logger = logging.getLogger(__name__)


@db_task(timeout=1800)
def report_build(report_id: int) -> str:
    """Build one report file, reporting progress; a report already built or gone is skipped, a
    report canceled while it builds ends the job as revoked (not succeeded)."""
    try:
        report = reports.report_build(report_id)
    except reports.ReportCanceled:
        raise CancelExecution(retry=False) from None
    return f"{report.status} rows={report.rows}" if report else "skipped"


@periodic_job(daily("03:00"), missed=run_once_within(hours=20))
@lock_task("report-cleanup")
def report_cleanup() -> int:
    """Delete reports older than REPORT_RETENTION_DAYS, files included."""
    count = reports.reports_delete_old(older_than_days=settings.REPORT_RETENTION_DAYS)
    logger.info("report_cleanup deleted=%d", count)
    return count


@periodic_job(daily("03:10"), missed=run_once_within(hours=20))
@lock_task("import-export-cleanup")
def import_export_cleanup() -> dict:
    """Delete imports older than IMPORT_RETENTION_DAYS and exports older than EXPORT_RETENTION_DAYS, files included."""
    deleted = {
        "imports": imports.imports_delete_old(older_than_days=settings.IMPORT_RETENTION_DAYS),
        "exports": exports.exports_delete_old(older_than_days=settings.EXPORT_RETENTION_DAYS),
    }
    logger.info("import_export_cleanup imports=%d exports=%d", deleted["imports"], deleted["exports"])
    return deleted


@db_task(timeout=1800)
def import_run(import_id: int) -> dict | None:
    """Create the tasks of one uploaded CSV, reporting progress and row errors."""
    return imports.import_run(import_id)


# In a pipeline Huey passes a step's dict result to the next step as keyword arguments.
@db_task()
def import_notify(import_id: int | None = None, **result) -> bool:
    """Tell the uploader how the import went (the step after import_run, called with its result)."""
    task_import = TaskImport.objects.select_related("owner").filter(pk=import_id).first() if import_id else None
    if task_import is None:  # import_run had nothing to do: the import is gone, or was imported before
        return False
    imports.import_notify(task_import)
    return True


def import_pipeline(import_id: int, job_id: str | None = None):
    """import_run (as job `job_id`), then import_notify with its result.

    (The counts of the uploader's tasks change with each chunk of rows imported: no recount step.)"""
    return import_run.s(import_id, id=job_id).then(import_notify)


@db_task()
def export_part(export_id: int, part: str) -> str | None:
    """Write one part (tasks, notifications or reports) of a workspace export. Retried after its
    export failed (an operator's retry of the failed part), it starts the whole export again."""
    if exports.export_reopen(export_id, restart=lambda: queue.enqueue_message_on_commit(export_chord(export_id))):
        return None
    return exports.export_part(export_id, part)


@db_task()
def export_combine(export_id: int, part_paths: list) -> str:
    """The chord's callback: zip the parts written in parallel into one download."""
    export = exports.export_combine(export_id, part_paths)
    return export.status if export else "skipped"


def export_chord(export_id: int):
    """One export_part job per part, in parallel, then export_combine with their paths."""
    parts = [export_part.s(export_id, part) for part in exports.PARTS]
    return group(parts).then(export_combine, export_id)
