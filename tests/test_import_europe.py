"""Imports of the spreadsheets a team has (issue 30): day-first dates by choice, German headers
and values, no duplicates of tasks one has, refused rows named by their title, an undo."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from huey.contrib.djhuey import HUEY

from tasks_app import jobs
from tasks_app.models import Notification, Task, TaskImport, UserTaskStats
from tasks_app.services import imports, reports, user_stats
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def _imported(owner, text: str, date_order: str = TaskImport.DateOrder.ISO) -> TaskImport:
    uploaded = SimpleUploadedFile("tasks.csv", text.encode(), content_type="text/csv")
    task_import = imports.import_create(owner=owner, uploaded=uploaded, date_order=date_order)
    HUEY.enqueue(jobs.import_pipeline(task_import.pk))  # immediate mode: the run, then the notice
    task_import.refresh_from_db()
    return task_import


def _due_dates(owner) -> dict[str, datetime.date]:
    return dict(Task.objects.filter(owner=owner).values_list("title", "due_date"))


class TestDates:
    def test_day_first_dates_are_read_when_the_page_says_so(self, alice):
        text = "title;due_date\nA;15.12.2026\nB;22/12/2026\nC;2026-12-24\nD;3-4-2027\n"
        task_import = _imported(alice, text, TaskImport.DateOrder.DAY_FIRST)
        assert (task_import.created, task_import.failed) == (4, 0)
        assert _due_dates(alice) == {
            "A": datetime.date(2026, 12, 15),
            "B": datetime.date(2026, 12, 22),
            "C": datetime.date(2026, 12, 24),
            "D": datetime.date(2027, 4, 3),
        }

    def test_month_first_reads_the_same_digits_the_other_way(self, alice):
        _imported(alice, "title,due_date\nD,3/4/2027\n", TaskImport.DateOrder.MONTH_FIRST)
        assert _due_dates(alice) == {"D": datetime.date(2027, 3, 4)}

    def test_without_the_choice_a_day_first_date_is_refused_saying_where_to_choose(self, alice):
        task_import = _imported(alice, "title;due_date\nA;15.12.2026\n")
        assert task_import.failed == 1
        assert (
            "choose how the file writes dates (day first, month first) on the import page"
            in (task_import.errors[0]["reason"])
        )

    def test_a_date_that_does_not_exist_in_the_chosen_order_is_refused(self, alice):
        task_import = _imported(alice, "title,due_date\nX,12/22/2026\n", TaskImport.DateOrder.DAY_FIRST)
        assert task_import.created == 0
        assert task_import.errors[0]["reason"].startswith(
            "due_date: '12/22/2026' is not a date; this import reads dates day first"
        )


def test_german_headers_and_values_import(alice):
    text = "Titel;Beschreibung;Priorität;Status;Fällig\nAngebot schreiben;für Müller;Hoch;In Arbeit;2026-12-15\n"
    task_import = _imported(alice, text)
    assert task_import.created == 1, task_import.error or task_import.errors
    task = Task.objects.get(owner=alice)
    assert (task.title, task.description, task.priority, task.status, task.due_date) == (
        "Angebot schreiben",
        "für Müller",
        Task.Priority.HIGH,
        Task.Status.IN_PROGRESS,
        datetime.date(2026, 12, 15),
    )


class TestDuplicates:
    def test_importing_the_tools_own_report_again_makes_no_duplicates(self, alice):
        make_task(alice, title="Write the plan", due_date=datetime.date(2026, 12, 15))
        make_task(alice, title="Call the bank")
        report = reports.report_request(owner=alice, format="csv", task_status="")
        reports.report_build(report.pk)
        report.refresh_from_db()
        with report.file.open("rb") as handle:
            text = handle.read().decode("utf-8-sig")
        task_import = _imported(alice, text)
        assert (task_import.created, task_import.skipped, task_import.failed) == (0, 2, 0)
        assert Task.objects.filter(owner=alice).count() == 2
        notice = Notification.objects.get(user=alice, kind=Notification.Kind.IMPORT_DONE)
        assert notice.message == (
            f"Import #{task_import.pk} done: 0 tasks created, 2 rows skipped (you have those tasks already), 0 rows refused."
        )

    def test_the_same_row_twice_in_a_file_is_made_once_and_other_peoples_tasks_do_not_count(self, alice):
        make_task(make_user("bob"), title="Same")
        task_import = _imported(alice, "title\nSame\nSame\nOther\n")
        assert (task_import.created, task_import.skipped) == (2, 1)
        assert sorted(Task.objects.filter(owner=alice).values_list("title", flat=True)) == ["Other", "Same"]


def test_a_refused_row_is_listed_with_its_title(client, alice):
    task_import = _imported(alice, "title,priority\nFix the roof,urgent\n")
    assert task_import.errors == [
        {
            "line": 2,
            "title": "Fix the roof",
            "reason": "priority: 'urgent' is not one of low, normal, high (or Low, Normal, High).",
        }
    ]
    client.force_login(alice)
    page = client.get(f"/imports/{task_import.pk}/").content.decode()
    assert '<td class="wrap">Fix the roof</td>' in page
    notice = Notification.objects.get(user=alice).message
    assert notice.endswith("0 tasks created, 1 row refused.")


class TestUndo:
    def test_undo_removes_what_the_import_made_and_its_counts(self, client, alice):
        kept = make_task(alice, title="Made by hand")
        task_import = _imported(alice, "title,status\nOne,todo\nTwo,done\n")
        assert user_stats.user_stats_refresh(alice).open == 2
        client.force_login(alice)
        page = client.get(f"/imports/{task_import.pk}/").content.decode()
        assert "Undo this import" in page
        response = client.post(f"/imports/{task_import.pk}/undo/", follow=True)
        assert "Undone: removed the 2 tasks import" in response.content.decode()
        assert list(Task.objects.filter(owner=alice)) == [kept]
        stats = UserTaskStats.objects.get(user=alice)
        assert (stats.open, stats.done) == (1, 0)
        task_import.refresh_from_db()
        assert task_import.undone_at is not None
        again = client.post(f"/imports/{task_import.pk}/undo/", follow=True)
        assert "was undone already" in again.content.decode()

    def test_only_its_owner_may_undo_it(self, client, alice):
        task_import = _imported(alice, "title\nOne\n")
        client.force_login(make_user("bob"))
        assert client.post(f"/imports/{task_import.pk}/undo/").status_code == 404
        assert Task.objects.filter(owner=alice).count() == 1


def test_the_api_takes_the_date_order(api, alice, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("t.csv", b"title;due_date\nA;15.12.2026\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/imports/", {"file": upload, "date_order": "dmy"}, format="multipart")
    assert response.status_code == 202
    body = api.get(response.json()["status_url"]).json()
    assert (body["date_order"], body["created"]) == ("dmy", 1)
    refused = api.post("/api/imports/", {"file": upload, "date_order": "ydm"}, format="multipart")
    assert refused.status_code == 400 and "date_order" in refused.json()
