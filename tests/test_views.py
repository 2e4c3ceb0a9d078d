"""The web UI through Django's test client (Huey in immediate mode)."""

import datetime
import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tasks_app.models import Email, Notification, Task
from tests.backends import sqlite_only
from tests.factories import make_staff, make_task, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _titles(response) -> list[str]:
    return [task.title for task in response.context["page"]]


class TestLogin:
    @pytest.mark.parametrize("url", ["/", "/tasks/new/", "/notifications/", "/ops/"])
    def test_every_page_needs_a_login(self, client, url):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")

    def test_it_logs_in_and_out(self, client, alice):
        response = client.post("/accounts/login/", {"username": "alice", "password": "a-long-test-password"})
        assert response["Location"] == "/"
        assert client.get("/").status_code == 200
        assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
        assert client.get("/").status_code == 302

    def test_it_says_when_the_password_is_wrong(self, client, alice):
        response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()


class TestTaskList:
    def test_it_filters_by_status_overdue_and_mine(self, logged_in, alice):
        bob = make_user("bob")
        make_task(alice, title="Late", due_date=datetime.date(2000, 1, 1))
        make_task(alice, title="Done", status=Task.Status.DONE)
        make_task(bob, title="Given to Bob", created_by=alice)
        make_task(bob, title="Bob's own")
        assert set(_titles(logged_in.get("/"))) == {"Late", "Done", "Given to Bob"}
        assert _titles(logged_in.get("/?status=done")) == ["Done"]
        assert _titles(logged_in.get("/?overdue=1")) == ["Late"]
        assert set(_titles(logged_in.get("/?mine=1"))) == {"Late", "Done"}

    def test_it_ignores_a_nonsense_filter_instead_of_failing(self, logged_in, alice):
        make_task(alice, title="Anything")
        make_task(make_user("bob"), title="Given to Bob", created_by=alice)
        response = logged_in.get("/?status=bogus&page=abc")
        assert response.status_code == 200
        assert set(_titles(response)) == {"Anything", "Given to Bob"}
        assert _titles(logged_in.get("/?status=bogus&mine=1")) == ["Anything"]  # the valid filter still applies

    def test_it_paginates(self, logged_in, alice):
        for n in range(30):
            make_task(alice, title=f"T{n}")
        assert len(_titles(logged_in.get("/"))) == 25
        assert len(_titles(logged_in.get("/?page=2"))) == 5

    def test_it_searches_every_word_in_title_and_description_in_any_case(self, logged_in, alice):
        make_task(alice, title="Renew the DOMAIN", description="before it lapses")
        make_task(alice, title="Pay rent", description="Domain name is paid")
        make_task(alice, title="Other")
        make_task(make_user("bob"), title="Bob's domain")  # not hers: a search never widens the list
        assert set(_titles(logged_in.get("/?q=domain"))) == {"Renew the DOMAIN", "Pay rent"}
        assert _titles(logged_in.get("/?q=LAPSES+renew")) == ["Renew the DOMAIN"]
        assert _titles(logged_in.get("/?q=domain&mine=1&sort=-created")) == ["Pay rent", "Renew the DOMAIN"]
        assert _titles(logged_in.get("/?q=nothing-like-it")) == []

    def test_it_sorts_by_due_date_with_undated_tasks_last_either_way(self, logged_in, alice):
        make_task(alice, title="Undated")
        make_task(alice, title="Later", due_date=datetime.date(2030, 2, 1))
        make_task(alice, title="Sooner", due_date=datetime.date(2030, 1, 1))
        assert _titles(logged_in.get("/?sort=due")) == ["Sooner", "Later", "Undated"]
        assert _titles(logged_in.get("/?sort=-due")) == ["Later", "Sooner", "Undated"]

    def test_it_sorts_by_priority_rank_not_alphabetically(self, logged_in, alice):
        for priority in ["normal", "high", "low"]:
            make_task(alice, title=priority, priority=priority)
        assert _titles(logged_in.get("/?sort=-priority")) == ["high", "normal", "low"]
        assert _titles(logged_in.get("/?sort=priority")) == ["low", "normal", "high"]

    def test_it_sorts_by_created_date_newest_first_by_default(self, logged_in, alice):
        for title in ["First", "Second", "Third"]:
            make_task(alice, title=title)
        assert _titles(logged_in.get("/")) == ["Third", "Second", "First"]
        assert _titles(logged_in.get("/?sort=created")) == ["First", "Second", "Third"]

    @pytest.mark.parametrize(
        "query", ["sort=bogus&page=abc", "sort=&page=-1", "sort=due;drop&page=99999999999999999999"]
    )
    def test_a_bad_sort_or_page_falls_back_to_the_default(self, logged_in, alice, query):
        for title in ["First", "Second"]:
            make_task(alice, title=title)
        response = logged_in.get(f"/?{query}")
        assert response.status_code == 200
        assert _titles(response) == ["Second", "First"]

    def test_a_search_too_long_is_dropped_not_failed(self, logged_in, alice):
        make_task(alice, title="Anything")
        response = logged_in.get("/?q=" + "x" * 201)
        assert response.status_code == 200 and _titles(response) == ["Anything"]

    def test_the_sort_links_keep_the_search_the_filters_and_the_page(self, logged_in, alice):
        page = logged_in.get("/?q=report&status=todo&mine=1&page=2&sort=due").context["sorting"]
        assert page["due"]["aria_sort"] == "ascending" and page["priority"]["aria_sort"] == "none"
        assert page["due"]["url"] == "?q=report&status=todo&mine=1&page=2&sort=-due"  # sorted by it: the other way
        assert page["priority"]["url"] == "?q=report&status=todo&mine=1&page=2&sort=-priority"  # high first
        assert page["created"]["url"] == "?q=report&status=todo&mine=1&page=2&sort=-created"  # newest first
        body = logged_in.get("/?sort=-priority").content.decode()
        assert 'aria-sort="descending"><a href="?sort=priority">Priority ▼</a>' in body

    def test_the_number_of_queries_does_not_grow_with_the_page(self, logged_in, alice):
        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                logged_in.get("/?sort=-priority&q=task")
            return len(captured.captured_queries)

        make_task(make_user("bob"), title="Task 0", created_by=alice)
        queries()  # the first visit of the day recounts her stats
        one = queries()
        for n in range(1, 25):
            make_task(make_user(), title=f"Task {n}", created_by=alice)
        assert queries() == one


class TestTaskForms:
    def test_creating_a_task_notifies_its_owner_through_the_job(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in.post(
                "/tasks/new/",
                {
                    "title": "Write docs",
                    "owner": alice.pk,
                    "status": "todo",
                    "priority": "high",
                    "due_date": "2030-01-01",
                },
            )
        assert response["Location"] == "/"
        task = Task.objects.get()
        assert (task.title, task.created_by, task.due_date) == ("Write docs", alice, datetime.date(2030, 1, 1))
        assert not Notification.objects.filter(user=alice).exists()  # one's own task notifies no one
        assert logged_in.get("/notifications/badge/").json() == {"unread": 0}

    @pytest.mark.parametrize(
        ("data", "error"),
        [
            ({"title": ""}, "This field is required."),
            ({"title": "x" * 201}, "Ensure this value has at most 200 characters (it has 201)."),
            ({"title": "ok", "due_date": "someday"}, "Enter a valid date."),
            (
                {"title": "ok", "priority": "urgent"},
                "Select a valid choice. urgent is not one of the available choices.",
            ),
            ({"title": "ok", "owner": "999999"}, "Select a valid choice."),
        ],
    )
    def test_it_shows_form_errors_and_creates_nothing(self, logged_in, alice, data, error):
        payload = {"owner": alice.pk, "status": "todo", "priority": "normal", **data}
        response = logged_in.post("/tasks/new/", payload)
        assert response.status_code == 200
        assert error in response.content.decode()
        assert not Task.objects.exists()

    def test_it_edits_and_completes_a_task(self, logged_in, alice):
        task = make_task(alice, title="Old")
        edit = {"title": "New", "owner": alice.pk, "status": "todo", "priority": "low"}
        assert logged_in.post(f"/tasks/{task.pk}/edit/", edit)["Location"] == f"/tasks/{task.pk}/"  # back to its page
        task.refresh_from_db()
        assert (task.title, task.priority) == ("New", "low")
        logged_in.post(f"/tasks/{task.pk}/complete/")
        task.refresh_from_db()
        assert task.status == Task.Status.DONE and task.completed_at is not None

    def test_the_form_offers_active_users_and_suggests_me_as_owner(self, logged_in, alice):
        make_user("bob")
        make_user("gone", is_active=False)
        owner = logged_in.get("/tasks/new/").context["form"]["owner"]
        assert owner.value() == alice.pk
        assert [user.username for user in owner.field.queryset] == ["alice", "bob"]

    def test_the_creator_and_staff_may_edit_a_task_they_do_not_own(self, client, alice):
        bob = make_user("bob")
        task = make_task(bob, title="Given to Bob", created_by=alice)
        for user in [alice, make_user("boss", staff=True)]:
            client.force_login(user)
            assert client.get(f"/tasks/{task.pk}/edit/").status_code == 200
        client.force_login(make_user("carol"))
        assert client.get(f"/tasks/{task.pk}/edit/").status_code == 404

    def test_it_asks_before_deleting(self, logged_in, alice):
        task = make_task(alice, title="Doomed")
        assert "will be deleted for good" in logged_in.get(f"/tasks/{task.pk}/delete/").content.decode()
        assert Task.objects.exists()
        logged_in.post(f"/tasks/{task.pk}/delete/")
        assert not Task.objects.exists()

    def test_other_peoples_tasks_are_404(self, logged_in):
        theirs = make_task(make_user("bob"), title="Private")
        for url in [f"/tasks/{theirs.pk}/", f"/tasks/{theirs.pk}/edit/", f"/tasks/{theirs.pk}/delete/"]:
            assert logged_in.get(url).status_code == 404
        assert logged_in.post(f"/tasks/{theirs.pk}/complete/").status_code == 404
        assert logged_in.post(f"/tasks/{theirs.pk}/email/").status_code == 404
        assert logged_in.post(f"/tasks/{theirs.pk}/delete/").status_code == 404
        assert logged_in.post(f"/tasks/{theirs.pk}/edit/", {"title": "Mine"}).status_code == 404
        theirs.refresh_from_db()
        assert (theirs.title, theirs.status) == ("Private", Task.Status.TODO)

    @sqlite_only
    def test_completing_an_invalid_row_explains_instead_of_failing(self, logged_in, alice):
        task = make_task(alice, title="x" * 201)  # saved around validation, as a script might
        response = logged_in.post(f"/tasks/{task.pk}/complete/", follow=True)
        assert response.status_code == 200
        assert "Cannot complete" in response.content.decode()
        task.refresh_from_db()
        assert task.status == Task.Status.TODO

    def test_complete_needs_a_post(self, logged_in, alice):
        assert logged_in.get(f"/tasks/{make_task(alice).pk}/complete/").status_code == 405


class TestTaskPage:
    def test_it_shows_the_task_its_people_and_its_history(self, client, alice, django_capture_on_commit_callbacks):
        bob = make_user("bob")
        client.force_login(bob)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                "/tasks/new/", {"title": "Book the room", "owner": alice.pk, "status": "todo", "priority": "high"}
            )
        task = Task.objects.get()
        client.force_login(alice)
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(f"/tasks/{task.pk}/email/")["Location"] == f"/tasks/{task.pk}/"
        client.force_login(bob)
        with django_capture_on_commit_callbacks(execute=True):
            client.post(f"/tasks/{task.pk}/complete/")
        make_task(alice, title="Another")  # its history is not this one's
        client.force_login(alice)

        response = client.get(f"/tasks/{task.pk}/")
        body = response.content.decode()
        assert "<h1>Book the room</h1>" in body
        for shown in ["High", "Done", "alice", "by bob", f'href="/tasks/{task.pk}/edit/"', "Email me this task"]:
            assert shown in body
        assert [(email.kind, email.user) for email in response.context["emails"]] == [
            (Email.Kind.TASK_COMPLETED, alice),
            (Email.Kind.TASK, alice),
        ]
        assert [(label, run.triggered_by) for label, run in response.context["job_runs"]] == [
            ("Email the owner it was completed", bob),
            ("Tell the owner it was given to them", bob),
        ]
        assert f'action="/tasks/{task.pk}/complete/"' not in body  # done already

    def test_it_offers_complete_and_delete_only_when_they_apply(self, client, alice):
        task = make_task(make_user("bob"), title="Bob's")
        client.force_login(make_staff("editor", "change_task"))  # may see and change it, not delete it
        body = client.get(f"/tasks/{task.pk}/").content.decode()
        assert f'action="/tasks/{task.pk}/complete/"' in body
        assert f'href="/tasks/{task.pk}/delete/"' not in body
        client.force_login(alice)
        mine = make_task(alice)
        assert f'href="/tasks/{mine.pk}/delete/"' in client.get(f"/tasks/{mine.pk}/").content.decode()

    def test_email_me_this_task_mails_the_link_to_the_task_page(
        self, logged_in, alice, settings, django_capture_on_commit_callbacks
    ):
        settings.ALLOWED_HOSTS = ["tasks.example.com"]
        task = make_task(alice, title="Linked")
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in.post(f"/tasks/{task.pk}/email/", follow=True, HTTP_HOST="tasks.example.com")
        assert response.redirect_chain == [(f"/tasks/{task.pk}/", 302)]
        assert f"Open it:  http://tasks.example.com/tasks/{task.pk}/" in mail.outbox[0].body

    def test_the_list_and_a_notification_lead_to_the_task_page(self, logged_in, alice):
        task = make_task(alice, title="Read me")
        assert f'<a href="/tasks/{task.pk}/">Read me</a>' in logged_in.get("/").content.decode()
        assert task.get_absolute_url() == f"/tasks/{task.pk}/"


class TestNotifications:
    def test_it_lists_marks_one_and_marks_all_read(self, logged_in, alice):
        first = Notification.objects.create(user=alice, kind="task_assigned", message="First")
        Notification.objects.create(user=alice, kind="task_assigned", message="Second")
        assert "First" in logged_in.get("/notifications/").content.decode()
        logged_in.post(f"/notifications/{first.pk}/read/")
        assert logged_in.get("/notifications/badge/").json() == {"unread": 1}
        logged_in.post("/notifications/read-all/")
        assert logged_in.get("/notifications/badge/").json() == {"unread": 0}

    def test_opening_one_marks_it_read_and_leads_to_what_it_is_about(self, logged_in, alice):
        task = make_task(alice)
        about_task = Notification.objects.create(
            user=alice, kind="task_assigned", message="A", data={"task_id": task.pk}
        )
        about_file = Notification.objects.create(
            user=alice, kind="report_ready", message="B", data={"url": "/reports/"}
        )
        page = logged_in.get("/notifications/").content.decode()
        assert f'href="/notifications/{about_task.pk}/"' in page
        assert logged_in.get(f"/notifications/{about_task.pk}/")["Location"] == f"/tasks/{task.pk}/"
        assert logged_in.get(f"/notifications/{about_file.pk}/")["Location"] == "/reports/"
        assert logged_in.get("/notifications/badge/").json() == {"unread": 0}

    def test_a_failed_job_notice_leads_to_the_job(self, client):
        boss = make_user("boss", staff=True)
        notice = Notification.objects.create(
            user=boss, kind="job_failed", message="Job x failed", data={"job_id": "j1"}
        )
        client.force_login(boss)
        assert client.get(f"/notifications/{notice.pk}/")["Location"] == "/ops/jobs/j1/"

    def test_it_cannot_open_someone_elses_notification(self, logged_in):
        theirs = Notification.objects.create(user=make_user(), kind="task_assigned", message="Theirs")
        assert logged_in.get(f"/notifications/{theirs.pk}/").status_code == 404

    def test_it_cannot_mark_someone_elses_notification(self, logged_in):
        theirs = Notification.objects.create(user=make_user(), kind="task_assigned", message="Theirs")
        assert logged_in.post(f"/notifications/{theirs.pk}/read/").status_code == 404
        theirs.refresh_from_db()
        assert theirs.read_at is None


class TestPasswordReset:
    def test_it_emails_a_working_reset_link_through_the_job(self, client, alice, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
        assert response["Location"] == "/accounts/password_reset/done/"
        link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
        email = Email.objects.get(kind=Email.Kind.PASSWORD_RESET)
        assert email.status == Email.Status.SENT
        assert link not in email.body  # the one-time link is not kept once sent

        form = client.get(link, follow=True)
        assert "Choose a new password" in form.content.decode()
        done = client.post(
            form.redirect_chain[-1][0], {"new_password1": "An0ther-pass!", "new_password2": "An0ther-pass!"}
        )
        assert done["Location"] == "/accounts/reset/done/"
        assert client.login(username="alice", password="An0ther-pass!")

    def test_an_unknown_address_sends_nothing_and_says_the_same(self, client, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
        assert response["Location"] == "/accounts/password_reset/done/"
        assert not mail.outbox

    def test_a_known_and_an_unknown_address_cost_the_request_the_same_work(self, client, alice):
        queries = []
        for address in ["alice@example.com", "nobody@example.com"]:
            with CaptureQueriesContext(connection) as captured:
                assert client.post("/accounts/password_reset/", {"email": address}).status_code == 302
            queries.append([re.sub(r"'[^']*'|\d+", "?", query["sql"]) for query in captured.captured_queries])
        assert queries[0] == queries[1]  # the same statements: the job, not the request, looks the address up
        assert not Email.objects.exists()  # no link made before the job sends it
