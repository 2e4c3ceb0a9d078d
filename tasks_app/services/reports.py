"""Reports of a user's tasks, as CSV, XLSX or PDF files under MEDIA_ROOT/reports/."""

from __future__ import annotations

import csv
import io
import logging
import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone

from tasks_app.models import Notification, Report, Task
from tasks_app.queue import claims
from tasks_app.queue.progress import report_progress
from tasks_app.services import retention
from tasks_app.services.notifications import notify
from tasks_app.services.safe_text import pdf_safe, spreadsheet_safe

logger = logging.getLogger(__name__)

COLUMNS = ["id", "title", "status", "priority", "due_date", "owner", "created_at", "completed_at"]
CANCEL_CHECK_EVERY = 20  # rows between looks at whether the user canceled


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


def _row(task: Task) -> list:
    local = timezone.localtime
    return [
        task.pk,
        task.title,
        task.get_status_display(),
        task.get_priority_display(),
        task.due_date.isoformat() if task.due_date else "",
        task.owner.get_username(),
        local(task.created_at).strftime("%Y-%m-%d %H:%M"),
        local(task.completed_at).strftime("%Y-%m-%d %H:%M") if task.completed_at else "",
    ]


def _csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook  # here, not at the top: it costs every process 0.15 s to import

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Tasks")
    sheet.append(COLUMNS)
    for row in rows:
        sheet.append([spreadsheet_safe(cell) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pdf(rows: list[list], title: str) -> bytes:
    from fpdf import FPDF  # here, not at the top: it costs every process 0.5 s to import

    pdf = FPDF(orientation="landscape")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, pdf_safe(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    with pdf.table(col_widths=(10, 70, 20, 18, 22, 25, 28, 28), text_align="LEFT") as table:
        table.row(COLUMNS)
        for row in rows:
            table.row([pdf_safe(cell) for cell in row])
    return bytes(pdf.output())


def _check_not_canceled(report: Report) -> None:
    if Report.objects.filter(pk=report.pk, status=Report.Status.CANCELED).exists():
        raise ReportCanceled


def report_build(report_id: int) -> Report | None:
    """Build a pending report, publishing progress; None when it is gone or not pending.

    A report whose build died (or failed, and a person retried the job) is built again.

    A cancel (the row's status set to canceled) stops it between chunks of rows.
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
        rows = []
        for done, task in enumerate(tasks.iterator(), start=1):
            if done % CANCEL_CHECK_EVERY == 0:
                _check_not_canceled(report)
            rows.append(_row(task))
            report_progress(done, total, f"{done} of {total} tasks")
            if settings.REPORT_ROW_DELAY_SECONDS:
                time.sleep(settings.REPORT_ROW_DELAY_SECONDS)
        _check_not_canceled(report)
        title = f"Tasks of {report.owner.get_username()}, {timezone.localdate():%Y-%m-%d}"
        content = {"csv": _csv, "xlsx": _xlsx}.get(report.format, lambda r: _pdf(r, title))(rows)
        # FieldFile.save writes the whole file under a fresh name before the row points at it.
        report.file.save(f"tasks-{report.pk}.{report.format}", ContentFile(content), save=False)
    except ReportCanceled:
        Report.objects.filter(pk=report.pk).update(finished_at=timezone.now())
        logger.info("report canceled id=%s", report.pk)
        return report
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
        return report
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
