"""What an import file may cost: the work is bounded by IMPORT_MAX_ROWS and IMPORT_MAX_COLUMNS, blank rows
and markup included, so a small hostile file is refused before openpyxl parses it (issue 29)."""

import datetime
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook

from tasks_app import jobs
from tasks_app.models import JobRun, Task, TaskImport
from tasks_app.services import imports

pytestmark = pytest.mark.django_db

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
TITLE_ROW = '<row><c t="inlineStr"><is><t>title</t></is></c></row>'
XF = '<xf numFmtId="0"/>'  # a cell format, in xl/styles.xml
BLANK_ROW = '<row><c t="inlineStr"><is><t></t></is></c></row>'  # one cell, an empty string


def _run(owner, name: str, raw: bytes) -> TaskImport:
    task_import = imports.import_create(owner=owner, uploaded=SimpleUploadedFile(name, raw))
    result = jobs.import_run(task_import.pk)
    assert JobRun.objects.get(pk=result.id).state == JobRun.State.SUCCEEDED  # a data problem is no job failure
    task_import.refresh_from_db()
    return task_import


def _refused(owner, name: str, raw: bytes) -> str:
    task_import = _run(owner, name, raw)
    assert (task_import.status, task_import.created) == (TaskImport.Status.FAILED, 0)
    assert not Task.objects.exists()
    return task_import.error


def _workbook(replace: dict[str, str | bytes]) -> bytes:
    """A real one-sheet workbook (as openpyxl writes it) with some of its parts replaced."""
    book = Workbook()
    book.active.append(["title"])
    source = io.BytesIO()
    book.save(source)
    out = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in original.namelist():
            archive.writestr(name, replace.get(name, original.read(name)))
    return out.getvalue()


def _sheet(rows: str, root: str = f'<worksheet xmlns="{NS}">') -> str:
    return f"{root}<sheetData>{TITLE_ROW}{rows}</sheetData></worksheet>"


def test_a_150_kb_workbook_of_a_million_blank_rows_is_refused_before_it_is_parsed(alice):
    """It unzips to 50 MB, under the byte cap; openpyxl took 48 s of CPU to read it, to find no rows."""
    raw = _workbook({"xl/worksheets/sheet1.xml": _sheet(BLANK_ROW * 1_048_000)})
    assert len(raw) < 200_000
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert 45_000_000 < sum(part.file_size for part in archive.infolist()) < imports.XLSX_MAX_UNZIPPED_BYTES
    assert _refused(alice, "blank.xlsx", raw) == (
        "The workbook's sheets have more than 10,001 rows (a header and 10,000 rows, blank ones included), "
        "the limit. Nothing was imported."
    )


def test_rows_are_counted_whatever_namespace_prefix_the_sheet_uses(alice, settings):
    settings.IMPORT_MAX_ROWS = 100
    prefixed = _sheet(BLANK_ROW * 101, root=f'<x:worksheet xmlns:x="{NS}">').replace("<", "<x:").replace("<x:/", "</x:")
    assert "<x:row><x:c" in prefixed
    assert "more than 101 rows" in _refused(alice, "prefixed.xlsx", _workbook({"xl/worksheets/sheet1.xml": prefixed}))


def test_rows_a_sheet_skips_count_as_blank_rows(alice, settings):
    """openpyxl makes a row of each number skipped; a far row number would take it through a million."""
    settings.IMPORT_MAX_ROWS = 100
    raw = _workbook({"xl/worksheets/sheet1.xml": _sheet('<row r="50000"><c t="inlineStr"><is><t>x</t></is></c></row>')})
    assert _refused(alice, "gap.xlsx", raw) == "The file has more than 100 rows (blank rows count too), the limit."


def test_blank_lines_of_a_csv_count_toward_the_row_limit(alice, settings):
    settings.IMPORT_MAX_ROWS = 100
    raw = b"title\n" + b"\n" * 100 + b"a task\n"
    assert _refused(alice, "blank.csv", raw) == "The file has more than 100 rows (blank rows count too), the limit."


def test_more_cell_markup_than_the_rows_and_columns_need_is_refused(alice, settings):
    settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_COLUMNS = 100, 5
    limit = 101 * (5 * imports.XLSX_TAGS_PER_CELL + 2) + imports.XLSX_OTHER_TAGS
    raw = _workbook({"xl/worksheets/sheet1.xml": _sheet("<row>" + "<c/>" * limit + "</row>")})
    assert _refused(alice, "wide.xlsx", raw) == (
        f"The workbook holds more than {limit:,} XML tags, more than 101 rows of 5 columns need. Nothing was imported."
    )


@pytest.mark.parametrize(
    ("part", "markup"),
    [
        ("xl/styles.xml", f'<styleSheet xmlns="{NS}"><cellXfs>{XF * 20_000}</cellXfs></styleSheet>'),
        (
            "xl/worksheets/sheet1.xml",
            _sheet("").replace(
                "</worksheet>", "<mergeCells>" + '<mergeCell ref="A1:B2"/>' * 20_000 + "</mergeCells></worksheet>"
            ),
        ),
    ],
)
def test_styles_ranges_or_other_markup_past_its_own_limit_is_refused(alice, part, markup):
    """openpyxl spends up to 25 µs on each such tag: 20,000 of them are half a second."""
    assert _refused(alice, "styled.xlsx", _workbook({part: markup})) == (
        "The workbook holds more than 20,000 XML tags of styles, names, links and other markup besides its cells, "
        "the limit. Nothing was imported."
    )


def test_a_workbook_of_more_parts_than_a_workbook_has_is_refused(alice):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number in range(imports.XLSX_MAX_PARTS + 1):
            archive.writestr(f"part{number}.xml", b"")
    assert (
        _refused(alice, "parts.xlsx", out.getvalue())
        == "The workbook has 1,001 parts; the limit is 1,000. Nothing was imported."
    )


def test_a_workbook_at_the_limits_with_blank_rows_still_imports(alice, settings):
    settings.IMPORT_MAX_ROWS = 60
    book = Workbook()
    sheet = book.active
    sheet.append(["Title", "Status", "Priority", "Due date"] + [f"Extra {n}" for n in range(36)])  # 40 columns
    for number in range(54):
        sheet.append([f"Task {number}", "In progress", "high", datetime.date(2030, 1, 2)] + ["x"] * 36)
    sheet.cell(row=61, column=1, value="Last")  # after 5 blank rows: 60 rows under the header
    raw = io.BytesIO()
    book.save(raw)
    task_import = _run(alice, "tasks.xlsx", raw.getvalue())
    assert (task_import.status, task_import.created, task_import.errors) == (TaskImport.Status.SUCCEEDED, 55, [])
    assert Task.objects.filter(status="in_progress", priority="high", due_date=datetime.date(2030, 1, 2)).count() == 54
