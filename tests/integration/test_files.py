"""Reports, imports and exports through a real `run_huey` consumer."""

import io
import json
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest

from tests.live_stack import wait_for

pytestmark = pytest.mark.integration

MAKE_TASKS = """
from django.contrib.auth import get_user_model
from tasks_app.models import Task
owner = get_user_model().objects.get(username={username!r})
Task.objects.bulk_create(Task(owner=owner, created_by=owner, title=f"Task {{n}}") for n in range({count}))
"""


def make_tasks(stack, username: str, count: int) -> None:
    stack.manage("shell", "--no-imports", "-c", MAKE_TASKS.format(username=username, count=count))


def upload(stack, path: str, token: str, filename: str, content: bytes) -> tuple[int, dict]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(stack.url + path, data=body, method="POST")
    request.add_header("Authorization", f"Token {token}")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def download(stack, path: str, token: str) -> bytes:
    request = urllib.request.Request(stack.url + path)
    request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def test_a_report_shows_progress_increasing_before_it_completes(start_live_stack):
    stack = start_live_stack(REPORT_ROW_DELAY_SECONDS="0.02")
    token = stack.create_user("alice")
    make_tasks(stack, "alice", 150)
    status, started = stack.api("POST", "/api/reports/", token, {"format": "xlsx"})
    assert status == 202

    seen, job_seen = [], []
    while True:
        _, report = stack.api("GET", started["status_url"], token)
        if report["status"] == "running" and report["progress"]["current"]:
            seen.append(report["progress"]["current"])
            _, job = stack.api("GET", f"/api/jobs/{started['job_id']}/", token)
            job_seen.append((job["state"], job["progress"]["percent"]))
        if report["status"] in ("succeeded", "failed"):
            break
        assert len(seen) < 500, "the report never finished"
    assert report["status"] == "succeeded"
    assert len(set(seen)) >= 2 and seen == sorted(seen) and seen[0] < 150  # rising, seen before the end
    assert job_seen[0][0] == "running" and 0 < job_seen[0][1] < 100
    assert report["progress"] == {"current": 150, "total": 150, "percent": 100}
    content = download(stack, report["download_url"], token)
    assert content[:2] == b"PK"  # an XLSX is a zip


def test_a_report_canceled_while_it_builds_stops_within_a_second_and_its_job_is_revoked(start_live_stack):
    stack = start_live_stack(REPORT_ROW_DELAY_SECONDS="0.1")  # 150 rows: 15 s to build
    token = stack.create_user("alice")
    make_tasks(stack, "alice", 150)
    status, started = stack.api("POST", "/api/reports/", token, {"format": "pdf"})
    assert status == 202
    wait_for(lambda: stack.api("GET", started["status_url"], token)[1]["status"] == "running", what="the build")
    asked = time.monotonic()
    assert stack.api("POST", f"/api/reports/{started['id']}/cancel/", token)[0] == 200
    job = wait_for(
        lambda: (job := stack.api("GET", f"/api/jobs/{started['job_id']}/", token)[1])["state"] == "revoked" and job,
        timeout=5,
        what="the job to end",
    )
    assert time.monotonic() - asked < 1.5  # a look every 0.5 s, plus the polls
    assert job["progress"]["percent"] < 100
    _, report = stack.api("GET", started["status_url"], token)
    assert (report["status"], report["download_url"]) == ("canceled", None)


def test_an_import_reports_its_bad_rows(live_stack):
    token = live_stack.create_user("bob")
    csv = b"title,priority,due_date\nGood,high,2030-01-01\n,low,\nAlso good,,\nBad date,,31/12/2030\n"
    status, started = upload(live_stack, "/api/imports/", token, "tasks.csv", csv)
    assert status == 202, started
    body = wait_for(
        lambda: (b := live_stack.api("GET", started["status_url"], token)[1])["status"] == "succeeded" and b,
        what="the import",
    )
    assert (body["created"], body["failed"]) == (2, 2)
    assert [error["line"] for error in body["errors"]] == [3, 5]

    def notified():
        return [n["message"] for n in live_stack.api("GET", "/api/notifications/", token)[1]["results"]]

    wait_for(lambda: any("2 tasks created, 2 rows refused" in m for m in notified()), what="the pipeline's end")


def test_a_bad_upload_is_refused_before_any_job(live_stack):
    token = live_stack.create_user("dan")
    status, body = upload(live_stack, "/api/imports/", token, "empty.csv", b"")
    assert status == 400 and body == {"file": ["The submitted file is empty."]}


def test_the_export_chord_zips_every_part(live_stack):
    token = live_stack.create_user("carol")
    make_tasks(live_stack, "carol", 3)
    status, started = live_stack.api("POST", "/api/exports/", token)
    assert status == 202
    body = wait_for(
        lambda: (b := live_stack.api("GET", started["status_url"], token)[1])["status"] == "succeeded" and b,
        what="the export",
    )
    archive = zipfile.ZipFile(io.BytesIO(download(live_stack, body["download_url"], token)))
    assert sorted(archive.namelist()) == ["notifications.json", "reports.json", "tasks.json"]
    assert archive.read("tasks.json").count(b'"title"') == 3
    # The chord's callback was enqueued by the consumer, yet it is the starter's job to follow
    # (its history is written a moment after the export row: wait until it has finished).
    finished = {"succeeded", "failed", "revoked", "expired"}
    job = wait_for(
        lambda: (j := live_stack.api("GET", f"/api/jobs/{started['job_id']}/", token)[1]).get("state") in finished and j
    )
    assert (job["name"], job["state"]) == ("export_combine", "succeeded")
