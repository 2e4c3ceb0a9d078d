"""Importing tasks from a CSV or XLSX file: good rows are created, bad rows reported by line."""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import logging
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import PurePath
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from huey.exceptions import TaskTimeout

from tasks_app.models import Notification, Task, TaskImport
from tasks_app.queue import claims
from tasks_app.queue.progress import check_timeout, report_progress
from tasks_app.services import retention, tasks
from tasks_app.services.notifications import notify
from tasks_app.services.user_stats import counts_change

logger = logging.getLogger(__name__)

FILES_ACCEPTED = (
    "CSV (UTF-8 or Windows-1252 text; comma, semicolon, tab or pipe between values) or XLSX (its first sheet)"
)
CHOICES = {"status": Task.Status, "priority": Task.Priority}
# What German spreadsheets write for them (the page and messages list the English ones).
CHOICE_ALIASES = {
    "status": {
        "offen": "todo",
        "zu erledigen": "todo",
        "in arbeit": "in_progress",
        "in bearbeitung": "in_progress",
        "erledigt": "done",
        "fertig": "done",
    },
    "priority": {"niedrig": "low", "mittel": "normal", "hoch": "high"},
}
# Each value and label of a choice, folded, to its value: "To do", "todo" and "TODO" are all todo.
_CHOICE_OF = {
    name: {str(option).casefold(): value for value, label in choices.choices for option in (value, label)}
    | CHOICE_ALIASES[name]
    for name, choices in CHOICES.items()
}
# Column names as spreadsheets write them, folded as `_header` folds them, to the import's own.
HEADER_ALIASES = {
    "titel": "title",
    "aufgabe": "title",
    "beschreibung": "description",
    "notizen": "description",
    "zustand": "status",
    "priorität": "priority",
    "prioritaet": "priority",
    "prio": "priority",
    "due": "due_date",
    "deadline": "due_date",
    "due_on": "due_date",
    "fällig": "due_date",
    "faellig": "due_date",
    "fällig_am": "due_date",
    "fälligkeit": "due_date",
    "fälligkeitsdatum": "due_date",
    "frist": "due_date",
}
# Dates other than YYYY-MM-DD, by the order the person chose: 22.12.2026, 22/12/2026, 22-12-2026.
_DATE = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")
DELIMITERS = ",;\t|"
# The header line is sniffed up to here: csv.Sniffer's regular expressions take time quadratic in
# the text's length (a 60 KB line of quotes took 40 s; 2 KB takes 0.06 s).
SNIFF_CHARS = 2048
# An XLSX file is a zip: what it may unzip to, checked before openpyxl opens it (a 140 KB zip can
# hold a 50 MB sheet, which openpyxl takes 30 s to parse). 10,000 rows of 8 columns unzip to 4.3 MB.
XLSX_MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
XLSX_MAX_PARTS = 1_000  # files in the zip: a workbook has ten or so, a few more per sheet, chart or picture
XLSX_LAST_ROW = 1_048_576  # Excel's; openpyxl would fill a gap up to any row number with empty rows
# openpyxl's cost is per XML element (4 µs for a cell's, up to 25 µs for a style's), not per byte:
# under the byte cap, a 150 KB file of a million blank rows took 48 s. So the markup is counted
# first, at C speed, against what IMPORT_MAX_ROWS rows of IMPORT_MAX_COLUMNS cells need: a row
# takes 2 tags, a cell at most 8 (<c><is><t>…</t></is></c>, or <c><v>…</v></c> and its shared
# <si><t>…</t></si>); the rest (styles, names, links, merged ranges, properties) XLSX_OTHER_TAGS,
# at most 0.5 s of openpyxl.
XLSX_TAGS_PER_CELL = 8
XLSX_OTHER_TAGS = 20_000
_PREFIX = rb"(?:[A-Za-z_][\w.-]{0,31}:)?"  # a namespace prefix, as in <x:row>; a longer one makes a tag "other"
_ROW_TAG = re.compile(rb"<" + _PREFIX + rb"row[\s/>]")
_OTHER_TAG = re.compile(rb"<(?!/?" + _PREFIX + rb"(?:row|c|v|f|is|t|r|si|rPh|phoneticPr)[\s/>])")
_TAG_SPAN = 64  # longer than any tag the patterns match: a piece ends before the first tag this close to its end
# Rows checked and their INSERT compiled outside any transaction, then inserted in one short one
# with the import's progress, so a rerun resumes after them. Small: each chunk holds SQLite's write
# lock, and everyone's writes wait for it.
CHUNK = 50


class ImportFileError(Exception):
    """The file as a whole cannot be imported (encoding, format, size)."""


class Table(NamedTuple):
    """A file's column names, its non-blank rows as (line, values), and its delimiter (None for XLSX)."""

    header: list[str]
    rows: list[tuple[int, list]]
    delimiter: str | None


def accepted(name: str) -> str:
    """What the status or priority column takes, for messages and pages."""
    choices = CHOICES[name]
    return f"{', '.join(choices.values)} (or {', '.join(map(str, choices.labels))})"


def import_create(*, owner, uploaded, date_order: str = TaskImport.DateOrder.ISO) -> TaskImport:
    """Keep an uploaded CSV or XLSX file for the import job; refuse an empty or oversized file at once."""
    if uploaded.size == 0:
        raise ValidationError({"file": "The file is empty."})
    if uploaded.size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(
            {"file": f"The file is {uploaded.size:,} bytes; the limit is {settings.IMPORT_MAX_BYTES:,}."}
        )
    return TaskImport.objects.create(owner=owner, file=uploaded, date_order=date_order)


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


def _read_rows(raw: bytes, name: str) -> Table:
    """The file's table, by its content: an XLSX workbook (a zip), else CSV text. A file that is
    neither, or past a limit (IMPORT_MAX_COLUMNS, IMPORT_MAX_ROWS), raises ImportFileError as soon as it shows.

    Every step is linear in the file's size, and a long read looks at the job's timeout.
    """
    # A zip's first entry starts with b"PK\x03\x04"; b"PK" alone also starts a CSV whose first column is PK.
    if raw.startswith(b"PK\x03\x04"):
        return _read_xlsx(raw)
    suffix = PurePath(name).suffix.lower()
    if suffix in (".xlsx", ".xls"):
        raise ImportFileError(
            f'The file is named {suffix} but is not an XLSX workbook (an XLSX file is a zip archive); save it as "Excel '
            'Workbook (.xlsx)" or as CSV.'
        )
    return _read_csv(raw)


def _read_csv(raw: bytes) -> Table:
    text = _decode(raw)
    if "\x00" in text:
        raise ImportFileError("The file is not a CSV text file (it contains NUL bytes).")
    delimiter = _delimiter(text)
    # strict: a quote left open swallows the rest of the file as one value; refuse it instead.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    return _table(_records(reader), delimiter)


def _delimiter(text: str) -> str:
    """The header line's delimiter, one of DELIMITERS; a comma when it shows none (a single column)."""
    header_line = (text[:SNIFF_CHARS].splitlines() or [""])[0]
    try:
        return csv.Sniffer().sniff(header_line, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted value can span lines); bad CSV raises ImportFileError."""
    line = 1
    try:
        for values in reader:
            yield line, values
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFileError(f"The file is not valid CSV from line {line}: {error}. Nothing was imported.") from None


def _read_xlsx(raw: bytes) -> Table:
    """The first sheet of a workbook, its first row the header; a line is a row number.

    Cheap whatever the file holds: one that would unzip past XLSX_MAX_UNZIPPED_BYTES, or holds more
    markup than the limits need, is refused before openpyxl opens it, and no more columns or rows
    are read than the limits need to be checked.
    """
    from openpyxl import load_workbook  # here, not at the top: it costs every process 0.15 s to import

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
            if len(members) > XLSX_MAX_PARTS:
                raise ImportFileError(
                    f"The workbook has {len(members):,} parts; the limit is {XLSX_MAX_PARTS:,}. Nothing was imported."
                )
            unzipped = sum(member.file_size for member in members)
            if unzipped > XLSX_MAX_UNZIPPED_BYTES:
                raise ImportFileError(
                    f"The workbook unzips to {unzipped:,} bytes; the limit is {XLSX_MAX_UNZIPPED_BYTES:,}. Nothing was imported."
                )
            _check_markup(archive)
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        try:
            return _table(_sheet_records(book.worksheets[0]), None)
        finally:
            book.close()
    except (ImportFileError, TaskTimeout):
        raise
    except Exception as error:  # a broken zip or workbook can fail anywhere in zipfile or openpyxl, as anything
        logger.info("import: unreadable xlsx", exc_info=True)
        raise ImportFileError(
            f"The file is not an XLSX workbook that can be read ({type(error).__name__}); save it as "
            '"Excel Workbook (.xlsx)" or as CSV. Nothing was imported.'
        ) from None


def _check_markup(archive: zipfile.ZipFile) -> None:
    """Refuse a workbook whose parts hold more rows, or more tags, than the limits need.

    Every part is counted, whatever its name (openpyxl finds the sheets and the shared strings by
    the workbook's own references), 1 MB at a time, up to the first chunk past a limit.
    """
    max_rows = settings.IMPORT_MAX_ROWS + 1  # and the header
    max_tags = max_rows * (settings.IMPORT_MAX_COLUMNS * XLSX_TAGS_PER_CELL + 2) + XLSX_OTHER_TAGS
    rows = tags = other = 0
    for member in archive.infolist():
        with archive.open(member) as part:
            for text in _whole_tag_chunks(part):
                rows += len(_ROW_TAG.findall(text))
                tags += text.count(b"<")
                other += len(_OTHER_TAG.findall(text))
                if rows > max_rows:
                    raise ImportFileError(
                        f"The workbook's sheets have more than {max_rows:,} rows (a header and "
                        f"{settings.IMPORT_MAX_ROWS:,} rows, blank ones included), the limit. Nothing was imported."
                    )
                if other > XLSX_OTHER_TAGS:
                    raise ImportFileError(
                        f"The workbook holds more than {XLSX_OTHER_TAGS:,} XML tags of styles, names, links and other "
                        "markup besides its cells, the limit. Nothing was imported."
                    )
                if tags > max_tags:
                    raise ImportFileError(
                        f"The workbook holds more than {max_tags:,} XML tags, more than {max_rows:,} rows of "
                        f"{settings.IMPORT_MAX_COLUMNS} columns need. Nothing was imported."
                    )


def _whole_tag_chunks(part) -> Iterator[bytes]:
    """A zip member's bytes, unzipped 1 MB at a time, each piece cut before a tag it would cut in two."""
    tail = b""
    while chunk := part.read(1024 * 1024):
        text = tail + chunk
        cut = text.find(b"<", max(len(text) - _TAG_SPAN, 0))  # a tag before it ends in this piece
        if cut == -1:
            yield text
            tail = b""
        else:
            yield text[:cut]
            tail = text[cut:]
    yield tail


def _sheet_records(sheet) -> Iterator[tuple[int, list]]:
    """Each row of a read-only sheet with its number, without the empty cells at its end."""
    # The sheet's declared size: a cell past the columns read below would otherwise go unseen.
    if (sheet.max_column or 0) > settings.IMPORT_MAX_COLUMNS:
        raise ImportFileError(
            f"The first sheet spans {sheet.max_column:,} columns; the limit is {settings.IMPORT_MAX_COLUMNS}."
        )
    # One row past Excel's last is read, to refuse a sheet that has one.
    rows = sheet.iter_rows(max_row=XLSX_LAST_ROW + 1, max_col=settings.IMPORT_MAX_COLUMNS + 1, values_only=True)
    for line, values in enumerate(rows, 1):
        if line > XLSX_LAST_ROW:
            raise ImportFileError(f"The first sheet has rows past row {XLSX_LAST_ROW:,}, Excel's last.")
        if values.count(None) == len(values):  # at C speed: a gap of a million empty rows takes a second
            yield line, []
            continue
        values = list(values)
        while values and values[-1] in (None, ""):
            values.pop()
        yield line, values


def _table(records: Iterator[tuple[int, list]], delimiter: str | None) -> Table:
    """The header (the first record) and the non-blank rows after it.

    Blank rows count toward IMPORT_MAX_ROWS: reading one costs what reading a row costs (and
    openpyxl makes one of each row number a sheet skips), so they bound the work too.
    """
    header = _header(next(records, (1, []))[1])
    rows = []
    for count, (line, values) in enumerate(records, 1):
        if count > settings.IMPORT_MAX_ROWS:
            blank = " (blank rows count too)" if len(rows) < count - 1 else ""
            raise ImportFileError(f"The file has more than {settings.IMPORT_MAX_ROWS:,} rows{blank}, the limit.")
        if values:
            rows.append((line, values))
        if count % 1000 == 0:
            check_timeout()
    return Table(header, rows, delimiter)


def _text(value) -> str:
    """A value as text: an XLSX cell may hold a number or a date (a title 42 is "42"), or nothing."""
    return "" if value is None else str(value)


def _header(names: list) -> list[str]:
    """The column names, as the import knows them: case and spaces aside ("Due date" is due_date),
    and the German and other names of HEADER_ALIASES ("Fällig" is due_date)."""
    if len(names) > settings.IMPORT_MAX_COLUMNS:
        raise ImportFileError(f"The header has more than {settings.IMPORT_MAX_COLUMNS} columns, the limit.")
    header = ["_".join(_text(name).lower().split()) for name in names]
    header = [HEADER_ALIASES.get(name, name) for name in header]
    if not any(header):
        raise ImportFileError("The file has no header row.")
    twice = sorted(name for name, count in Counter(header).items() if name and count > 1)
    if twice:
        raise ImportFileError(f"The header names {', '.join(twice)} more than once.")
    if "title" not in header:
        raise ImportFileError(f"The header has no 'title' column (found: {', '.join(header)}).")
    return header


def _date(text: str, order: str) -> datetime.date:
    """A date written YYYY-MM-DD, or day first or month first as `order` (TaskImport.DateOrder) says."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        found = _DATE.match(text) if order != TaskImport.DateOrder.ISO else None
        if found is None:
            raise
    first, second, year = map(int, found.groups())
    day, month = (first, second) if order == TaskImport.DateOrder.DAY_FIRST else (second, first)
    return datetime.date(year, month, day)


_DATE_HINT = {
    TaskImport.DateOrder.ISO: "use YYYY-MM-DD, or choose how the file writes dates (day first, month first) on the import page",
    TaskImport.DateOrder.DAY_FIRST: "this import reads dates day first: DD.MM.YYYY, DD/MM/YYYY or YYYY-MM-DD",
    TaskImport.DateOrder.MONTH_FIRST: "this import reads dates month first: MM/DD/YYYY or YYYY-MM-DD",
}


def _task_fields(row: dict, date_order: str = TaskImport.DateOrder.ISO) -> tuple[dict, dict[str, list[str]]]:
    """The task fields of a row's values by column, and the problems with them by field."""
    fields = {name: _text(row[name]).strip() for name in ("title", "description") if name in row}
    problems = {}
    for name in CHOICES:
        text = _text(row.get(name)).strip()
        if text.casefold() in _CHOICE_OF[name]:
            fields[name] = _CHOICE_OF[name][text.casefold()]
        elif text:
            problems[name] = [f"{text!r} is not one of {accepted(name)}"]
    due = row.get("due_date")
    if isinstance(due, datetime.date):  # an XLSX date cell: openpyxl reads it as a datetime
        fields["due_date"] = due.date() if isinstance(due, datetime.datetime) else due
    elif due_text := _text(due).strip():
        try:
            fields["due_date"] = _date(due_text, date_order)
        except ValueError:
            problems["due_date"] = [f"{due_text!r} is not a date; {_DATE_HINT[date_order]}."]
    return fields, problems


def _reason(problems: dict[str, list[str]]) -> str:
    """One sentence: "status: …; priority: …." (each message's own full stop dropped)."""
    parts = [f"{field}: {message.rstrip('.')}" for field, messages in problems.items() for message in messages]
    return "; ".join(parts) + "."


def _task_of_row(task_import: TaskImport, table: Table, values: list) -> Task | str:
    """The task of one row, checked but not saved, or why the row is refused."""
    header, delimiter = table.header, table.delimiter
    if len(values) > len(header):
        return "More values than columns in the header."
    # A whole line read as one value, holding another delimiter: a line pasted from another file.
    if delimiter and len(header) > 1 and len(values) == 1:
        other = next((mark for mark in DELIMITERS if mark != delimiter and mark in values[0]), None)
        if other:
            return (
                f"The line is one value holding {other!r}, but the header's columns are separated by {delimiter!r}: "
                f"separate this line's values by {delimiter!r} too."
            )
    fields, problems = _task_fields(dict(zip(header, values, strict=False)), task_import.date_order)
    try:
        task = tasks.task_build(created_by=task_import.owner, **fields)
    except ValidationError as error:
        problems = {**error.message_dict, **problems}
    if problems:
        return _reason(problems)
    task.source_import_id = task_import.pk
    return task


def _title_of(table: Table, values: list) -> str:
    """A refused row's title as the file has it, for the list of refused rows (shortened)."""
    if "title" not in table.header:
        return ""
    index = table.header.index("title")
    return _text(values[index]).strip()[:120] if index < len(values) else ""


def _already_there(task_import: TaskImport, chunk: list[Task], seen: set) -> set:
    """The (title, due date) pairs of this chunk's tasks the person already has, in the workspace
    or earlier in this file (importing a file, or the tool's own report, again makes no duplicate).
    One query a chunk; `seen` collects the file's pairs as it goes."""
    titles = {task.title for task in chunk}
    existing = Task.objects.filter(owner_id=task_import.owner_id, title__in=titles)
    return set(existing.values_list("title", "due_date")) | seen


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
    created, skipped, errors = task_import.created, task_import.skipped, list(task_import.errors)
    seen: set = set()  # (title, due date) of the rows read so far
    try:
        with task_import.file.open("rb") as handle:
            table = _read_rows(handle.read(), task_import.file.name)
        rows = table.rows
        if not rows:
            raise ImportFileError("The file has a header but no rows.")
        for start in range(task_import.rows_done, len(rows), CHUNK):
            checked = []
            for line, values in rows[start : start + CHUNK]:
                task = _task_of_row(task_import, table, values)
                if isinstance(task, Task):
                    checked.append(task)
                else:
                    errors.append({"line": line, "title": _title_of(table, values), "reason": task})
            there = _already_there(task_import, checked, seen)
            good = []
            for task in checked:
                if (task.title, task.due_date) in there:
                    skipped += 1
                else:
                    good.append(task)
                    there.add((task.title, task.due_date))
                    seen.add((task.title, task.due_date))
            created += len(good)
            done = min(start + CHUNK, len(rows))
            insert = tasks.tasks_compile_insert(good)
            with transaction.atomic():
                tasks.tasks_insert(insert)
                rows_of_import.update(
                    rows_done=done, created=created, skipped=skipped, failed=len(errors), errors=errors
                )
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
        skipped=skipped,
        failed=len(errors),
        errors=errors,
        finished_at=timezone.now(),
    )
    logger.info("import done id=%s created=%d skipped=%d failed=%d", import_id, created, skipped, len(errors))
    return {"import_id": import_id, "created": created, "failed": len(errors), "error": ""}


def import_notify(task_import: TaskImport) -> Notification:
    """Tell the uploader how the import went (once per import)."""
    if task_import.status == TaskImport.Status.FAILED:
        message = f"Import #{task_import.pk} failed: {task_import.error}"
    else:
        parts = [_count(task_import.created, "task") + " created"]
        if task_import.skipped:
            parts.append(_count(task_import.skipped, "row") + " skipped (you have those tasks already)")
        parts.append(_count(task_import.failed, "row") + " refused")
        message = f"Import #{task_import.pk} done: {', '.join(parts)}."
    return notify(
        user=task_import.owner,
        kind=Notification.Kind.IMPORT_DONE,
        message=message,
        data={"import_id": task_import.pk, "url": f"/imports/{task_import.pk}/"},
        dedup_key=f"import-done:{task_import.pk}",
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def import_undo(task_import: TaskImport) -> int:
    """Remove the tasks an import made (those still there, changed since or not) and mark it
    undone; returns how many. One short write: their states are read for the counts, then deleted."""
    with transaction.atomic():
        made = Task.objects.filter(source_import=task_import)
        states = list(made.values_list("owner_id", "status", "due_date"))
        made.delete()
        counts_change(removed=states)
        TaskImport.objects.filter(pk=task_import.pk).update(undone_at=timezone.now())
    return len(states)


def imports_delete_old(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete imports (rows with their row reports, and the uploaded files) created more than `older_than_days` ago."""
    return retention.file_rows_delete_old(TaskImport, older_than_days=older_than_days, dry_run=dry_run)
