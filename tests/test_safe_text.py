"""Hostile text through every file people download: reports (CSV, XLSX, PDF) and the workspace export."""

import csv
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook

from tasks_app import jobs
from tasks_app.models import Report, WorkspaceExport
from tasks_app.services import reports
from tasks_app.services.safe_text import pdf_safe, spreadsheet_safe, xml_safe
from tests.factories import make_task

pytestmark = pytest.mark.django_db

LONG_TITLE = "long " * 40  # 200 characters, the longest title a task takes
LONG_TEXT = "long " * 2000  # 10,000 characters, as a description

# Stored title -> what a spreadsheet must show. NUL is not here: forms and the API refuse it
# (Django's and DRF's CharField), PostgreSQL cannot store it; lone surrogates cannot be stored
# at all (SQLite and PostgreSQL take UTF-8 only). Both are covered by the unit tests below.
HOSTILE_TITLES = {
    "bell\x07char": "bellchar",
    "escape\x1b[31mred": "escape[31mred",
    "form\x0cfeed and \x0bvertical tab": "formfeed and vertical tab",
    '=HYPERLINK("http://evil.example","click")': '\'=HYPERLINK("http://evil.example","click")',
    "+1+2": "'+1+2",
    "-2+3": "'-2+3",
    "@SUM(A1:A9)": "'@SUM(A1:A9)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "right-to-left \u202eevil.exe\u202c and \u200fmark": "right-to-left \u202eevil.exe\u202c and \u200fmark",
    "emoji 🎉👩‍💻": "emoji 🎉👩‍💻",
    "a safe title, with = inside": "a safe title, with = inside",
    LONG_TITLE: LONG_TITLE,
}


@pytest.fixture
def hostile_tasks(alice):
    return [make_task(alice, title=title, description=f"{title}\n{LONG_TEXT}") for title in HOSTILE_TITLES]


def _built(owner, format: str) -> Report:
    report = reports.report_request(owner=owner, format=format)
    jobs.report_build(report.pk)
    report.refresh_from_db()
    assert report.status == Report.Status.SUCCEEDED, report.error
    return report


# In a CSV, what follows a separator, a tab or a line end is escaped too: a reader splitting there
# (Excel in a locale whose list separator is ";") would start a cell with it.
CSV_TITLES = {**HOSTILE_TITLES, "\t=1+1": "'\t'=1+1", "\r=1+1": "'\r'=1+1"}
SPLIT_FORMULAS = {
    "x;=1+1;=cmd|' /C calc'!A0": "x;'=1+1;'=cmd|' /C calc'!A0",
    "a,+1": "a,'+1",
    'quoted;"=1+1"': 'quoted;\'"=1+1"',
    "tab\t-1": "tab\t'-1",
    "line\n@SUM(A1:A9)": "line\n'@SUM(A1:A9)",
    "a safe title; with - inside, and @ too": "a safe title; with - inside, and @ too",
}


def test_a_csv_report_reads_back_every_hostile_title_as_text(alice, hostile_tasks):
    report = _built(alice, "csv")
    rows = list(csv.reader(io.StringIO(report.file.read().decode("utf-8-sig"), newline="")))
    assert [row[1] for row in rows[1:]] == list(CSV_TITLES.values())


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_no_field_of_a_csv_report_starts_a_formula_whatever_separator_it_is_split_on(alice, delimiter):
    for title in [*HOSTILE_TITLES, *SPLIT_FORMULAS]:
        make_task(alice, title=title, description=f"{title}\n{title}")
    text = _built(alice, "csv").file.read().decode("utf-8-sig")
    assert text.startswith('"id","title","status",')  # every value quoted
    fields = [field for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) for field in row]
    assert len(fields) > len(HOSTILE_TITLES) + len(SPLIT_FORMULAS)
    assert [field for field in fields if field.lstrip('"').startswith(("=", "+", "-", "@"))] == []
    if delimiter == ",":
        titles = [row[1] for row in csv.reader(io.StringIO(text, newline=""))][1:]
        assert titles == [*CSV_TITLES.values(), *SPLIT_FORMULAS.values()]


def test_an_xlsx_report_opens_and_holds_every_hostile_title_as_text(alice, hostile_tasks):
    report = _built(alice, "xlsx")
    sheet = load_workbook(report.file.open("rb")).active
    titles = [row[1] for row in sheet.iter_rows(min_row=2)]
    # XML reads a carriage return back as a newline (its line-end normalisation).
    assert [cell.value for cell in titles] == [title.replace("\r", "\n") for title in HOSTILE_TITLES.values()]
    assert {cell.data_type for cell in titles} == {"s"}  # no formula among them


def test_a_pdf_report_is_built_with_every_hostile_title(alice, hostile_tasks):
    report = _built(alice, "pdf")
    assert report.rows == len(HOSTILE_TITLES)
    assert report.file.open("rb").read(5) == b"%PDF-"


def test_the_workspace_export_keeps_hostile_text_exactly(api, hostile_tasks, django_capture_on_commit_callbacks):
    """The export is the user's data as JSON (escaped, never run by a spreadsheet): nothing is changed."""
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/exports/")
    export = WorkspaceExport.objects.get()
    assert export.status == WorkspaceExport.Status.SUCCEEDED
    archive = zipfile.ZipFile(export.file.open("rb"))
    exported = sorted(json.loads(archive.read("tasks.json")), key=lambda task: task["id"])
    assert [task["title"] for task in exported] == list(HOSTILE_TITLES)
    assert [task["description"] for task in exported] == [f"{title}\n{LONG_TEXT}" for title in HOSTILE_TITLES]


def test_xml_safe_drops_nul_controls_and_lone_surrogates_and_keeps_the_rest():
    assert xml_safe("a\x00b\x01c\x1fd\ud800e\udfffz\ufffe") == "abcdez"
    assert xml_safe("tab\tnew\nline\r, RTL \u202e, emoji 🎉, é") == "tab\tnew\nline\r, RTL \u202e, emoji 🎉, é"


def test_spreadsheet_safe_escapes_a_formula_left_after_stripping_and_passes_numbers():
    assert spreadsheet_safe("\x07=1+1") == "'=1+1"
    assert spreadsheet_safe("\x00\ud800") == ""
    assert spreadsheet_safe(42) == 42


def test_pdf_safe_replaces_what_the_font_cannot_draw_and_drops_controls():
    drawable = {ord(char) for char in "Zoë שלום€ "}
    assert pdf_safe("Zoë \x07🎉 \ud800שלום\t€\r\n", drawable) == "Zoë \ufffd שלום € \n"
