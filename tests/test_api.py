"""The JSON API for tasks, notifications and the current user."""

import datetime
import re

import pytest
from django.core import mail
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks_app.models import Notification, Task
from tasks_app.services import tasks
from tests.backends import sqlite_only
from tests.factories import make_task, make_user

pytestmark = pytest.mark.django_db


def _ids(response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


class TestAuthentication:
    @pytest.mark.parametrize("url", ["/api/tasks/", "/api/tasks/1/", "/api/notifications/", "/api/me/"])
    def test_it_refuses_anonymous_requests(self, url):
        assert APIClient().get(url).status_code == 401

    def test_it_refuses_anonymous_writes(self):
        assert APIClient().post("/api/tasks/", {"title": "a"}, format="json").status_code == 401
        assert not Task.objects.exists()

    def test_it_accepts_a_token_for_reads_and_writes(self, alice):
        token = Token.objects.create(user=alice)
        client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
        me = client.get("/api/me/").json()
        assert {key: me[key] for key in ["id", "username", "email", "is_staff"]} == {
            "id": alice.pk,
            "username": "alice",
            "email": "alice@example.com",
            "is_staff": False,
        }
        assert client.post("/api/tasks/", {"title": "By token"}, format="json").status_code == 201
        assert client.get("/api/me/").json()["task_stats"]["open"] == 1  # recounted by the write

    def test_me_counts_tasks_written_before_the_first_read(self, alice):
        # The first read makes the counts row: it must show the recount, not the new row's zeros.
        for title in ("a", "b"):
            tasks.task_create(created_by=alice, title=title)
        client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
        assert client.get("/api/me/").json()["task_stats"]["open"] == 2

    def test_it_accepts_a_session_but_requires_the_csrf_token_to_write(self, alice):
        client = APIClient(enforce_csrf_checks=True)
        client.login(username="alice", password="a-long-test-password")
        assert client.get("/api/me/").json()["id"] == alice.pk
        response = client.post("/api/tasks/", {"title": "a"}, format="json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]

    def test_me_gives_null_for_a_blank_email_as_the_schema_says(self):
        client = APIClient()
        client.force_authenticate(make_user(email=""))
        assert client.get("/api/me/").json()["email"] is None

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
        assert not Notification.objects.filter(user=alice).exists()  # one's own task notifies no one

    def test_it_assigns_a_task_to_someone_else_who_is_notified(self, api, alice, django_capture_on_commit_callbacks):
        bob = make_user("bob")
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/tasks/", {"title": "For Bob", "owner": bob.pk}, format="json")
        assert response.status_code == 201
        assert Task.objects.get().owner == bob
        assert Notification.objects.get().user == bob
        assert api.get(f"/api/tasks/{response.json()['id']}/").status_code == 200  # the creator still sees it

    def test_it_ignores_read_only_fields(self, api, alice):
        bob = make_user("bob")
        payload = {"title": "a", "created_by": bob.pk, "completed_at": "2020-01-01T00:00:00Z", "is_overdue": True}
        body = api.post("/api/tasks/", payload, format="json").json()
        assert (body["created_by"], body["completed_at"], body["is_overdue"]) == (alice.pk, None, False)

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
            ({"title": "   "}, "title", "This field may not be blank."),
            ({"title": "\x1e\u3000"}, "title", "This field may not be blank."),
            ({"title": 5}, "title", "Not a valid string."),
            ({"title": "a", "description": 5}, "description", "Not a valid string."),
            ({"title": "a\x00"}, "title", "Null characters are not allowed."),
        ],
    )
    def test_it_rejects_bad_input_with_a_field_message(self, api, payload, field, message):
        response = api.post("/api/tasks/", payload, format="json")
        assert response.status_code == 400
        assert any(message in text for text in response.json()[field]), response.json()
        assert Task.objects.count() == 0

    @pytest.mark.parametrize("body", ['{"title": "\\ud800"}', '{"title": "a", "status": "\\ud800"}', '{"\\ud800": 1}'])
    def test_it_refuses_a_lone_surrogate_that_no_database_can_store(self, api, body):
        response = api.post("/api/tasks/", body, content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {"detail": "JSON parse error - a lone surrogate (such as \\ud800) is not text."}
        assert not Task.objects.exists()

    @pytest.mark.parametrize("depth", [33, 500, 100_000])  # past MAX_DEPTH; past the decoder's own recursion
    def test_it_refuses_deeply_nested_json_with_a_400_and_no_traceback(self, api, depth, caplog):
        for body in ["[" * depth + "]" * depth, '{"title": "a", "tags": ' + "[" * depth + "]" * depth + "}"]:
            response = api.post("/api/tasks/", body, content_type="application/json")
            assert response.status_code == 400
            assert response.json() == {"detail": "JSON parse error - nested deeper than 32 levels."}
        assert not Task.objects.exists()
        assert not [record for record in caplog.records if record.levelname == "ERROR"]

    def test_it_takes_json_bodies_only(self, api):
        response = api.post("/api/tasks/", {"title": "a"}, format="multipart")
        assert response.status_code == 415
        assert "Unsupported media type" in response.json()["detail"]

    def test_it_rejects_invalid_json(self, api):
        response = api.post("/api/tasks/", "{not json", content_type="application/json")
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    def test_it_rejects_an_inactive_owner(self, api):
        gone = make_user(is_active=False)
        response = api.post("/api/tasks/", {"title": "a", "owner": gone.pk}, format="json")
        assert response.status_code == 400
        assert response.json()["owner"] == [f'Invalid pk "{gone.pk}" - object does not exist.']

    def test_it_rejects_a_bad_update_and_keeps_the_task(self, api, alice):
        task = make_task(alice, title="Keep me")
        response = api.patch(f"/api/tasks/{task.pk}/", {"title": "", "priority": "urgent"}, format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"title", "priority"}
        task.refresh_from_db()
        assert (task.title, task.priority) == ("Keep me", "normal")

    @sqlite_only
    def test_it_answers_a_rule_the_service_enforces_with_a_400(self, api, alice):
        task = make_task(alice, title="x" * 201)  # saved past validation, as old data might be
        for response in [
            api.patch(f"/api/tasks/{task.pk}/", {"status": "in_progress"}, format="json"),
            api.post(f"/api/tasks/{task.pk}/complete/"),
        ]:
            assert response.status_code == 400
            assert response.json() == {"title": ["Ensure this value has at most 200 characters (it has 201)."]}
        task.refresh_from_db()
        assert task.status == "todo"

    def test_it_requires_the_title_on_a_full_update(self, api, alice):
        task = make_task(alice)
        response = api.put(f"/api/tasks/{task.pk}/", {"status": "done"}, format="json")
        assert response.json() == {"title": ["This field is required."]}

    def test_it_updates_and_completes_a_task(self, api, alice):
        task = make_task(alice)
        response = api.patch(f"/api/tasks/{task.pk}/", {"status": "in_progress"}, format="json")
        assert response.json()["status"] == "in_progress"
        response = api.post(f"/api/tasks/{task.pk}/complete/")
        assert response.json()["status"] == "done"
        assert response.json()["completed_at"] is not None

    def test_email_me_this_task_mails_the_link_to_the_task_s_page(self, api, alice, django_capture_on_commit_callbacks):
        task = make_task(alice)
        with django_capture_on_commit_callbacks(execute=True):
            assert api.post(f"/api/tasks/{task.pk}/email/").status_code == 202
        assert f"http://testserver/tasks/{task.pk}/" in mail.outbox[0].body

    def test_it_deletes_a_task(self, api, alice):
        task = make_task(alice)
        assert api.delete(f"/api/tasks/{task.pk}/").status_code == 204
        assert not Task.objects.exists()

    def test_other_peoples_tasks_are_404_for_every_verb(self, api):
        theirs = make_task(make_user("bob"), title="Theirs")
        url = f"/api/tasks/{theirs.pk}/"
        assert api.get(url).status_code == 404
        assert api.patch(url, {"title": "mine now"}, format="json").status_code == 404
        assert api.put(url, {"title": "mine now"}, format="json").status_code == 404
        assert api.delete(url).status_code == 404
        assert api.post(url + "complete/").status_code == 404
        assert theirs.pk not in _ids(api.get("/api/tasks/"))
        theirs.refresh_from_db()
        assert (theirs.title, theirs.status) == ("Theirs", "todo")

    def test_staff_see_and_change_every_task(self):
        task = make_task(make_user())
        client = APIClient()
        client.force_authenticate(make_user(staff=True))
        assert client.get("/api/tasks/").json()["count"] == 1
        assert client.post(f"/api/tasks/{task.pk}/complete/").json()["status"] == "done"

    def test_it_filters_by_status_priority_overdue_mine_and_due_dates(self, api, alice):
        bob = make_user("bob")
        late = make_task(alice, due_date=datetime.date(2000, 1, 1), priority="high")
        done = make_task(alice, status="done", due_date=datetime.date(2000, 1, 1))
        given = make_task(bob, created_by=alice, due_date=datetime.date(2100, 1, 1))
        assert _ids(api.get("/api/tasks/?status=done")) == [done.pk]
        assert _ids(api.get("/api/tasks/?priority=high")) == [late.pk]
        assert _ids(api.get("/api/tasks/?overdue=true")) == [late.pk]
        assert set(_ids(api.get("/api/tasks/?overdue=false"))) == {done.pk, given.pk}
        assert set(_ids(api.get("/api/tasks/?mine=true"))) == {late.pk, done.pk}
        assert set(_ids(api.get("/api/tasks/?mine=false"))) == {late.pk, done.pk, given.pk}
        assert _ids(api.get("/api/tasks/?due_after=2050-01-01")) == [given.pk]
        assert set(_ids(api.get("/api/tasks/?due_before=2000-01-01"))) == {late.pk, done.pk}

    def test_it_searches_and_orders(self, api, alice):
        for day, (title, due) in enumerate([("Buy milk", 2), ("Buy bread", 1), ("Call mum", None)], start=1):
            task = make_task(alice, title=title, due_date=due and datetime.date(2030, 1, due))
            Task.objects.filter(pk=task.pk).update(created_at=datetime.datetime(2025, 1, day, tzinfo=datetime.UTC))

        def titles(query: str) -> list[str]:
            return [task["title"] for task in api.get(f"/api/tasks/?{query}").json()["results"]]

        assert titles("search=buy&ordering=due_date") == ["Buy bread", "Buy milk"]
        assert titles("search=BUY&ordering=-due_date") == ["Buy milk", "Buy bread"]
        assert titles("ordering=created_at") == ["Buy milk", "Buy bread", "Call mum"]
        assert titles("ordering=-created_at") == ["Call mum", "Buy bread", "Buy milk"]

    def test_it_orders_by_priority_rank_not_alphabetically(self, api, alice):
        for priority in ["normal", "high", "low"]:
            make_task(alice, title=priority, priority=priority)
        ordered = [task["title"] for task in api.get("/api/tasks/?ordering=priority").json()["results"]]
        assert ordered == ["low", "normal", "high"]
        ordered = [task["title"] for task in api.get("/api/tasks/?ordering=-priority").json()["results"]]
        assert ordered == ["high", "normal", "low"]

    @pytest.mark.parametrize(
        ("query", "field", "message"),
        [
            ("status=nope", "status", "Select a valid choice. nope is not one of the available choices."),
            ("priority=urgent", "priority", "Select a valid choice. urgent is not one of the available choices."),
            ("overdue=maybe", "overdue", "Select a valid choice. maybe is not one of the available choices."),
            ("mine=yes", "mine", "Select a valid choice. yes is not one of the available choices."),
            ("due_before=soon", "due_before", "Enter a valid date."),
            ("due_after=2020-13-01", "due_after", "Enter a valid date."),
            ("owner=abc", "owner", "Enter a whole number."),
            ("owner=99999999999999999999", "owner", "Ensure this value is less than or equal to 9223372036854775807."),
            ("due_before=", "due_before", "Give a value, or leave the parameter out."),
            ("status=", "status", "Give a value, or leave the parameter out."),
        ],
    )
    def test_it_answers_a_bad_filter_with_a_400_and_a_message(self, api, alice, query, field, message):
        make_task(alice)
        response = api.get(f"/api/tasks/?{query}")
        assert response.status_code == 400
        assert message in response.json()[field][0]

    def test_it_filters_by_owner_id_and_an_unknown_id_matches_nothing(self, api, alice):
        mine = make_task(alice)
        make_task(make_user(), created_by=alice)
        assert _ids(api.get(f"/api/tasks/?owner={alice.pk}")) == [mine.pk]
        assert _ids(api.get("/api/tasks/?owner=999999")) == []

    def test_it_answers_a_page_past_the_end_with_a_404(self, api, alice):
        make_task(alice)
        response = api.get("/api/tasks/?page=99")
        assert response.status_code == 404
        assert response.json() == {"detail": "Invalid page."}

    def test_it_paginates_with_a_page_size_up_to_200(self, api, alice):
        Task.objects.bulk_create(Task(owner=alice, title=f"Task {n}") for n in range(201))
        body = api.get("/api/tasks/?page_size=2").json()
        assert (body["count"], len(body["results"])) == (201, 2)
        assert "page=2" in body["next"]
        assert len(api.get("/api/tasks/").json()["results"]) == 50
        assert len(api.get("/api/tasks/?page_size=200").json()["results"]) == 200

    @pytest.mark.parametrize(
        ("page_size", "message"),
        [
            ("true", "Enter a whole number."),
            ("abc", "Enter a whole number."),
            ("0", "Ensure this value is greater than or equal to 1."),
            ("201", "Ensure this value is less than or equal to 200."),
        ],
    )
    def test_it_answers_a_bad_page_size_with_a_400(self, api, page_size, message):
        response = api.get(f"/api/tasks/?page_size={page_size}")
        assert response.status_code == 400
        assert response.json() == {"page_size": [message]}

    @pytest.mark.parametrize(("page", "message"), [("", "This field is required."), ("abc", "Enter a whole number.")])
    def test_it_answers_a_bad_page_with_a_400(self, api, page, message):
        response = api.get(f"/api/notifications/?page={page}")
        assert response.status_code == 400
        assert response.json() == {"page": [message]}


class TestNotifications:
    def test_it_lists_only_my_notifications_and_filters_unread(self, api, alice):
        mine = Notification.objects.create(user=alice, kind="task_assigned", message="mine")
        other = Notification.objects.create(user=alice, kind="task_assigned", message="other")
        Notification.objects.create(user=make_user(), kind="task_assigned", message="theirs")
        assert _ids(api.get("/api/notifications/")) == [other.pk, mine.pk]
        response = api.post(f"/api/notifications/{mine.pk}/read/")
        assert response.json()["read_at"] is not None
        assert _ids(api.get("/api/notifications/?unread=true")) == [other.pk]
        assert _ids(api.get("/api/notifications/?unread=false")) == [mine.pk]
        assert api.get(f"/api/notifications/{mine.pk}/").json()["message"] == "mine"

    def test_it_answers_a_bad_unread_filter_with_a_400(self, api):
        response = api.get("/api/notifications/?unread=maybe")
        assert response.status_code == 400
        assert "maybe is not one of the available choices" in response.json()["unread"][0]

    def test_it_marks_all_of_my_notifications_read_and_no_one_elses(self, api, alice):
        for n in range(3):
            Notification.objects.create(user=alice, kind="task_assigned", message=str(n))
        theirs = Notification.objects.create(user=make_user(), kind="task_assigned", message="theirs")
        assert api.post("/api/notifications/read-all/").json() == {"marked": 3}
        assert api.post("/api/notifications/read-all/").json() == {"marked": 0}
        theirs.refresh_from_db()
        assert theirs.read_at is None

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

    @pytest.fixture
    def schema(self, api) -> dict:
        return api.get("/api/schema/?format=json").json()

    def test_every_operation_documents_the_errors_it_can_answer(self, schema):
        def codes(path: str, method: str) -> set[str]:
            return set(schema["paths"][path][method]["responses"])

        for path, operations in schema["paths"].items():
            for method in operations:
                assert {"401", "429"} <= codes(path, method)
        assert codes("/api/tasks/", "get") == {"200", "400", "401", "404", "429"}
        assert codes("/api/tasks/{id}/", "put") == {"200", "400", "401", "403", "404", "415", "429"}
        assert codes("/api/tasks/{id}/email/", "post") == {"200", "202", "400", "401", "403", "404", "429"}
        assert codes("/api/broadcasts/", "post") == {"202", "400", "401", "403", "415", "429"}
        assert codes("/api/jobs/{job_id}/cancel/", "post") == {"200", "401", "403", "404", "409", "429"}

    def test_downloads_are_documented_in_their_media_types(self, schema):
        def media_types(path: str) -> set[str]:
            return set(schema["paths"][path]["get"]["responses"]["200"]["content"])

        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert media_types("/api/reports/{id}/download/") == {"text/csv", xlsx, "application/pdf"}
        assert media_types("/api/exports/{id}/download/") == {"application/zip"}

    def test_fields_and_parameters_are_constrained_as_the_api_checks_them(self, schema):
        components = schema["components"]["schemas"]
        title = components["TaskRequest"]["properties"]["title"]
        assert (title["minLength"], title["maxLength"]) == (1, 200)
        # The pattern needs a character that Python's str.strip() keeps (DRF trims the title).
        for text in ["a", " a ", "\ufeff"]:
            assert re.search(title["pattern"], text)
        for text in ["", " ", "\x1e\t\u3000"]:
            assert not re.search(title["pattern"], text)
        assert components["ReportRequestRequest"]["properties"]["status"]["oneOf"][0] == {
            "$ref": "#/components/schemas/TaskStatusEnum"
        }
        assert components["User"]["properties"]["email"]["nullable"] is True
        upload = components["ImportUploadRequest"]["properties"]["file"]
        assert {key: upload[key] for key in ("type", "format", "minLength")} == {
            "type": "string",
            "format": "binary",
            "minLength": 1,
        }
        assert "XLSX" in upload["description"] and "semicolon" in upload["description"]
        parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/notifications/"]["get"]["parameters"]}
        assert parameters["unread"] == {"type": "boolean"}
        assert parameters["page_size"] == {"type": "integer", "minimum": 1, "maximum": 200}
        assert list(schema["paths"]["/api/tasks/"]["post"]["requestBody"]["content"]) == ["application/json"]

    @pytest.mark.parametrize("url", ["/api/tasks/0.5/complete/", "/api/reports/abc/", "/api/no-such-thing/"])
    def test_urls_no_route_takes_are_a_json_404(self, url):
        response = APIClient(enforce_csrf_checks=True).post(url)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}

    @pytest.mark.parametrize(("url", "marker"), [("/api/docs/", "swagger-ui"), ("/api/redoc/", "redoc")])
    def test_the_docs_are_served_offline(self, api, url, marker):
        response = api.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        assert f"/static/drf_spectacular_sidecar/{marker}" in body
        assert "https://" not in body
