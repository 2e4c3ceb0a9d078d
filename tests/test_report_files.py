"""Report files (services/report_files.py): what people read in each format, and the process that builds them."""

import csv
import datetime
import io
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
import zoneinfo
from concurrent.futures.process import BrokenProcessPool

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import load_workbook

from tasks_app.models import Task
from tasks_app.services import imports, report_files, reports
from tasks_app.services.safe_text import REPLACEMENT
from tests.factories import make_task, make_user

CREATED = datetime.datetime(2026, 12, 5, 14, 3, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
ROWS = [[1, "Zoë's café ☕", "To do", "High", datetime.date(2030, 1, 1), "alice", CREATED, None]]
# Titles in scripts the PDF's font (DejaVu Sans) draws: pdftotext reads each back as it was written.
DRAWN = [
    "Migrate wiki — ünïcödé",
    "Budget 5 € – “final” ‘draft’ …",
    "Перенести вики",
    "Μετάβαση wiki",
    "להעביר את הוויקי",  # drawn right to left, read back in the order it was written
    "ترحيل الويكي",  # the same, its letters unjoined (not shaped)
]
# Titles in scripts DejaVu Sans lacks, drawn in a font of a Debian package loaded for them.
DRAWN_BY_FALLBACK = ["東京", "한국어", "迁移维基 ウィキ 위키", "Ship it 🎉👩\u200d💻"]
# Titles no font here can draw all of -> what the PDF shows: each missing character becomes �.
NOT_DRAWN = {
    "हिन्दी": "������",  # Devanagari
    "Smile 🥲": "Smile �",  # an emoji of 2020, newer than Symbola's
}


def _rows(titles) -> list[list]:
    return [[number, title, "To do", "High", None, "zoë", CREATED, None] for number, title in enumerate(titles)]


def _pdf_lines(pdf: bytes) -> list[str]:
    """The PDF's lines as pdftotext (Debian's poppler-utils) reads them, less the marks it puts around
    right-to-left text."""
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is missing: install Debian's poppler-utils")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return text.replace("\u202b", "").replace("\u202c", "").splitlines()


def test_a_pdf_shows_accents_symbols_and_every_script_its_font_holds_as_written():
    lines = _pdf_lines(report_files.build("pdf", _rows(DRAWN), "Tasks of zoë — 2026", "UTC"))
    assert "Tasks of zoë — 2026" in lines
    assert set(DRAWN) <= set(lines)
    assert not any(REPLACEMENT in line for line in lines)


def test_a_pdf_shows_each_character_its_fonts_lack_as_a_replacement_and_says_so():
    lines = _pdf_lines(report_files.build("pdf", _rows(NOT_DRAWN), "Tasks", "UTC"))
    assert set(NOT_DRAWN.values()) <= set(lines)
    assert report_files.NOT_DRAWN_NOTE in lines


@pytest.fixture
def loaded_fonts(monkeypatch) -> list[str]:
    """The families each PDF built from now on loads (fpdf2's add_font, called through)."""
    from fpdf import FPDF

    loaded, add_font = [], FPDF.add_font

    def recording_add_font(pdf, family=None, style="", fname=None, **options):
        loaded.append(family)
        return add_font(pdf, family, style, fname, **options)

    monkeypatch.setattr(FPDF, "add_font", recording_add_font)
    return loaded


def test_a_pdf_draws_chinese_japanese_korean_and_emoji_in_the_fonts_of_their_debian_packages(loaded_fonts):
    for _, path, _ in report_files.FALLBACK_FONTS:
        if not path.is_file():
            pytest.fail(f"{path} is missing: install Debian's fonts-wqy-microhei and fonts-symbola (make system-deps)")
    lines = _pdf_lines(report_files.build("pdf", _rows(DRAWN_BY_FALLBACK), "Tasks of 東京", "UTC"))
    assert "Tasks of 東京" in lines
    assert set(DRAWN_BY_FALLBACK) <= set(lines)
    assert report_files.NOT_DRAWN_NOTE not in lines
    assert loaded_fonts == ["DejaVu", "DejaVu", "wqy", "symbola"]


def test_a_pdf_loads_each_other_font_only_for_characters_it_is_for(loaded_fonts):
    report_files.build("pdf", _rows([*DRAWN, "हिन्दी"]), "Tasks", "UTC")
    assert loaded_fonts == ["DejaVu", "DejaVu"]  # DejaVu Sans draws these, or no font here does
    report_files.build("pdf", _rows(["東京"]), "Tasks", "UTC")
    assert loaded_fonts[2:] == ["DejaVu", "DejaVu", "wqy"]
    report_files.build("pdf", _rows(["Smile 🥲"]), "Tasks", "UTC")
    assert loaded_fonts[5:] == ["DejaVu", "DejaVu", "symbola"]  # an emoji: tried, though too new for it


def test_without_the_cjk_font_a_pdf_shows_its_characters_as_replacements_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(
        report_files,
        "FALLBACK_FONTS",
        [(family, tmp_path / path.name, chars) for family, path, chars in report_files.FALLBACK_FONTS],
    )
    lines = _pdf_lines(report_files.build("pdf", _rows(["東京", "한국어 🎉"]), "Tasks", "UTC"))
    assert {"��", "��� �"} <= set(lines)
    assert report_files.NOT_DRAWN_NOTE in lines


def test_a_pdf_turns_control_characters_into_nothing_or_spaces():
    lines = _pdf_lines(report_files.build("pdf", _rows(["bell\x07 tab\tend\r"]), "Tasks", "UTC"))
    assert "bell tab end" in [line.rstrip() for line in lines]


def test_an_xlsx_has_real_dates_human_headers_a_frozen_header_and_a_filter_over_the_data():
    sheet = load_workbook(io.BytesIO(report_files.build("xlsx", ROWS * 3, "Tasks", "Europe/Paris"))).active
    assert [cell.value for cell in sheet[1]] == [
        "ID",
        "Title",
        "Status",
        "Priority",
        "Due date",
        "Owner",
        "Created at (Europe/Paris)",
        "Completed at (Europe/Paris)",
    ]
    due, created = sheet["E2"], sheet["G2"]
    assert due.is_date and due.value == datetime.datetime(2030, 1, 1)  # openpyxl reads a date back as a datetime
    assert created.is_date and created.value == datetime.datetime(2026, 12, 5, 14, 3)
    assert created.number_format == "yyyy-mm-dd hh:mm"
    assert sheet["H2"].value is None
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:H4"
    assert sheet.column_dimensions["B"].width == 60


def test_a_csv_keeps_the_headers_the_import_reads_and_gives_times_with_their_offset():
    text = report_files.build("csv", ROWS, "Tasks", "Europe/Paris").decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [
        report_files.COLUMNS,
        ["1", "Zoë's café ☕", "To do", "High", "2030-01-01", "alice", "2026-12-05 14:03+01:00", ""],
    ]


@pytest.mark.django_db
def test_reports_give_times_in_the_local_time_zone_and_name_it(alice, settings):
    settings.TIME_ZONE = "Europe/Paris"
    summer, winter = (datetime.datetime(2026, month, 5, 13, 3, tzinfo=datetime.UTC) for month in (7, 12))
    with time_machine.travel(summer, tick=False):
        make_task(alice, title="Done", status=Task.Status.DONE, priority=Task.Priority.HIGH, completed_at=winter)
        built = {}
        for format in ("csv", "xlsx", "pdf"):
            report = reports.report_request(owner=alice, format=format)
            reports.report_build(report.pk)
            report.refresh_from_db()
            built[format] = report.file.read()
    csv_row = list(csv.reader(io.StringIO(built["csv"].decode("utf-8-sig"))))[1]
    assert csv_row[2:4] + csv_row[6:] == ["done", "high", "2026-07-05 15:03+02:00", "2026-12-05 14:03+01:00"]
    sheet = load_workbook(io.BytesIO(built["xlsx"])).active
    assert [cell.value for cell in sheet[2]][2:] == [
        "Done",
        "High",
        None,
        "alice",
        datetime.datetime(2026, 7, 5, 15, 3),
        datetime.datetime(2026, 12, 5, 14, 3),
    ]
    lines = _pdf_lines(built["pdf"])
    assert {"High", "Created at", "(Europe/Paris)", "2026-07-05 15:03", "2026-12-05 14:03"} <= set(lines)


@pytest.mark.django_db
def test_a_csv_report_imports_back_as_the_same_tasks(alice):
    make_task(alice, title="Plain")
    make_task(
        alice,
        title="Started — ünïcödé",
        status=Task.Status.IN_PROGRESS,
        priority=Task.Priority.HIGH,
        due_date=datetime.date(2030, 1, 1),
    )
    make_task(alice, title="Finished", status=Task.Status.DONE, priority=Task.Priority.LOW)
    report = reports.report_request(owner=alice, format="csv")
    reports.report_build(report.pk)
    report.refresh_from_db()
    bob = make_user("bob")
    task_import = imports.import_create(owner=bob, uploaded=SimpleUploadedFile("tasks.csv", report.file.read()))
    assert imports.import_run(task_import.pk)["created"] == 3
    fields = ("title", "status", "priority", "due_date")
    assert list(Task.objects.filter(owner=bob).order_by("pk").values_list(*fields)) == list(
        Task.objects.filter(owner=alice).order_by("pk").values_list(*fields)
    )


@pytest.fixture
def builder():
    builder = report_files.Builder(nice=5)
    yield builder
    for process in multiprocessing.active_children():
        process.kill()


def test_a_file_built_in_the_builder_process_is_the_one_built_inline(builder):
    for format in ("csv", "xlsx"):  # (a PDF carries its creation time)
        assert builder.build(format, ROWS, "Tasks", "Europe/Paris") == report_files.build(
            format, ROWS, "Tasks", "Europe/Paris"
        )
    assert builder.build("pdf", ROWS, "Tasks", "Europe/Paris").startswith(b"%PDF")
    (process,) = multiprocessing.active_children()
    assert process.pid != os.getpid()
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5


def test_a_builder_process_that_dies_fails_that_build_and_the_next_one_starts_another(builder):
    builder.build("csv", ROWS, "Tasks", "UTC")
    (process,) = multiprocessing.active_children()
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    with pytest.raises(BrokenProcessPool):
        builder.build("csv", ROWS, "Tasks", "UTC")
    assert builder.build("csv", ROWS, "Tasks", "UTC").startswith(b'\xef\xbb\xbf"id","title"')


def test_a_build_given_up_while_it_runs_returns_at_the_next_look(builder):
    looks = []

    def give_up():
        looks.append(time.monotonic())
        raise RuntimeError("canceled")

    asked = time.monotonic()
    with pytest.raises(RuntimeError, match="canceled"):
        builder.build("pdf", ROWS * 1000, "Tasks", "UTC", between=give_up, every=0.2)  # seconds of work
    assert len(looks) == 1 and looks[0] - asked < 0.5
