"""Reports, CSV imports and workspace exports: the row first, then its job after the commit."""

from django.db import transaction

from tasks_app import jobs, queue
from tasks_app.models import JobRun, Report, TaskImport, WorkspaceExport
from tasks_app.services import imports, reports


def report_start(*, owner, format: str, task_status: str = "", date_from=None, date_to=None) -> Report:
    """Record a report and enqueue `report_build`; bad choices raise ValidationError by field."""
    with transaction.atomic():
        report = reports.report_request(
            owner=owner, format=format, task_status=task_status, date_from=date_from, date_to=date_to
        )
        report.job_id = queue.enqueue_on_commit(jobs.report_build, report.pk, user=owner)
        report.save(update_fields=["job_id"])
    return report


def report_cancel(report: Report) -> bool:
    """Cancel a waiting or running report and its job; False when it has already finished."""
    if not reports.report_cancel(report):
        return False
    run = JobRun.objects.filter(pk=report.job_id).first()
    if run is not None:
        queue.cancel(run)  # still waiting: never start it; running: it stops at its next check
    return True


def import_start(*, owner, uploaded) -> TaskImport:
    """Keep an uploaded CSV and enqueue its pipeline (import, recount, notify); refuses a bad file."""
    with transaction.atomic():
        task_import = imports.import_create(owner=owner, uploaded=uploaded)
        pipeline = jobs.import_pipeline(task_import.pk, owner.pk)
        task_import.job_id = pipeline.id  # the import itself; its steps follow
        task_import.save(update_fields=["job_id"])
        queue.enqueue_message_on_commit(pipeline, user=owner)
    return task_import


def export_start(*, owner) -> WorkspaceExport:
    """Record a workspace export and enqueue its chord (parts in parallel, then one zip)."""
    with transaction.atomic():
        export = WorkspaceExport.objects.create(owner=owner)
        export.job_id = queue.enqueue_message_on_commit(jobs.export_chord(export.pk), user=owner)
        export.save(update_fields=["job_id"])
    return export
