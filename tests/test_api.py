"""The JSON API for tasks, notifications and the current user."""

import datetime

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks_app.models import Notification, Task
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def _ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


class TestAuthentication:
    def test_it_refuses_anonymous_requests(self):
        assert APIClient().get("/api/tasks/").status_code == 401

    def test_it_accepts_a_token(self, alice):
        token = Token.objects.create(user=alice)
        client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
        assert client.get("/api/me/").json() == {
            "id": alice.pk,
            "username": "alice",
            "email": "alice@example.com",
            "is_staff": False,
        }

    def test_it_rejects_a_wrong_token(self):
        client = APIClient(HTTP_AUTHORIZATION="Token not-a-token")
        assert client.get("/api/tasks/").status_code == 401


class TestTasks:
    def test_it_creates_a_task_owned_by_the_requester_and_notifies_through_the_job(
        self, api, alice, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/tasks/", {"title": "Plan sprint", "priority": "high"}, format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["owner"], body["created_by"], body["status"], body["priority"]) == (
            alice.pk,
            alice.pk,
            "todo",
            "high",
        )
        assert Notification.objects.get(user=alice).message == "New task: Plan sprint"

    def test_it_assigns_a_task_to_someone_else(self, api, alice):
        bob = make_user("bob")
        response = api.post("/api/tasks/", {"title": "For Bob", "owner": bob.pk}, format="json")
        assert response.status_code == 201
        assert Task.objects.get().owner == bob
        assert api.get(f"/api/tasks/{response.json()['id']}/").status_code == 200  # the creator still sees it

    @pytest.mark.parametrize(
        ("payload", "field", "message"),
        [
            ({}, "title", "This field is required."),
            ({"title": ""}, "title", "This field may not be blank."),
            ({"title": "x" * 201}, "title", "Ensure this field has no more than 200 characters."),
            ({"title": "a", "due_date": "tomorrow"}, "due_date", "Date has wrong format."),
            ({"title": "a", "priority": "urgent"}, "priority", '"urgent" is not a valid choice.'),
            ({"title": "a", "status": 3}, "status", '"3" is not a valid choice.'),
            ({"title": "a", "owner": "abc"}, "owner", "Incorrect type."),
            ({"title": "a", "owner": 999999}, "owner", 'Invalid pk "999999" - object does not exist.'),
            ({"title": ["a"]}, "title", "Not a valid string."),
        ],
    )
    def test_it_rejects_bad_input_with_a_field_message(self, api, payload, field, message):
        response = api.post("/api/tasks/", payload, format="json")
        assert response.status_code == 400
        assert any(message in text for text in response.json()[field]), response.json()
        assert Task.objects.count() == 0

    def test_it_rejects_invalid_json(self, api):
        response = api.post("/api/tasks/", "{not json", content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    def test_it_rejects_an_inactive_owner(self, api):
        gone = make_user(is_active=False)
        response = api.post("/api/tasks/", {"title": "a", "owner": gone.pk}, format="json")
        assert response.status_code == 400

    def test_it_updates_and_completes_a_task(self, api, alice):
        task = make_task(alice)
        response = api.patch(f"/api/tasks/{task.pk}/", {"status": "in_progress"}, format="json")
        assert response.json()["status"] == "in_progress"
        response = api.post(f"/api/tasks/{task.pk}/complete/")
        assert response.json()["status"] == "done"
        assert response.json()["completed_at"] is not None

    def test_it_deletes_a_task(self, api, alice):
        task = make_task(alice)
        assert api.delete(f"/api/tasks/{task.pk}/").status_code == 204
        assert not Task.objects.exists()

    def test_other_peoples_tasks_are_404_for_every_verb(self, api):
        theirs = make_task(make_user("bob"))
        url = f"/api/tasks/{theirs.pk}/"
        assert api.get(url).status_code == 404
        assert api.patch(url, {"title": "mine now"}, format="json").status_code == 404
        assert api.delete(url).status_code == 404
        assert api.post(url + "complete/").status_code == 404
        assert theirs.pk not in _ids(api.get("/api/tasks/"))
        theirs.refresh_from_db()
        assert theirs.title != "mine now"

    def test_staff_see_every_task(self):
        make_task(make_user())
        client = APIClient()
        client.force_authenticate(make_user(staff=True))
        assert client.get("/api/tasks/").json()["count"] == 1

    def test_it_filters_by_status_priority_overdue_mine_and_due_dates(self, api, alice):
        bob = make_user("bob")
        late = make_task(alice, due_date=datetime.date(2000, 1, 1), priority="high")
        done = make_task(alice, status="done", due_date=datetime.date(2000, 1, 1))
        given = make_task(bob, created_by=alice, due_date=datetime.date(2100, 1, 1))
        assert _ids(api.get("/api/tasks/?status=done")) == [done.pk]
        assert _ids(api.get("/api/tasks/?priority=high")) == [late.pk]
        assert _ids(api.get("/api/tasks/?overdue=true")) == [late.pk]
        assert set(_ids(api.get("/api/tasks/?overdue=false"))) == {done.pk, given.pk}
        assert given.pk not in _ids(api.get("/api/tasks/?mine=true"))
        assert _ids(api.get("/api/tasks/?due_after=2050-01-01")) == [given.pk]
        assert set(_ids(api.get("/api/tasks/?due_before=2000-01-01"))) == {late.pk, done.pk}

    def test_it_searches_and_orders(self, api, alice):
        make_task(alice, title="Buy milk", due_date=datetime.date(2030, 1, 2))
        make_task(alice, title="Buy bread", due_date=datetime.date(2030, 1, 1))
        make_task(alice, title="Call mum")
        titles = [t["title"] for t in api.get("/api/tasks/?search=buy&ordering=due_date").json()["results"]]
        assert titles == ["Buy bread", "Buy milk"]

    @pytest.mark.parametrize(
        "query", ["status=nope", "priority=1", "overdue=maybe", "due_before=soon", "owner=abc", "page=99"]
    )
    def test_it_answers_a_bad_filter_with_a_400_or_404_not_a_500(self, api, alice, query):
        make_task(alice)
        response = api.get(f"/api/tasks/?{query}")
        assert response.status_code in (400, 404)
        assert response.json()

    def test_it_paginates_with_a_page_size_up_to_200(self, api, alice):
        for _ in range(3):
            make_task(alice)
        body = api.get("/api/tasks/?page_size=2").json()
        assert (body["count"], len(body["results"])) == (3, 2)
        assert body["next"]
        assert len(api.get("/api/tasks/?page_size=1000").json()["results"]) == 3


class TestNotifications:
    def test_it_lists_only_my_notifications_and_filters_unread(self, api, alice):
        mine = Notification.objects.create(user=alice, kind="task_assigned", message="mine")
        Notification.objects.create(user=make_user(), kind="task_assigned", message="theirs")
        assert _ids(api.get("/api/notifications/")) == [mine.pk]
        api.post(f"/api/notifications/{mine.pk}/read/")
        assert _ids(api.get("/api/notifications/?unread=true")) == []
        assert api.get(f"/api/notifications/{mine.pk}/").json()["read_at"] is not None

    def test_it_marks_all_read(self, api, alice):
        for n in range(3):
            Notification.objects.create(user=alice, kind="task_assigned", message=str(n))
        assert api.post("/api/notifications/read-all/").json() == {"marked": 3}
        assert api.post("/api/notifications/read-all/").json() == {"marked": 0}

    def test_other_peoples_notifications_are_404(self, api):
        theirs = Notification.objects.create(user=make_user(), kind="task_assigned", message="theirs")
        assert api.get(f"/api/notifications/{theirs.pk}/").status_code == 404
        assert api.post(f"/api/notifications/{theirs.pk}/read/").status_code == 404
        theirs.refresh_from_db()
        assert theirs.read_at is None


class TestSchema:
    def test_it_serves_the_openapi_schema(self, api):
        response = api.get("/api/schema/")
        assert response.status_code == 200
        assert b"/api/tasks/" in response.content

    def test_the_docs_are_served_offline(self, api):
        body = api.get("/api/docs/").content.decode()
        assert "swagger-ui" in body
        assert "https://" not in body
