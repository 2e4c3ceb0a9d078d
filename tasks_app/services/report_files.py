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
import io
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tasks_app.services.safe_text import pdf_safe, spreadsheet_safe

COLUMNS = ["id", "title", "status", "priority", "due_date", "owner", "created_at", "completed_at"]


def build(format: str, rows: list[list], title: str) -> bytes:
    """The file of these rows in this format ("csv", "xlsx" or "pdf")."""
    if format == "csv":
        return _csv(rows)
    if format == "xlsx":
        return _xlsx(rows)
    return _pdf(rows, title)


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


class Builder:
    """One process that builds files, started on first use and again if it dies."""

    def __init__(self, *, nice: int):
        self._nice = nice
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def build(self, format: str, rows: list[list], title: str) -> bytes:
        with self._lock:
            if self._pool is None:
                # spawn: a fork of the consumer would copy its threads' locks mid-use
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=os.nice, initargs=(self._nice,))
            pool = self._pool
        try:
            return pool.submit(build, format, rows, title).result()
        except BrokenProcessPool:
            with self._lock:  # the process died (killed, out of memory): the next build starts another
                if self._pool is pool:
                    self._pool = None
            raise
