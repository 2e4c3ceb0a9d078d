"""Reports, CSV imports and workspace exports (Huey in immediate mode)."""

import csv
import datetime
import io
import json
import zipfile
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from tasks_app import jobs, queue
from tasks_app.api.schema import XLSX
from tasks_app.models import JobRun, Notification, Report, Task, TaskImport, UserTaskStats, WorkspaceExport
from tasks_app.services import imports, report_files, reports
from tests.factories import api_client as make_api
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def _csv_upload(text: str | bytes, name: str = "tasks.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


class TestReports:
    def test_a_csv_report_lists_the_owners_tasks_with_the_filters(self, alice):
        make_task(alice, title="Open one")
        make_task(alice, title="Done one", status=Task.Status.DONE)
        make_task(make_user(), title="Someone else's")
        report = reports.report_request(owner=alice, format="csv", task_status="done")
        reports.report_build(report.pk)
        report.refresh_from_db()
        assert (report.status, report.rows) == (Report.Status.SUCCEEDED, 1)
        rows = list(csv.reader(io.StringIO(report.file.read().decode("utf-8-sig"))))
        assert rows[0] == report_files.COLUMNS
        assert [row[1] for row in rows[1:]] == ["Done one"]

    def test_the_date_range_applies_to_the_creation_date(self, alice):
        old = make_task(alice, title="Old")
        Task.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=30))
        make_task(alice, title="New")
        report = reports.report_request(owner=alice, format="csv", date_from=timezone.localdate())
        reports.report_build(report.pk)
        report.refresh_from_db()
        assert report.rows == 1

    def test_xlsx_and_pdf_reports_are_real_files(self, alice):
        make_task(alice, title="Zoë's café ☕")
        xlsx = reports.report_request(owner=alice, format="xlsx")
        pdf = reports.report_request(owner=alice, format="pdf")
        reports.report_build(xlsx.pk)
        reports.report_build(pdf.pk)
        xlsx.refresh_from_db()
        pdf.refresh_from_db()
        sheet = load_workbook(xlsx.file.open("rb")).active
        assert [cell.value for cell in sheet[2]][1] == "Zoë's café ☕"
        assert pdf.file.open("rb").read(5) == b"%PDF-"

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"format": "doc"}, "Value 'doc' is not a valid choice."),
            ({"format": "csv", "task_status": "later"}, "Unknown status 'later'"),
            (
                {"format": "csv", "date_from": datetime.date(2026, 2, 1), "date_to": datetime.date(2026, 1, 1)},
                "The end date is before the start date.",
            ),
        ],
    )
    def test_bad_report_requests_are_refused(self, alice, fields, message):
        with pytest.raises(Exception, match=message):
            reports.report_request(owner=alice, **fields)
        assert not Report.objects.exists()

    def test_the_job_builds_once_reports_progress_and_notifies_with_a_link(self, alice):
        for n in range(30):
            make_task(alice, title=f"T{n}")
        report = reports.report_request(owner=alice, format="csv")
        result = jobs.report_build(report.pk)
        jobs.report_build(report.pk)  # a second run finds it built and does nothing
        run = JobRun.objects.get(pk=result.id)
        assert (run.progress_current, run.progress_total, run.progress_percent) == (30, 30, 100)
        notice = Notification.objects.get(kind=Notification.Kind.REPORT_READY)
        assert notice.data["url"] == f"/reports/{report.pk}/download/"
        assert Notification.objects.count() == 1

    def test_a_canceled_report_stops_and_keeps_no_file(self, alice):
        make_task(alice)
        report = reports.report_request(owner=alice, format="csv")
        assert reports.report_cancel(report) is True
        assert reports.report_build(report.pk) is None  # never started
        report.refresh_from_db()
        assert report.status == Report.Status.CANCELED and not report.file
        assert reports.report_cancel(report) is False

    def test_old_reports_are_deleted_with_their_files(self, alice):
        report = reports.report_request(owner=alice, format="csv")
        reports.report_build(report.pk)
        report.refresh_from_db()
        path = report.file.path
        Report.objects.filter(pk=report.pk).update(created_at=timezone.now() - datetime.timedelta(days=8))
        assert reports.reports_delete_old(older_than_days=7, dry_run=True) == 1
        assert jobs.report_cleanup.call_local() == 1
        assert not Report.objects.exists()
        assert not Path(path).exists()

    def test_the_api_starts_follows_and_downloads_a_report(self, api, alice, django_capture_on_commit_callbacks):
        make_task(alice, title="In the report")
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/reports/", {"format": "csv"}, format="json")
        assert response.status_code == 202
        body = response.json()
        assert body["status_url"] == f"/api/reports/{body['id']}/"
        detail = api.get(body["status_url"]).json()
        assert detail["status"] == "succeeded"
        assert detail["progress"] == {"current": 1, "total": 1, "percent": 100}
        assert detail["download_url"] == f"/api/reports/{body['id']}/download/"
        download = api.get(detail["download_url"])
        assert download["Content-Disposition"].startswith("attachment")
        assert b"In the report" in b"".join(download.streaming_content)
        assert api.get(f"/api/jobs/{body['job_id']}/").json()["state"] == "succeeded"

    @pytest.mark.parametrize(
        ("format", "media_type"),
        [
            ("csv", "text/csv"),
            ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("pdf", "application/pdf"),
        ],
    )
    def test_a_report_downloads_in_the_media_type_the_schema_documents(
        self, api, alice, format, media_type, django_capture_on_commit_callbacks
    ):
        make_task(alice)
        with django_capture_on_commit_callbacks(execute=True):
            started = api.post("/api/reports/", {"format": format}, format="json").json()
        assert api.get(f"/api/reports/{started['id']}/download/")["Content-Type"] == media_type
        documented = api.get("/api/schema/?format=json").json()["paths"]["/api/reports/{id}/download/"]
        assert media_type in documented["get"]["responses"]["200"]["content"]

    @pytest.mark.parametrize(
        ("payload", "field"),
        [({"format": "docx"}, "format"), ({}, "format"), ({"format": "csv", "date_from": "soon"}, "date_from")],
    )
    def test_the_api_refuses_bad_report_requests(self, api, payload, field):
        response = api.post("/api/reports/", payload, format="json")
        assert response.status_code == 400
        assert field in response.json()

    def test_the_api_refuses_an_inverted_date_range_and_unknown_status(self, api):
        response = api.post(
            "/api/reports/", {"format": "csv", "date_from": "2026-02-01", "date_to": "2026-01-01"}, format="json"
        )
        assert response.json() == {"date_to": ["The end date is before the start date."]}
        response = api.post("/api/reports/", {"format": "csv", "status": "x"}, format="json")
        assert response.json() == {"status": ['"x" is not a valid choice.']}

    def test_other_peoples_reports_are_404_and_unfinished_ones_409(self, api, alice):
        theirs = reports.report_request(owner=make_user(), format="csv")
        for url in [f"/api/reports/{theirs.pk}/", f"/api/reports/{theirs.pk}/download/"]:
            assert api.get(url).status_code == 404
        assert api.post(f"/api/reports/{theirs.pk}/cancel/").status_code == 404
        mine = reports.report_request(owner=alice, format="csv")
        assert api.get(f"/api/reports/{mine.pk}/download/").status_code == 409
        assert api.post(f"/api/reports/{mine.pk}/cancel/").json()["status"] == "canceled"
        assert api.post(f"/api/reports/{mine.pk}/cancel/").status_code == 409

    def test_the_reports_page_builds_and_links_the_download(self, client, alice, django_capture_on_commit_callbacks):
        client.force_login(alice)
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/reports/", {"format": "xlsx"})
        body = client.get("/reports/").content.decode()
        report = Report.objects.get()
        assert f"/reports/{report.pk}/download/" in body
        assert client.get(f"/reports/{report.pk}/download/").status_code == 200
        assert "Select a valid choice" in client.post("/reports/", {"format": "odt"}).content.decode()
        other = make_user()
        client.force_login(other)
        assert client.get(f"/reports/{report.pk}/download/").status_code == 404


GOOD_AND_BAD = """title,description,status,priority,due_date
Write plan,first,todo,high,2030-01-01
,no title,todo,low,
Bad status,,later,,
Bad date,,,,tomorrow
Fine one,,,,
"""


class TestImports:
    def test_good_rows_are_created_and_bad_rows_reported_by_line(self, alice):
        task_import = imports.import_create(owner=alice, uploaded=_csv_upload(GOOD_AND_BAD))
        result = imports.import_run(task_import.pk)
        task_import.refresh_from_db()
        assert result == {"import_id": task_import.pk, "created": 2, "failed": 3, "error": ""}
        assert sorted(Task.objects.filter(owner=alice).values_list("title", flat=True)) == ["Fine one", "Write plan"]
        assert [error["line"] for error in task_import.errors] == [3, 4, 5]
        assert "title: This field cannot be blank." in task_import.errors[0]["reason"]
        assert task_import.errors[1]["reason"] == (
            "status: 'later' is not one of todo, in_progress, done (or To do, In progress, Done)."
        )
        assert "'tomorrow' is not a date; use YYYY-MM-DD" in task_import.errors[2]["reason"]

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("name,notes\nx,y\n", "The header has no 'title' column (found: name, notes)."),
            ("title\n", "The file has a header but no rows."),
            (b"\x89PNG\r\n\x1a\n\x00\x00", "it contains NUL bytes"),
            ("title\n\x00\n", "it contains NUL bytes"),
        ],
    )
    def test_a_bad_file_fails_the_import_with_the_reason(self, alice, content, message):
        task_import = imports.import_create(owner=alice, uploaded=_csv_upload(content))
        imports.import_run(task_import.pk)
        task_import.refresh_from_db()
        assert task_import.status == TaskImport.Status.FAILED
        assert message in task_import.error
        assert not Task.objects.exists()

    def test_a_row_with_too_many_values_is_refused(self, alice):
        task_import = imports.import_create(owner=alice, uploaded=_csv_upload("title\nok\na,b\n"))
        imports.import_run(task_import.pk)
        task_import.refresh_from_db()
        assert task_import.errors == [{"line": 3, "title": "a", "reason": "More values than columns in the header."}]

    def test_too_many_rows_fail_the_import(self, alice, settings):
        settings.IMPORT_MAX_ROWS = 2
        task_import = imports.import_create(owner=alice, uploaded=_csv_upload("title\na\nb\nc\n"))
        imports.import_run(task_import.pk)
        task_import.refresh_from_db()
        assert task_import.error == "The file has more than 2 rows, the limit."

    def test_an_empty_or_oversized_upload_is_refused_at_once(self, alice, settings):
        settings.IMPORT_MAX_BYTES = 10
        with pytest.raises(Exception, match="The file is empty."):
            imports.import_create(owner=alice, uploaded=_csv_upload(""))
        with pytest.raises(Exception, match="the limit is 10"):
            imports.import_create(owner=alice, uploaded=_csv_upload("title\n" + "x" * 20))
        assert not TaskImport.objects.exists()

    def test_the_pipeline_imports_then_notifies(self, api, alice, django_capture_on_commit_callbacks):
        api.get("/api/me/")  # alice's counts, counted once
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/imports/", {"file": _csv_upload(GOOD_AND_BAD)}, format="multipart")
        assert response.status_code == 202
        body = api.get(response.json()["status_url"]).json()
        assert (body["status"], body["created"], body["failed"]) == ("succeeded", 2, 3)
        assert body["errors"][0] == {"line": 3, "title": "", "reason": "title: This field cannot be blank."}
        stats = UserTaskStats.objects.get(user=alice)
        assert (stats.open, stats.overdue) == (2, 0)  # added by the import's chunk, not recounted
        notice = Notification.objects.get(kind=Notification.Kind.IMPORT_DONE)
        assert "2 tasks created, 3 rows refused" in notice.message
        names = list(JobRun.objects.order_by("enqueued_at").values_list("name", flat=True))
        assert [n.rsplit(".", 1)[-1] for n in names] == ["import_run", "import_notify"]

    def test_the_api_refuses_a_missing_or_empty_file(self, api):
        assert "file" in api.post("/api/imports/", {}, format="multipart").json()
        response = api.post("/api/imports/", {"file": _csv_upload("")}, format="multipart")
        assert response.status_code == 400
        assert "file" in response.json()
        assert not TaskImport.objects.exists()

    def test_other_peoples_imports_are_404(self, api):
        theirs = imports.import_create(owner=make_user(), uploaded=_csv_upload("title\na\n"))
        assert api.get(f"/api/imports/{theirs.pk}/").status_code == 404

    @pytest.mark.parametrize("format", ["csv", "xlsx"])
    def test_the_tools_own_report_imports_back_as_the_same_tasks(self, alice, format):
        make_task(
            alice,
            title="Plan, then; do | it",
            status="in_progress",
            priority="high",
            due_date=datetime.date(2030, 1, 2),
        )
        make_task(alice, title="Zoë's café ☕", status="done", priority="low", due_date=datetime.date(2031, 12, 31))
        make_task(alice, title="42")
        report = reports.report_request(owner=alice, format=format)
        reports.report_build(report.pk)
        report.refresh_from_db()
        bob = make_user()
        uploaded = SimpleUploadedFile(f"report.{format}", report.file.read())
        task_import = imports.import_create(owner=bob, uploaded=uploaded)
        imports.import_run(task_import.pk)
        task_import.refresh_from_db()
        assert (task_import.status, task_import.errors) == (TaskImport.Status.SUCCEEDED, [])
        fields = ["title", "status", "priority", "due_date"]
        assert list(Task.objects.filter(owner=bob).order_by("id").values_list(*fields)) == list(
            Task.objects.filter(owner=alice).order_by("id").values_list(*fields)
        )

    def test_the_api_takes_an_xlsx_file(self, api, alice, django_capture_on_commit_callbacks):
        book = Workbook()
        book.active.append(["Title", "Priority"])
        book.active.append(["From a workbook", "High"])
        content = io.BytesIO()
        book.save(content)
        upload = SimpleUploadedFile("tasks.xlsx", content.getvalue(), content_type=XLSX)
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/imports/", {"file": upload}, format="multipart")
        assert response.status_code == 202
        body = api.get(response.json()["status_url"]).json()
        assert (body["status"], body["created"], body["failed"]) == ("succeeded", 1, 0)
        assert Task.objects.get(owner=alice).priority == "high"

    def test_the_import_page_says_what_it_takes(self, client, alice):
        client.force_login(alice)
        body = client.get("/imports/").content.decode()
        assert "CSV (UTF-8 or Windows-1252 text; comma, semicolon, tab or pipe between values) or XLSX" in body
        assert "todo, in_progress, done (or To do, In progress, Done)" in body
        assert "low, normal, high (or Low, Normal, High)" in body
        assert 'accept=".csv,.tsv,.txt,.xlsx"' in body

    def test_the_import_page_uploads_and_shows_row_errors(self, client, alice, django_capture_on_commit_callbacks):
        client.force_login(alice)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/imports/", {"file": _csv_upload(GOOD_AND_BAD)})
        body = client.get(response["Location"]).content.decode()
        assert "2</strong> tasks created" in body and '<td class="wrap">Bad date</td>' in body  # refused, by title
        assert "&#x27;tomorrow&#x27; is not a date" in body
        assert "This field is required." in client.post("/imports/", {}).content.decode()


class TestExports:
    def test_the_chord_writes_parts_in_parallel_and_zips_them(self, api, alice, django_capture_on_commit_callbacks):
        make_task(alice, title="Exported")
        Notification.objects.create(user=alice, kind="task_assigned", message="hello")
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/exports/")
        assert response.status_code == 202
        body = api.get(response.json()["status_url"]).json()
        assert body["status"] == "succeeded"
        download = api.get(body["download_url"])
        archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
        assert sorted(archive.namelist()) == ["notifications.json", "reports.json", "tasks.json"]
        assert json.loads(archive.read("tasks.json"))[0]["title"] == "Exported"
        assert JobRun.objects.filter(name__endswith="export_part").count() == 3
        assert response.json()["job_id"] == JobRun.objects.get(name__endswith="export_combine").pk
        assert api.get(f"/api/jobs/{response.json()['job_id']}/").json()["state"] == "succeeded"  # the starter's

    def test_a_missing_part_fails_the_export(self, alice):
        export = WorkspaceExport.objects.create(owner=alice)
        jobs.export_combine(export.pk, ["/nonexistent/tasks.json", None, None])
        export.refresh_from_db()
        assert export.status == WorkspaceExport.Status.FAILED

    def test_a_failed_part_fails_the_export_with_its_reason_and_tells_the_owner_and_a_retry_makes_it(
        self, api, alice, settings, django_capture_on_commit_callbacks
    ):
        blocker = Path(settings.MEDIA_ROOT) / "exports"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("a file where the exports' folder goes: every part fails")
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/exports/")
        export = WorkspaceExport.objects.get()
        assert export.status == WorkspaceExport.Status.FAILED
        assert export.error.startswith("Its tasks (") and "could not be written." in export.error
        notice = Notification.objects.get(user=alice, kind=Notification.Kind.EXPORT_FAILED)
        assert f"export #{export.pk} failed" in notice.message and notice.data["url"] == "/exports/"

        blocker.unlink()  # fixed; an operator retries one failed part, as /ops/ does
        failed_part = JobRun.objects.filter(name__endswith="export_part", state=JobRun.State.FAILED).first()
        with django_capture_on_commit_callbacks(execute=True):
            queue.retry(failed_part)
        export.refresh_from_db()
        assert export.status == WorkspaceExport.Status.SUCCEEDED and export.error == ""
        assert export.job_id != response.json()["job_id"]  # the pages follow the new run
        assert api.get(f"/api/exports/{export.pk}/").json()["download_url"]

    def test_the_export_and_import_pages_follow_unfinished_work_live(self, client, alice):
        client.force_login(alice)
        export = WorkspaceExport.objects.create(owner=alice)
        task_import = TaskImport.objects.create(owner=alice, file=ContentFile(b"title\nx\n", name="x.csv"))
        assert f'data-follow-url="/api/exports/{export.pk}/"' in client.get("/exports/").content.decode()
        assert f'data-follow-url="/api/imports/{task_import.pk}/"' in client.get("/imports/").content.decode()

    def test_other_peoples_exports_are_404(self, api):
        theirs = WorkspaceExport.objects.create(owner=make_user())
        assert api.get(f"/api/exports/{theirs.pk}/").status_code == 404
        assert api.get(f"/api/exports/{theirs.pk}/download/").status_code == 404

    def test_the_export_page_prepares_and_links_the_zip(self, client, alice, django_capture_on_commit_callbacks):
        client.force_login(alice)
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/exports/")
        export = WorkspaceExport.objects.get()
        assert f"/exports/{export.pk}/download/" in client.get("/exports/").content.decode()
        assert client.get(f"/exports/{export.pk}/download/")["Content-Type"] == "application/zip"


class TestOnePersonsFilesInProgress:
    """Jobs stay waiting here: their on-commit enqueue never runs in these tests."""

    def test_past_the_limit_reports_imports_and_exports_are_refused_with_a_429_and_why(self, api, alice):
        for status in ["todo", "in_progress", "done"]:
            assert api.post("/api/reports/", {"format": "csv", "status": status}, format="json").status_code == 202
        refused = [
            api.post("/api/reports/", {"format": "pdf"}, format="json"),
            api.post("/api/imports/", {"file": _csv_upload("title\na\n")}, format="multipart"),
            api.post("/api/exports/"),
        ]
        assert [response.status_code for response in refused] == [429, 429, 429]
        assert refused[0].json()["detail"].startswith("You have 3 reports, imports or exports waiting or being made")
        assert (
            api.post("/api/reports/", {"format": "csv", "status": "todo"}, format="json").status_code == 200
        )  # a repeat: that one
        assert (Report.objects.count(), TaskImport.objects.count(), WorkspaceExport.objects.count()) == (3, 0, 0)
        assert (
            make_api(make_user()).post("/api/reports/", {"format": "pdf"}, format="json").status_code == 202
        )  # others: their own

    def test_the_pages_say_why_with_a_429(self, client, alice, settings):
        settings.FILE_JOBS_PER_PERSON = 1
        client.force_login(alice)
        client.post("/exports/")
        for url, data in [("/reports/", {"format": "csv"}), ("/imports/", {"file": _csv_upload("title\na\n")})]:
            response = client.post(url, data)
            assert response.status_code == 429
            assert "the most one person may have at once" in response.content.decode()
        response = client.post("/exports/", follow=True)
        assert "is already being prepared" in response.content.decode()  # an export asked again: the same one

    def test_an_export_asked_again_while_one_is_prepared_is_that_one(self, api):
        first, second = api.post("/api/exports/"), api.post("/api/exports/")
        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json()["id"] == first.json()["id"] and WorkspaceExport.objects.count() == 1


class TestImportAndExportRetention:
    def test_old_imports_and_exports_are_deleted_with_their_files_and_recent_ones_kept(self, alice, settings):
        settings.IMPORT_RETENTION_DAYS, settings.EXPORT_RETENTION_DAYS = 7, 3
        with time_machine.travel(datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC), tick=False) as clock:
            old_import = imports.import_create(owner=alice, uploaded=_csv_upload("title\na\n"))
            old_export = WorkspaceExport.objects.create(owner=alice, status=WorkspaceExport.Status.FAILED)
            old_export.file.save("old.zip", ContentFile(b"PK"))
            parts = Path(settings.MEDIA_ROOT) / "exports" / f"parts-{old_export.pk}"
            parts.mkdir(parents=True)
            (parts / "tasks.json").write_text("[]")  # left by a failed export
            clock.shift(datetime.timedelta(days=5))
            new_import = imports.import_create(owner=alice, uploaded=_csv_upload("title\nb\n"))
            new_export = WorkspaceExport.objects.create(owner=alice)
            clock.shift(datetime.timedelta(days=2, minutes=1))  # the old import is 7 days old, the new export 2
            files = [Path(old_import.file.path), Path(old_export.file.path)]
            assert jobs.import_export_cleanup.call_local() == {"imports": 1, "exports": 1}
        assert list(TaskImport.objects.all()) == [new_import]
        assert list(WorkspaceExport.objects.all()) == [new_export]
        assert not any(path.exists() for path in files) and not parts.exists()
        assert Path(new_import.file.path).exists()
