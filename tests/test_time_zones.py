"""Each person's own time zone on every page and in their mails (issue 30)."""

import datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app import workflows
from tasks_app.models import Profile, Task
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db

NOON_UTC = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _task_made_at_noon_utc(owner) -> Task:
    task = make_task(owner, title="Planning")
    Task.objects.filter(pk=task.pk).update(created_at=NOON_UTC)
    return task


def test_a_person_with_no_zone_yet_has_the_browsers_saved_from_the_first_page(logged_in, alice):
    page = logged_in.get("/").content.decode()
    assert 'data-time-zone-url="/account/time-zone/"' in page  # app.js posts the browser's zone
    response = logged_in.post("/account/time-zone/", {"time_zone": "Europe/Berlin"}, HTTP_X_TIME_ZONE_FROM="browser")
    assert response.status_code == 204
    assert Profile.objects.get(user=alice).time_zone == "Europe/Berlin"
    assert "data-time-zone-url" not in logged_in.get("/").content.decode()


def test_pages_show_times_in_the_persons_zone(logged_in, alice):
    task = _task_made_at_noon_utc(alice)
    assert "2026-12-07 12:00" in logged_in.get(f"/tasks/{task.pk}/").content.decode()  # the site's zone, UTC
    logged_in.post("/account/time-zone/", {"time_zone": "Europe/Berlin"})
    page = logged_in.get(f"/tasks/{task.pk}/").content.decode()
    assert "2026-12-07 13:00" in page and "CET" in page


def test_the_zone_costs_a_page_no_query_once_the_session_has_it(logged_in, alice):
    Profile.objects.create(user=alice, time_zone="Asia/Tokyo")
    logged_in.get("/")  # the first page of the session reads it
    with CaptureQueriesContext(connection) as captured:
        logged_in.get("/notifications/")
    assert not [q for q in captured.captured_queries if "tasks_app_profile" in q["sql"]]


def test_the_account_page_saves_a_zone_and_refuses_one_that_is_not(logged_in, alice):
    response = logged_in.post("/account/time-zone/", {"time_zone": "America/New_York"}, follow=True)
    assert "Times are shown in America/New_York now." in response.content.decode()
    refused = logged_in.post("/account/time-zone/", {"time_zone": "Mars/Olympus"})
    assert refused.status_code == 200 and "Choose a time zone from the list" in refused.content.decode()
    assert '<option value="Europe/Berlin">' in refused.content.decode()  # the list it suggests
    from_the_page = logged_in.post("/account/time-zone/", {"time_zone": "<b>"}, HTTP_X_TIME_ZONE_FROM="browser")
    assert from_the_page.status_code == 400
    assert Profile.objects.get(user=alice).time_zone == "America/New_York"


def test_mails_show_times_in_the_recipients_zone(alice, django_capture_on_commit_callbacks):
    Profile.objects.create(user=alice, time_zone="Asia/Tokyo")
    task = make_task(alice, title="Ship it")
    bob = make_user("bob")
    with django_capture_on_commit_callbacks(execute=True):
        task.status = Task.Status.DONE
        workflows.task_update(task, by=bob, status=Task.Status.DONE)
    task.refresh_from_db()
    tokyo = task.completed_at.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
    assert f"{tokyo:%Y-%m-%d %H:%M} JST" in mail.outbox[-1].body
