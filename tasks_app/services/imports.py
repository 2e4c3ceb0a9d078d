"""Importing tasks from a CSV file: good rows are created, bad rows reported by line."""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import logging
from collections import Counter

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tasks_app.models import Notification, Task, TaskImport
from tasks_app.queue import claims
from tasks_app.queue.progress import check_timeout, report_progress
from tasks_app.services import retention, tasks
from tasks_app.services.notifications import notify

logger = logging.getLogger(__name__)

COLUMNS = {"title", "description", "status", "priority", "due_date"}
# Rows checked and their INSERT compiled outside any transaction, then inserted in one short one
# with the import's progress, so a rerun resumes after them. Small: each chunk holds SQLite's write
# lock, and everyone's writes wait for it.
CHUNK = 50


class ImportFileError(Exception):
    """The file as a whole cannot be imported (encoding, format, size)."""


def import_create(*, owner, uploaded) -> TaskImport:
    """Keep an uploaded CSV for the import job; refuse an empty or oversized file at once."""
    if uploaded.size == 0:
        raise ValidationError({"file": "The file is empty."})
    if uploaded.size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(
            {"file": f"The file is {uploaded.size:,} bytes; the limit is {settings.IMPORT_MAX_BYTES:,}."}
        )
    return TaskImport.objects.create(owner=owner, file=uploaded)


def _decode(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without a BOM), UTF-16 by its BOM, else Windows-1252.

    Windows-1252 (cp1252, a superset of Latin-1's printable characters) is what spreadsheet
    programs on Windows write as "CSV"; a UTF-8 file is never mistaken for it, as UTF-8 is tried first.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ImportFileError(
                f"The file starts as UTF-16 but is not (bad bytes at position {error.start})."
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"The file is neither UTF-8 nor Windows-1252 (cp1252) text (byte {raw[error.start]:#04x} at position "
            f'{error.start}); save it as "CSV UTF-8".'
        ) from None


def _read_rows(raw: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the (line, values) of each non-blank row; a file that is not CSV, or past a
    limit (IMPORT_MAX_COLUMNS, IMPORT_MAX_ROWS), raises ImportFileError as soon as it shows.

    Every step is linear in the file's size, and a long read looks at the job's timeout.
    """
    text = _decode(raw)
    if "\x00" in text:
        raise ImportFileError("The file is not a CSV text file (it contains NUL bytes).")
    # strict: a quote left open swallows the rest of the file as one value; refuse it instead.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = _header([name.strip().lower() for name in next(reader, [])])
        rows, line = [], reader.line_num + 1
        for count, values in enumerate(reader, 1):
            if values:
                rows.append((line, values))
            line = reader.line_num + 1  # a quoted value can span lines: the next record starts here
            if len(rows) > settings.IMPORT_MAX_ROWS:
                raise ImportFileError(f"The file has more than {settings.IMPORT_MAX_ROWS:,} rows, the limit.")
            if count % 1000 == 0:
                check_timeout()
    except csv.Error as error:
        raise ImportFileError(f"The file is not valid CSV from line {line}: {error}. Nothing was imported.") from None
    return header, rows


def _header(header: list[str]) -> list[str]:
    if not any(header):
        raise ImportFileError("The file has no header row.")
    if len(header) > settings.IMPORT_MAX_COLUMNS:
        raise ImportFileError(f"The header has {len(header):,} columns; the limit is {settings.IMPORT_MAX_COLUMNS}.")
    twice = sorted(name for name, count in Counter(header).items() if name and count > 1)
    if twice:
        raise ImportFileError(f"The header names {', '.join(twice)} more than once.")
    if "title" not in header:
        raise ImportFileError(f"The header has no 'title' column (found: {', '.join(header)}).")
    return header


def _task_fields(row: dict) -> dict:
    fields = {name: (row.get(name) or "").strip() for name in COLUMNS if name in row}
    if not fields.get("status"):
        fields.pop("status", None)
    if not fields.get("priority"):
        fields.pop("priority", None)
    due = fields.pop("due_date", "")
    if due:
        try:
            fields["due_date"] = datetime.date.fromisoformat(due)
        except ValueError:
            raise ValidationError({"due_date": f"{due!r} is not a date; use YYYY-MM-DD."}) from None
    return fields


def _reason(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


def _task_of_row(task_import: TaskImport, header: list[str], values: list[str]) -> Task | str:
    """The task of one row, checked but not saved, or why the row is refused."""
    if len(values) > len(header):
        return "More values than columns in the header."
    row = dict(zip(header, values, strict=False))
    try:
        return tasks.task_build(created_by=task_import.owner, **_task_fields(row))
    except ValidationError as error:
        return _reason(error)


def import_run(import_id: int) -> dict | None:
    """Create the tasks of a pending import, row by row; None when it is gone or not pending.

    Bad rows and bad files are recorded on the import (a data problem is no reason to retry).
    Rows are created in chunks committed with the import's progress: a run that dies midway is
    resumed by the next one (a redelivery, a retry) after the last chunk, creating no task twice.
    """
    rows_of_import = TaskImport.objects.filter(pk=import_id)
    if not claims.claim(
        rows_of_import,
        open=[TaskImport.Status.PENDING],
        claimed=TaskImport.Status.RUNNING,
        reopen=[TaskImport.Status.FAILED],
        error="",
        finished_at=None,
    ):
        return None
    task_import = TaskImport.objects.select_related("owner").get(pk=import_id)
    created, errors = task_import.created, list(task_import.errors)
    try:
        with task_import.file.open("rb") as handle:
            header, rows = _read_rows(handle.read())
        if not rows:
            raise ImportFileError("The file has a header but no rows.")
        for start in range(task_import.rows_done, len(rows), CHUNK):
            good = []
            for line, values in rows[start : start + CHUNK]:
                task = _task_of_row(task_import, header, values)
                if isinstance(task, Task):
                    good.append(task)
                else:
                    errors.append({"line": line, "reason": task})
            created += len(good)
            done = min(start + CHUNK, len(rows))
            insert = tasks.tasks_compile_insert(good)
            with transaction.atomic():
                tasks.tasks_insert(insert)
                rows_of_import.update(rows_done=done, created=created, failed=len(errors), errors=errors)
            report_progress(done, len(rows), f"{done} of {len(rows)} rows")
    except ImportFileError as error:
        message = str(error)
        TaskImport.objects.filter(pk=import_id).update(
            status=TaskImport.Status.FAILED, error=message, finished_at=timezone.now()
        )
        return {"import_id": import_id, "created": 0, "failed": 0, "error": message}
    except BaseException as error:  # a timeout, a lost file: the job fails and says why
        # created/errors stay as the last committed chunk left them: a rerun resumes from there
        TaskImport.objects.filter(pk=import_id).update(
            status=TaskImport.Status.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    TaskImport.objects.filter(pk=import_id).update(
        status=TaskImport.Status.SUCCEEDED,
        created=created,
        failed=len(errors),
        errors=errors,
        finished_at=timezone.now(),
    )
    logger.info("import done id=%s created=%d failed=%d", import_id, created, len(errors))
    return {"import_id": import_id, "created": created, "failed": len(errors), "error": ""}


def import_notify(task_import: TaskImport) -> Notification:
    """Tell the uploader how the import went (once per import)."""
    if task_import.status == TaskImport.Status.FAILED:
        message = f"Import #{task_import.pk} failed: {task_import.error}"
    else:
        message = (
            f"Import #{task_import.pk} done: {task_import.created} tasks created, {task_import.failed} rows refused."
        )
    return notify(
        user=task_import.owner,
        kind=Notification.Kind.IMPORT_DONE,
        message=message,
        data={"import_id": task_import.pk, "url": f"/imports/{task_import.pk}/"},
        dedup_key=f"import-done:{task_import.pk}",
    )


def imports_delete_old(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete imports (rows with their row reports, and the uploaded files) created more than `older_than_days` ago."""
    return retention.file_rows_delete_old(TaskImport, older_than_days=older_than_days, dry_run=dry_run)
