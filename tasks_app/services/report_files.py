"""A report's file (CSV, XLSX or PDF) from its rows, built in a process of its own.

Building a PDF is pure Python and CPU-bound (2.4 s for 500 rows). In the consumer's process it
would hold the interpreter's lock while the consumer's other threads hold SQLite's write lock and
wait for a turn to run: an import's 200-row insert held the write lock for up to 430 ms, and the
web's writes waited behind it. So a consumer hands the rows to one process of its own, at a lower
CPU priority, that builds the file and returns its bytes. This module imports no Django: that
process only unpickles rows and writes bytes. In immediate mode (development, unit tests) files
are built inline.
"""

from __future__ import annotations

import csv
import datetime
import io
import multiprocessing
import os
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tasks_app.services.safe_text import REPLACEMENT, csv_safe, pdf_safe, spreadsheet_safe

# The CSV keeps machine names in its header, as the import (services/imports.py) reads them back.
COLUMNS = ["id", "title", "status", "priority", "due_date", "owner", "created_at", "completed_at"]
HEADERS = ["ID", "Title", "Status", "Priority", "Due date", "Owner", "Created at ({zone})", "Completed at ({zone})"]
XLSX_WIDTHS = [8, 60, 12, 10, 12, 16, 18, 18]  # in characters
PDF_WIDTHS = [10, 70, 20, 18, 22, 25, 28, 28]  # shares of the page's width
# DejaVu Sans: Latin, Greek, Cyrillic, Hebrew, Arabic and symbols, but no CJK nor emoji (fonts/LICENSE.txt).
FONTS = Path(__file__).resolve().parent.parent / "fonts"
# Fonts for what DejaVu Sans lacks, from Debian packages (the Makefile's system-deps, docs/deploying.md):
# a family, its file and the characters it is for. Each is loaded only for a PDF holding one of them
# that DejaVu Sans lacks (the CJK one takes 0.3 s to load); where its file is missing, they show as
# REPLACEMENT, noted under the table.
FALLBACK_FONTS = [
    # WenQuanYi Micro Hei (fonts-wqy-microhei): Chinese, Japanese kana and Korean Hangul.
    (
        "wqy",
        Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        re.compile("[\u1100-\u11ff\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"),
    ),
    # Symbola (fonts-symbola): emoji up to Unicode 9, in black and white, and symbols.
    (
        "symbola",
        Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf"),
        re.compile("[\u2000-\u2bff\U0001f000-\U0001faff]"),
    ),
]
# Letters of the scripts written right to left (Hebrew, Arabic, Syriac, Thaana...) and their presentation forms.
RIGHT_TO_LEFT = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
NOT_DRAWN_NOTE = (
    f"{REPLACEMENT} stands for characters this PDF's fonts cannot show (such as emoji newer than 2016); "
    "the CSV and XLSX reports hold them."
)


def build(format: str, rows: list[list], title: str, time_zone: str) -> bytes:
    """The file of these rows in this format ("csv", "xlsx" or "pdf"); `time_zone` names the zone of their times."""
    if format == "csv":
        return _csv(rows)
    if format == "xlsx":
        return _xlsx(rows, time_zone)
    return _pdf(rows, title, time_zone)


def _headers(time_zone: str) -> list[str]:
    return [header.format(zone=time_zone) for header in HEADERS]


def _csv(rows: list[list]) -> bytes:
    def text(value):
        if isinstance(value, datetime.datetime):
            return value.isoformat(sep=" ", timespec="minutes")  # 2026-12-05 14:03+01:00
        return csv_safe(value)

    out = io.StringIO()
    # Every value quoted: a reader that splits on another separator than the comma (Excel where
    # the list separator is ";") still keeps each of them whole if it honours quotes; csv_safe
    # covers the readers that do not.
    writer = csv.writer(out, quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    writer.writerows([text(cell) for cell in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8


def _xlsx(rows: list[list], time_zone: str) -> bytes:
    from openpyxl import Workbook  # here, not at the top: it costs every process 0.15 s to import
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Tasks")
    for number, width in enumerate(XLSX_WIDTHS, start=1):  # write-only: before the first row
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"

    def cell(value):
        if not isinstance(value, datetime.datetime):
            return spreadsheet_safe(value)  # dates pass as dates
        # Excel has no time zones: the local time, its zone named in the header
        styled = WriteOnlyCell(sheet, value.replace(tzinfo=None))
        styled.number_format = "yyyy-mm-dd hh:mm"
        return styled

    sheet.append(_headers(time_zone))
    for row in rows:
        sheet.append([cell(value) for value in row])
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{len(rows) + 1}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _pdf(rows: list[list], title: str, time_zone: str) -> bytes:
    from fpdf import FPDF  # here, not at the top: it costs every process 0.5 s to import
    from fpdf.bidi import BidiParagraph

    pdf = FPDF(orientation="landscape")
    pdf.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
    drawable = pdf.fonts["dejavu"].cmap.keys() & pdf.fonts["dejavuB"].cmap.keys()

    def plain(value) -> str:
        if isinstance(value, datetime.datetime):
            return f"{value:%Y-%m-%d %H:%M}"
        return "" if value is None else str(value)

    def text(value: str) -> str:
        value = pdf_safe(value, drawable)
        # fpdf2 puts right-to-left text in the order it is drawn only when it shapes text (with
        # uharfbuzz); without this, Hebrew would be drawn mirrored. Arabic letters stay unjoined.
        return BidiParagraph(text=value).get_reordered_string() if RIGHT_TO_LEFT.search(value) else value

    title, cells = plain(title), [[plain(value) for value in row] for row in rows]
    used = {char for value in [title, *(value for row in cells for value in row)] for char in value}
    lacking = "".join(char for char in used if ord(char) not in drawable)
    fallbacks = []
    for family, path, chars in FALLBACK_FONTS:
        if chars.search(lacking) and path.is_file():
            pdf.add_font(family, "", path)
            fallbacks.append(family)
            drawable = drawable | pdf.fonts[family].cmap.keys()
    if fallbacks:  # drawn in their regular style where the bold of DejaVu lacks a character
        pdf.set_fallback_fonts(fallbacks, exact_match=False)
    title, cells = text(title), [[text(value) for value in row] for row in cells]
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=8)
    with pdf.table(col_widths=PDF_WIDTHS, text_align="LEFT") as table:
        table.row(_headers(time_zone))
        for row in cells:
            table.row(row)
    if REPLACEMENT in title or any(REPLACEMENT in value for row in cells for value in row):
        pdf.ln(2)
        pdf.multi_cell(0, 5, NOT_DRAWN_NOTE)
    return bytes(pdf.output())


class Builder:
    """One process that builds files, started on first use and again if it dies."""

    def __init__(self, *, nice: int):
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def build(
        self, format: str, rows: list[list], title: str, time_zone: str, *, between=lambda: None, every: float = 0.5
    ) -> bytes:
        """The file, built in the process; `between()` is called every `every` seconds while it
        waits, and may raise to abandon the build (which then finishes unused)."""
        with self._lock:
            if self._pool is None:
                # spawn: a fork of the consumer would copy its threads' locks mid-use
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=os.nice, initargs=(self._nice,))
            pool = self._pool
        try:
            future = pool.submit(build, format, rows, title, time_zone)
            while True:
                try:
                    return future.result(timeout=every)
                except TimeoutError:
                    try:
                        between()
                    except BaseException:
                        future.cancel()  # not started: never built; started: it finishes unused
                        raise
        except BrokenProcessPool:
            with self._lock:  # the process died (killed, out of memory): the next build starts another
                if self._pool is pool:
                    self._pool = None
            raise
