"""Reports, CSV imports and workspace exports: the row first, then its job after the commit.

A report, an import or an export asked for again while the same one is still waiting or running
is not started twice: its start returns the one in progress, with `created` False
(`queue.claim_unique`; an export is the same zip whatever asks). Past that, one person has at most FILE_JOBS_PER_PERSON of them waiting or
running at once (`TooMuchInProgress`): one person's flood cannot fill the lanes everyone shares.
"""

import datetime
import hashlib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from tasks_app import jobs, queue
from tasks_app.models import JobRun, Report, TaskImport, WorkspaceExport
from tasks_app.services import imports, reports

# The same file imported again soon after is a double submit, not new work: it would add every task twice.
SAME_IMPORT_WINDOW = datetime.timedelta(minutes=10)


BUSY = [Report.Status.PENDING, Report.Status.RUNNING]  # (the same for imports and exports)


class TooMuchInProgress(ValidationError):
    """The person already has FILE_JOBS_PER_PERSON reports, imports and exports waiting or running."""


def _within_limit(owner) -> None:
    """Raise TooMuchInProgress when `owner` has their fill of files waiting or being made.

    In the transaction that adds the next one: the person's row is locked first, so requests of
    one person at once count one after another (on PostgreSQL; SQLite has one writer anyway)."""
    get_user_model().objects.select_for_update().get(pk=owner.pk)
    count = sum(
        model.objects.filter(owner=owner, status__in=BUSY).count() for model in (Report, TaskImport, WorkspaceExport)
    )
    if count >= settings.FILE_JOBS_PER_PERSON:
        raise TooMuchInProgress(
            f"You have {count} reports, imports or exports waiting or being made, the most one person may "
            "have at once. Start this one when one of them has finished."
        )


def report_start(*, owner, format: str, task_status: str = "", date_from=None, date_to=None) -> tuple[Report, bool]:
    """Record a report and enqueue `report_build`; bad choices raise ValidationError by field.

    Returns the report and True, or, while the same person's report with the same choices is
    waiting or building, that report and False."""
    choices = f"{format}|{task_status or ''}|{date_from or ''}|{date_to or ''}"
    with transaction.atomic():
        claimed = queue.claim_unique(f"report:{owner.pk}:{_digest(choices.encode())}", user=owner)
        building = None if claimed.created else Report.objects.filter(job_id=claimed.job_id).first()
        if building is not None:
            return building, False
        _within_limit(owner)
        report = reports.report_request(
            owner=owner, format=format, task_status=task_status, date_from=date_from, date_to=date_to
        )
        report.job_id = queue.enqueue_on_commit(jobs.report_build, report.pk, user=owner, id=_new_id(claimed))
        report.save(update_fields=["job_id"])
    return report, True


def report_cancel(report: Report) -> bool:
    """Cancel a waiting or running report and its job; False when it has already finished."""
    if not reports.report_cancel(report):
        return False
    run = JobRun.objects.filter(pk=report.job_id).first()
    if run is not None:
        queue.cancel(run)  # still waiting: never start it; running: it stops at its next check
    return True


def import_start(*, owner, uploaded, date_order: str = TaskImport.DateOrder.ISO) -> tuple[TaskImport, bool]:
    """Keep an uploaded CSV and enqueue its pipeline (import, notify); refuses a bad file.

    Returns the import and True, or, when the same person uploaded the same content (read with
    the same date order) and that import is waiting, running or finished less than
    SAME_IMPORT_WINDOW ago, that one and False."""
    key = f"import:{owner.pk}:{date_order}:{_digest(*uploaded.chunks())}"
    uploaded.seek(0)
    with transaction.atomic():
        claimed = queue.claim_unique(key, window=SAME_IMPORT_WINDOW, user=owner)
        earlier = None if claimed.created else TaskImport.objects.filter(job_id=claimed.job_id).first()
        if earlier is not None:
            return earlier, False
        _within_limit(owner)
        task_import = imports.import_create(owner=owner, uploaded=uploaded, date_order=date_order)
        pipeline = jobs.import_pipeline(task_import.pk, job_id=_new_id(claimed))
        task_import.job_id = pipeline.id  # the import itself; its steps follow
        task_import.save(update_fields=["job_id"])
        queue.enqueue_message_on_commit(pipeline, user=owner)
    return task_import, True


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _new_id(claimed) -> str | None:
    """The claimed id; None (Huey makes one) when the key's job has lost its row (a deleted report)."""
    return claimed.job_id if claimed.created else None


def export_start(*, owner) -> tuple[WorkspaceExport, bool]:
    """Record a workspace export and enqueue its chord (parts in parallel, then one zip).

    Returns the export and True, or, while the person's export is waiting or being made, that one
    and False (an export has no choices: a second one now would be the same zip)."""
    with transaction.atomic():
        earlier = WorkspaceExport.objects.filter(owner=owner, status__in=BUSY).order_by("pk").first()
        if earlier is not None:
            return earlier, False
        _within_limit(owner)
        export = WorkspaceExport.objects.create(owner=owner)
        export.job_id = queue.enqueue_message_on_commit(jobs.export_chord(export.pk), user=owner)
        export.save(update_fields=["job_id"])
    return export, True
