"""Reports of a user's tasks, as CSV, XLSX or PDF files under MEDIA_ROOT/reports/."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from tasks_app.models import Notification, Report, Task
from tasks_app.queue import claims
from tasks_app.queue.progress import report_progress
from tasks_app.services import report_files, retention
from tasks_app.services.notifications import notify

logger = logging.getLogger(__name__)

CANCEL_CHECK_SECONDS = 0.5  # between looks at whether the person canceled: a cancel stops the build within a second


class ReportCanceled(Exception):
    pass


def report_request(*, owner, format: str, task_status: str = "", date_from=None, date_to=None) -> Report:
    """Record a report to build; invalid choices raise ValidationError with field messages."""
    report = Report(owner=owner, format=format, task_status=task_status or "", date_from=date_from, date_to=date_to)
    errors = {}
    if report.task_status and report.task_status not in Task.Status.values:
        errors["status"] = f"Unknown status {task_status!r}; use one of {', '.join(Task.Status.values)}."
    if date_from and date_to and date_from > date_to:
        errors["date_to"] = "The end date is before the start date."
    if errors:
        raise ValidationError(errors)
    report.full_clean(exclude=["file", "job_id"])
    report.save()
    return report


def _tasks(report: Report):
    tasks = Task.objects.filter(owner=report.owner).select_related("owner").order_by("created_at", "id")
    if report.task_status:
        tasks = tasks.filter(status=report.task_status)
    if report.date_from:
        tasks = tasks.filter(created_at__date__gte=report.date_from)
    if report.date_to:
        tasks = tasks.filter(created_at__date__lte=report.date_to)
    return tasks


def _row(task: Task, *, labels: bool) -> list:
    """A task's cells: dates as dates, times in local time with their zone, status and priority by
    label, or by value (labels=False) for a CSV the import reads back."""
    local = timezone.localtime
    return [
        task.pk,
        task.title,
        task.get_status_display() if labels else task.status,
        task.get_priority_display() if labels else task.priority,
        task.due_date,
        task.owner.get_username(),
        local(task.created_at),
        local(task.completed_at) if task.completed_at else None,
    ]


# In the consumer, files are built in a process of its own (report_files' docstring says why).
_builder = report_files.Builder(nice=settings.REPORT_BUILD_NICE) if settings.REPORT_BUILD_PROCESS else None


def _build_file(format: str, rows: list[list], title: str, *, between=lambda: None) -> bytes:
    time_zone = timezone.get_current_timezone_name()
    if _builder is None:
        return report_files.build(format, rows, title, time_zone)
    return _builder.build(format, rows, title, time_zone, between=between, every=CANCEL_CHECK_SECONDS)


def _check_not_canceled(report: Report) -> None:
    if Report.objects.filter(pk=report.pk, status=Report.Status.CANCELED).exists():
        raise ReportCanceled


def report_build(report_id: int) -> Report | None:
    """Build a pending report, publishing progress; None when it is gone or not pending.

    A report whose build died (or failed, and a person retried the job) is built again.

    A cancel (the row's status set to canceled) is looked for every CANCEL_CHECK_SECONDS, while
    the rows are read and while the file is built; it raises ReportCanceled (the job then ends
    as revoked, not succeeded).
    """
    if not claims.claim(
        Report.objects.filter(pk=report_id),
        open=[Report.Status.PENDING],
        claimed=Report.Status.RUNNING,
        reopen=[Report.Status.FAILED],
        error="",
        finished_at=None,
    ):
        return None
    report = Report.objects.select_related("owner").get(pk=report_id)
    try:
        tasks = _tasks(report)
        total = tasks.count()
        rows, look_at = [], time.monotonic() + CANCEL_CHECK_SECONDS
        for done, task in enumerate(tasks.iterator(), start=1):
            if time.monotonic() >= look_at:
                _check_not_canceled(report)
                look_at = time.monotonic() + CANCEL_CHECK_SECONDS
            rows.append(_row(task, labels=report.format != Report.Format.CSV))
            report_progress(done, total, f"{done} of {total} tasks")
            if settings.REPORT_ROW_DELAY_SECONDS:
                time.sleep(settings.REPORT_ROW_DELAY_SECONDS)
        _check_not_canceled(report)
        title = f"Tasks of {report.owner.get_username()}, {timezone.localdate():%Y-%m-%d}"
        content = _build_file(report.format, rows, title, between=lambda: _check_not_canceled(report))
        # FieldFile.save writes the whole file under a fresh name before the row points at it.
        report.file.save(f"tasks-{report.pk}.{report.format}", ContentFile(content), save=False)
    except ReportCanceled:
        Report.objects.filter(pk=report.pk).update(finished_at=timezone.now())
        logger.info("report canceled id=%s", report.pk)
        raise
    except BaseException as exc:  # a timeout, a full disk: the job fails and says why
        Report.objects.filter(pk=report.pk).update(
            status=Report.Status.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        raise
    report.rows = len(rows)
    report.finished_at = timezone.now()
    updated = Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(
        status=Report.Status.SUCCEEDED, file=report.file.name, rows=report.rows, finished_at=report.finished_at
    )
    if not updated:  # canceled at the very end
        report.file.delete(save=False)
        raise ReportCanceled
    report.status = Report.Status.SUCCEEDED
    notify(
        user=report.owner,
        kind=Notification.Kind.REPORT_READY,
        message=f"Your {report.get_format_display()} report is ready ({report.rows} tasks).",
        data={"report_id": report.pk, "url": f"/reports/{report.pk}/download/"},
        dedup_key=f"report-ready:{report.pk}",
    )
    return report


def report_cancel(report: Report) -> bool:
    """Cancel a pending or running report; False when it has already finished."""
    return bool(
        Report.objects.filter(pk=report.pk, status__in=[Report.Status.PENDING, Report.Status.RUNNING]).update(
            status=Report.Status.CANCELED, finished_at=timezone.now()
        )
    )


def reports_delete_old(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete reports (rows and files) created more than `older_than_days` ago."""
    return retention.file_rows_delete_old(Report, older_than_days=older_than_days, dry_run=dry_run)
