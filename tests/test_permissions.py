"""Staff is not everything: others' files, tasks and jobs take named permissions (tasks_app/permissions.py)."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from huey.contrib.djhuey import db_task

from tasks_app import queue
from tasks_app.models import JobRun, Notification, PausedJob, Report, Task, WorkspaceExport
from tasks_app.queue.writer import enqueueing
from tasks_app.services import imports, reports
from tests.factories import api_client, make_staff, make_task, make_user

pytestmark = pytest.mark.django_db


@db_task(name="tests.permissions_divide")
def divide(a: int, b: int) -> float:
    return a / b


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def bobs(bob):
    """One of each of bob's rows: a built report, a waiting one, an import, a finished export, a task,
    a failed job and a scheduled one."""
    built = reports.report_request(owner=bob, format="csv")
    reports.report_build(built.pk)
    export = WorkspaceExport.objects.create(owner=bob, status=WorkspaceExport.Status.SUCCEEDED)
    export.file.save("export.zip", ContentFile(b"PK"))
    with enqueueing(bob.pk):
        failed, later = divide(1, 0), divide.schedule(args=(1, 1), delay=600)
    return {
        "report": built,
        "waiting_report": reports.report_request(owner=bob, format="csv"),
        "import": imports.import_create(owner=bob, uploaded=SimpleUploadedFile("t.csv", b"title\na\n")),
        "export": export,
        "task": make_task(bob, title="Bob's secret plan"),
        "failed_job": JobRun.objects.get(pk=failed.id),
        "later_job": JobRun.objects.get(pk=later.id),
    }


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _file_urls(bobs) -> list[str]:
    return [
        f"/reports/{bobs['report'].pk}/download/",
        f"/imports/{bobs['import'].pk}/",
        f"/exports/{bobs['export'].pk}/download/",
        f"/api/reports/{bobs['report'].pk}/",
        f"/api/reports/{bobs['report'].pk}/download/",
        f"/api/imports/{bobs['import'].pk}/",
        f"/api/exports/{bobs['export'].pk}/",
        f"/api/exports/{bobs['export'].pk}/download/",
    ]


class TestFiles:
    def test_staff_without_the_permission_get_404_for_others_files(self, bobs):
        client = _web(make_staff("clerk"))
        assert {url: client.get(url).status_code for url in _file_urls(bobs)} == dict.fromkeys(_file_urls(bobs), 404)
        assert client.post(f"/reports/{bobs['waiting_report'].pk}/cancel/").status_code == 404
        assert client.post(f"/api/reports/{bobs['waiting_report'].pk}/cancel/").status_code == 404

    def test_view_others_files_opens_them_and_their_downloads(self, bobs):
        client = _web(make_staff("auditor", "view_others_files"))
        assert {url: client.get(url).status_code for url in _file_urls(bobs)} == dict.fromkeys(_file_urls(bobs), 200)

    def test_cancelling_someone_elses_report_takes_manage_jobs(self, bobs):
        waiting = bobs["waiting_report"]
        viewer = _web(make_staff("auditor", "view_others_files"))
        assert viewer.post(f"/reports/{waiting.pk}/cancel/").status_code == 403
        assert viewer.post(f"/api/reports/{waiting.pk}/cancel/").status_code == 403
        waiting.refresh_from_db()
        assert waiting.status == Report.Status.PENDING
        manager = _web(make_staff("operator", "view_others_files", "manage_jobs"))
        assert manager.post(f"/api/reports/{waiting.pk}/cancel/").json()["status"] == "canceled"

    def test_the_lists_show_only_ones_own_files_even_to_a_superuser(self, bobs):
        client = _web(make_user("root", staff=True))
        for url in ["/reports/", "/imports/", "/exports/"]:
            assert f"{url}{bobs['report'].pk}" not in client.get(url).content.decode()
        assert client.get("/api/reports/").json() == []


class TestTasks:
    def test_staff_without_change_task_see_only_their_own_tasks(self, bobs):
        clerk = make_staff("clerk")
        client = _web(clerk)
        assert "Bob&#x27;s secret plan" not in client.get("/").content.decode()
        assert client.get(f"/tasks/{bobs['task'].pk}/").status_code == 404
        assert api_client(clerk).get("/api/tasks/").json()["count"] == 0
        assert api_client(clerk).get(f"/api/tasks/{bobs['task'].pk}/").status_code == 404

    def test_change_task_opens_everyones_tasks_but_deleting_them_takes_delete_task(self, bobs):
        editor = make_staff("editor", "change_task")
        task = bobs["task"]
        assert "Bob&#x27;s secret plan" in _web(editor).get("/").content.decode()
        assert api_client(editor).get(f"/api/tasks/{task.pk}/").status_code == 200
        assert _web(editor).post(f"/tasks/{task.pk}/delete/").status_code == 403
        assert api_client(editor).delete(f"/api/tasks/{task.pk}/").status_code == 403
        assert Task.objects.filter(pk=task.pk).exists()
        assert (
            api_client(make_staff("cleaner", "change_task", "delete_task")).delete(f"/api/tasks/{task.pk}/").status_code
            == 204
        )
        assert not Task.objects.filter(pk=task.pk).exists()

    def test_a_user_still_deletes_their_own_task(self, bob):
        task = make_task(bob)
        assert api_client(bob).delete(f"/api/tasks/{task.pk}/").status_code == 204


class TestJobsInTheApi:
    def test_staff_without_view_all_jobs_get_404_for_others_jobs(self, bobs):
        client = api_client(make_staff("clerk"))
        assert client.get(f"/api/jobs/{bobs['failed_job'].pk}/").status_code == 404
        assert client.post(f"/api/jobs/{bobs['later_job'].pk}/cancel/").status_code == 404

    def test_view_all_jobs_shows_them_but_cancelling_takes_manage_jobs(self, bobs):
        later = bobs["later_job"]
        viewer = api_client(make_staff("watcher", "view_all_jobs"))
        assert viewer.get(f"/api/jobs/{later.pk}/").status_code == 200
        assert viewer.post(f"/api/jobs/{later.pk}/cancel/").status_code == 403
        later.refresh_from_db()
        assert later.state == JobRun.State.SCHEDULED
        manager = api_client(make_staff("operator", "view_all_jobs", "manage_jobs"))
        assert manager.post(f"/api/jobs/{later.pk}/cancel/").json()["state"] == "revoked"


class TestOps:
    def test_staff_without_permissions_see_counts_but_no_job_and_no_control(self, bobs):
        client = _web(make_staff("clerk"))
        body = client.get("/ops/").content.decode()
        assert "Lanes" in body and 'id="jobs-hidden"' in body
        assert "ZeroDivisionError" not in body and "Retry" not in body and "Pause or resume" not in body
        failed, later = bobs["failed_job"], bobs["later_job"]
        assert client.get("/ops/jobs/").status_code == 403
        assert client.get(f"/ops/jobs/{failed.pk}/").status_code == 403
        assert client.post(f"/ops/jobs/{failed.pk}/retry/").status_code == 403
        assert client.post(f"/ops/jobs/{failed.pk}/dismiss/").status_code == 403
        assert client.post(f"/ops/jobs/{later.pk}/cancel/").status_code == 403
        assert client.post("/ops/jobs/pause/", {"name": queue.job_name(divide)}).status_code == 403
        assert not PausedJob.objects.exists() and not JobRun.objects.filter(retry_of=failed).exists()
        failed.refresh_from_db()
        assert failed.dismissed_at is None

    def test_view_all_jobs_shows_the_jobs_without_their_controls(self, bobs):
        client = _web(make_staff("watcher", "view_all_jobs"))
        assert "ZeroDivisionError" in client.get("/ops/").content.decode()
        detail = client.get(f"/ops/jobs/{bobs['failed_job'].pk}/")
        assert detail.status_code == 200 and "Retry" not in detail.content.decode()
        assert client.get("/ops/jobs/").status_code == 200
        assert client.post(f"/ops/jobs/{bobs['failed_job'].pk}/retry/").status_code == 403

    def test_manage_jobs_retries_and_pauses(self, bobs):
        client = _web(make_staff("operator", "view_all_jobs", "manage_jobs"))
        assert "Retry" in client.get(f"/ops/jobs/{bobs['failed_job'].pk}/").content.decode()
        client.post(f"/ops/jobs/{bobs['failed_job'].pk}/retry/")
        assert JobRun.objects.filter(retry_of=bobs["failed_job"]).exists()
        client.post("/ops/jobs/pause/", {"name": queue.job_name(divide), "action": "pause"})
        assert PausedJob.objects.filter(name=queue.job_name(divide)).exists()

    def test_failed_job_notices_go_to_staff_who_may_see_every_job(self, bob):
        watcher, root = make_staff("watcher", "view_all_jobs"), make_user("root", staff=True)
        make_staff("clerk", "view_jobrun")
        divide(1, 0)
        told = set(
            Notification.objects.filter(kind=Notification.Kind.JOB_FAILED).values_list("user__username", flat=True)
        )
        assert told == {watcher.username, root.username}


class TestAdmin:
    def _action(self, client, model: str, action: str, pk):
        return client.post(f"/admin/tasks_app/{model}/", {"action": action, "_selected_action": [pk]}, follow=True)

    def test_the_models_own_view_permission_does_not_open_everyones_jobs_or_files(self, bobs):
        client = _web(make_staff("clerk", "view_jobrun", "view_report"))
        assert client.get("/admin/tasks_app/jobrun/").status_code == 403
        assert client.get(f"/admin/tasks_app/jobrun/{bobs['failed_job'].pk}/change/").status_code == 403
        assert client.get("/admin/tasks_app/report/").status_code == 403

    def test_retry_is_neither_offered_nor_done_without_manage_jobs(self, bobs):
        client = _web(make_staff("watcher", "view_all_jobs", "view_jobrun"))
        page = client.get("/admin/tasks_app/jobrun/").content.decode()
        assert 'value="retry_failed"' not in page and 'value="dismiss_failed"' not in page
        self._action(client, "jobrun", "retry_failed", bobs["failed_job"].pk)
        assert not JobRun.objects.filter(retry_of=bobs["failed_job"]).exists()

    def test_manage_jobs_offers_and_does_the_retry(self, bobs):
        client = _web(make_staff("operator", "view_all_jobs", "manage_jobs"))
        assert 'value="retry_failed"' in client.get("/admin/tasks_app/jobrun/").content.decode()
        response = self._action(client, "jobrun", "retry_failed", bobs["failed_job"].pk)
        assert "Re-enqueued 1 failed job(s)" in response.content.decode()

    def test_completing_tasks_in_the_admin_takes_change_task(self, bobs):
        task = bobs["task"]
        viewer = _web(make_staff("viewer", "view_task"))
        assert 'value="complete"' not in viewer.get("/admin/tasks_app/task/").content.decode()
        self._action(viewer, "task", "complete", task.pk)
        task.refresh_from_db()
        assert task.status != Task.Status.DONE
        self._action(_web(make_staff("editor", "view_task", "change_task")), "task", "complete", task.pk)
        task.refresh_from_db()
        assert task.status == Task.Status.DONE

    def test_view_others_files_opens_the_files_in_the_admin(self, bobs):
        client = _web(make_staff("auditor", "view_others_files"))
        assert client.get("/admin/tasks_app/report/").status_code == 200
        assert client.get("/admin/tasks_app/workspaceexport/").status_code == 200

    def test_paused_jobs_are_read_only_in_the_admin(self):
        PausedJob.objects.create(name="x")
        client = _web(make_user("root", staff=True))
        assert client.get("/admin/tasks_app/pausedjob/add/").status_code == 403
        assert client.get("/admin/tasks_app/pausedjob/").status_code == 200
