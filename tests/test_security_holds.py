"""What the security review found to hold, pinned so that it keeps holding (docs/security.md).

Already pinned elsewhere, and not repeated here:
- the files, tasks, jobs, /ops/ and admin permissions, each with its positive side
  (tests/test_permissions.py); others' tasks and notifications in the web UI (tests/test_views.py);
- address-change links: once only, for the asking account only, forged, expired, replaced by a
  newer request; the undo link once only (tests/test_account.py); CSRF of the API's session
  writes (tests/test_api.py) and of /account/name/ in the layout (tests/test_error_pages.py);
- the lockout itself, spraying, and client_ip() behind and off the proxy (tests/test_abuse_protection.py);
- a sign-up link once its own sign-up made the account (tests/test_signup.py);
- the task list's bad sort and page (tests/test_views.py), the API's bad page and page_size (tests/test_api.py);
- the zip bomb (tests/test_import_corpus.py::test_a_zip_bomb_is_refused_before_it_is_opened).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import mail, signing
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from huey.contrib.djhuey import db_task
from rest_framework.authtoken.models import Token

from tasks_app.models import JobRun, Notification, Task, WorkspaceExport
from tasks_app.queue.writer import enqueueing
from tasks_app.services import accounts, imports, reports
from tests.factories import make_staff, make_task, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # tests.factories.make_user's
PERIODIC_JOB = "tasks_app.jobs.maintenance.stats_snapshot"


@db_task(name="tests.security_holds_divide")
def divide(a: int, b: int) -> float:
    return a / b


def _database() -> dict[str, list[dict]]:
    """Every row of the app's tables, the users and DRF's tokens: what a refused request must leave as it was."""
    models = [*apps.get_app_config("tasks_app").get_models(), get_user_model(), Token]
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}


def _logged_in(user, **defaults) -> Client:
    client = Client(**defaults)
    client.force_login(user)
    return client


# -- 1. Every id-taking URL refuses another person ------------------------------------------------

# The admin is left out: each of its models opens by its own permissions (tests/test_permissions.py TestAdmin).
OUT_OF_SCOPE = ("admin/",)


def _routes(patterns, prefix: str = "", groups: frozenset = frozenset()):
    """(route, the names of the URL's parameters) of every pattern, resolvers walked into."""
    for entry in patterns:
        here = groups | set(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern), here)
        else:
            yield prefix + str(entry.pattern), here


def id_taking_routes() -> set[str]:
    """The web UI's, the API's and /ops/'s routes that take a parameter (a path converter, or a
    router's named group), a format suffix alone aside."""
    return {
        route
        for route, groups in _routes(get_resolver().url_patterns)
        if groups - {"format"} and not route.startswith(OUT_OF_SCOPE)
    }


ROW = frozenset({404, 405})  # someone else's row: not found (or the method is not this URL's)
STAFF_ONLY = frozenset({403, 405})  # /ops/: forbidden to non-staff, and to staff without the permission


def _invalid_reset_link(response) -> bool:
    """Django's own answer to a reset link whose token is not the account's: its page saying so (200)."""
    return response.status_code == 200 and response.context["validlink"] is False


@dataclass(frozen=True)
class Case:
    """How to call one route on alice's row, what refusing it looks like, and what its owner gets."""

    url: Callable[[dict], str]
    refused: frozenset[int] | Callable = ROW  # for bob and the clerk
    owner: str = "alice"  # who the URL is for: "alice", "root" (a superuser) or "anonymous"
    own: tuple[str, int] = ("get", 200)  # the owner's method and status: proof that the URL is right
    own_url: Callable[[dict], str] | None = None  # when the owner's URL differs (a link of their own)
    staff_reads: bool = False  # any staff user may read it (a schedule is nobody's row)

    def refuses(self, who: str, response) -> bool:
        if who == "anonymous" and response.status_code == 302:
            return response["Location"].startswith("/accounts/login/")
        if who == "anonymous" and response.status_code == 401:
            return True
        if self.staff_reads and who == "clerk" and response.status_code == 200:
            return True
        if callable(self.refused):
            return self.refused(response)
        return response.status_code in self.refused


ROUTES: dict[str, Case] = {
    # /ops/: staff only, each job by view_all_jobs and each action by manage_jobs
    "ops/jobs/<str:job_id>/": Case(lambda r: f"/ops/jobs/{r['failed_job'].pk}/", STAFF_ONLY, owner="root"),
    "ops/jobs/<str:job_id>/retry/": Case(
        lambda r: f"/ops/jobs/{r['failed_job'].pk}/retry/", STAFF_ONLY, owner="root", own=("post", 302)
    ),
    "ops/jobs/<str:job_id>/dismiss/": Case(
        lambda r: f"/ops/jobs/{r['failed_job'].pk}/dismiss/", STAFF_ONLY, owner="root", own=("post", 302)
    ),
    "ops/jobs/<str:job_id>/cancel/": Case(
        lambda r: f"/ops/jobs/{r['later_job'].pk}/cancel/", STAFF_ONLY, owner="root", own=("post", 302)
    ),
    "ops/lanes/<str:lane>/pause/": Case(lambda r: "/ops/lanes/default/pause/", STAFF_ONLY, "root", ("post", 302)),
    "ops/schedule/<str:name>/": Case(lambda r: f"/ops/schedule/{PERIODIC_JOB}/", STAFF_ONLY, "root", staff_reads=True),
    "ops/schedule/<str:name>/run/": Case(
        lambda r: f"/ops/schedule/{PERIODIC_JOB}/run/", STAFF_ONLY, owner="root", own=("post", 302)
    ),
    # signed links: the token is bound to its account or address, whoever holds the URL
    "accounts/reset/<uidb64>/<token>/": Case(
        lambda r: f"/accounts/reset/{r['alice_uid']}/{r['bobs_reset_token']}/",  # bob's own token, alice's id
        _invalid_reset_link,
        owner="anonymous",
        own=("get", 302),
        own_url=lambda r: f"/accounts/reset/{r['alice_uid']}/{r['alices_reset_token']}/",
    ),
    "account/email/confirm/<int:mail_id>/<str:token>/": Case(lambda r: r["email_confirm_link"], frozenset({400})),
    "account/email/undo/<str:token>/": Case(
        lambda r: f"/account/email/undo/{r['forged_undo_token']}/",
        frozenset({400}),
        owner="anonymous",
        own_url=lambda r: f"/account/email/undo/{r['alices_undo_token']}/",
    ),
    "signup/verify/<str:token>/": Case(
        lambda r: f"/signup/verify/{accounts.signup_token(r['alice'].email)}/",  # her address has its account
        frozenset({409}),
        owner="anonymous",
        own_url=lambda r: f"/signup/verify/{accounts.signup_token('newcomer@example.com')}/",
    ),
    # the web UI
    "account/tokens/<int:pk>/revoke/": Case(lambda r: f"/account/tokens/{r['token'].pk}/revoke/", own=("post", 302)),
    "reports/<int:pk>/download/": Case(lambda r: f"/reports/{r['report'].pk}/download/"),
    "reports/<int:pk>/cancel/": Case(lambda r: f"/reports/{r['waiting_report'].pk}/cancel/", own=("post", 302)),
    "imports/<int:pk>/": Case(lambda r: f"/imports/{r['import'].pk}/"),
    "imports/<int:pk>/undo/": Case(lambda r: f"/imports/{r['import'].pk}/undo/", own=("post", 302)),
    "exports/<int:pk>/download/": Case(lambda r: f"/exports/{r['export'].pk}/download/"),
    "tasks/<int:pk>/": Case(lambda r: f"/tasks/{r['task'].pk}/"),
    "tasks/<int:pk>/edit/": Case(lambda r: f"/tasks/{r['task'].pk}/edit/"),
    "tasks/<int:pk>/complete/": Case(lambda r: f"/tasks/{r['task'].pk}/complete/", own=("post", 302)),
    "tasks/<int:pk>/delete/": Case(lambda r: f"/tasks/{r['task'].pk}/delete/"),
    "tasks/<int:pk>/email/": Case(lambda r: f"/tasks/{r['task'].pk}/email/", own=("post", 302)),
    "notifications/<int:pk>/": Case(lambda r: f"/notifications/{r['notification'].pk}/", own=("get", 302)),
    "notifications/<int:pk>/read/": Case(lambda r: f"/notifications/{r['notification'].pk}/read/", own=("post", 302)),
    # the API
    "api/reports/<int:pk>/": Case(lambda r: f"/api/reports/{r['report'].pk}/"),
    "api/reports/<int:pk>/download/": Case(lambda r: f"/api/reports/{r['report'].pk}/download/"),
    "api/reports/<int:pk>/cancel/": Case(lambda r: f"/api/reports/{r['waiting_report'].pk}/cancel/", own=("post", 200)),
    "api/imports/<int:pk>/": Case(lambda r: f"/api/imports/{r['import'].pk}/"),
    "api/exports/<int:pk>/": Case(lambda r: f"/api/exports/{r['export'].pk}/"),
    "api/exports/<int:pk>/download/": Case(lambda r: f"/api/exports/{r['export'].pk}/download/"),
    "api/jobs/<str:job_id>/": Case(lambda r: f"/api/jobs/{r['failed_job'].pk}/"),
    "api/jobs/<str:job_id>/cancel/": Case(lambda r: f"/api/jobs/{r['later_job'].pk}/cancel/", own=("post", 200)),
    r"api/^tasks/(?P<pk>[^/.]+)/$": Case(lambda r: f"/api/tasks/{r['task'].pk}/"),
    r"api/^tasks/(?P<pk>[^/.]+)\.(?P<format>[a-z0-9]+)/?$": Case(lambda r: f"/api/tasks/{r['task'].pk}.json"),
    r"api/^tasks/(?P<pk>[^/.]+)/complete/$": Case(lambda r: f"/api/tasks/{r['task'].pk}/complete/", own=("post", 200)),
    r"api/^tasks/(?P<pk>[^/.]+)/complete\.(?P<format>[a-z0-9]+)/?$": Case(
        lambda r: f"/api/tasks/{r['task'].pk}/complete.json", own=("post", 200)
    ),
    r"api/^tasks/(?P<pk>[^/.]+)/email/$": Case(lambda r: f"/api/tasks/{r['task'].pk}/email/", own=("post", 202)),
    r"api/^tasks/(?P<pk>[^/.]+)/email\.(?P<format>[a-z0-9]+)/?$": Case(
        lambda r: f"/api/tasks/{r['task'].pk}/email.json", own=("post", 202)
    ),
    r"api/^notifications/(?P<pk>[^/.]+)/$": Case(lambda r: f"/api/notifications/{r['notification'].pk}/"),
    r"api/^notifications/(?P<pk>[^/.]+)\.(?P<format>[a-z0-9]+)/?$": Case(
        lambda r: f"/api/notifications/{r['notification'].pk}.json"
    ),
    r"api/^notifications/(?P<pk>[^/.]+)/read/$": Case(
        lambda r: f"/api/notifications/{r['notification'].pk}/read/", own=("post", 200)
    ),
    r"api/^notifications/(?P<pk>[^/.]+)/read\.(?P<format>[a-z0-9]+)/?$": Case(
        lambda r: f"/api/notifications/{r['notification'].pk}/read.json", own=("post", 200)
    ),
}

METHODS = ["get", "post", "put", "patch", "delete"]
# What a taker would write, were the request let through.
FORM = {"title": "Taken over", "status": "done", "priority": "high", "action": "pause", "name": "x"}


def _call(client: Client, method: str, url: str):
    if method == "get":
        response = client.get(url)
    elif url.startswith("/api/"):
        response = getattr(client, method)(url, json.dumps(FORM), content_type="application/json")
    elif method == "post":
        response = client.post(url, FORM)
    else:
        response = getattr(client, method)(url, json.dumps(FORM), content_type="application/json")
    # A download is read to its end, which closes its file through the test client's wrapper:
    # response.close() would send request_finished and close the test's PostgreSQL connection.
    if response.streaming:
        b"".join(response.streaming_content)
    return response


@pytest.fixture
def alices(alice):
    """One of each row of alice's an id-taking URL names, and the links mailed to her."""
    task = make_task(alice, title="Alice's plan")
    built = reports.report_request(owner=alice, format="csv")
    reports.report_build(built.pk)
    export = WorkspaceExport.objects.create(owner=alice, status=WorkspaceExport.Status.SUCCEEDED)
    export.file.save("export.zip", ContentFile(b"PK"))
    with enqueueing(alice.pk):
        failed, later = divide(1, 0), divide.schedule(args=(1, 1), delay=600)
    links = []
    accounts.email_change_mail(alice, "alice@new.example", lambda pk, token: links.append((pk, token)) or "")
    bob = make_user("bob")
    forged_undo = signing.dumps(
        [alice.pk, "bob@example.com", alice.email], salt=accounts.EMAIL_UNDO_SALT, key="not-the-secret-key"
    )
    return {
        "alice": alice,
        "bob": bob,
        "task": task,
        "notification": Notification.objects.create(
            user=alice, kind="task_assigned", message="For alice", data={"task_id": task.pk}
        ),
        "report": built,
        "waiting_report": reports.report_request(owner=alice, format="csv"),
        "import": imports.import_create(owner=alice, uploaded=SimpleUploadedFile("t.csv", b"title\na\n")),
        "export": export,
        "failed_job": JobRun.objects.get(pk=failed.id),
        "later_job": JobRun.objects.get(pk=later.id),
        "token": accounts.token_create(alice, "alice's script")[0],
        "email_confirm_link": "/account/email/confirm/{}/{}/".format(*links[0]),
        "alice_uid": urlsafe_base64_encode(force_bytes(alice.pk)),
        "alices_reset_token": default_token_generator.make_token(alice),
        "bobs_reset_token": default_token_generator.make_token(bob),
        "alices_undo_token": accounts.email_undo_token(alice, "alice@old.example"),
        "forged_undo_token": forged_undo,
    }


def test_every_id_taking_url_has_a_case_in_the_table():
    """A new URL that takes an id fails here, by its route, until it has its case in ROUTES."""
    enumerated = id_taking_routes()
    assert {"tasks/<int:pk>/", r"api/^tasks/(?P<pk>[^/.]+)/$", "ops/jobs/<str:job_id>/"} <= enumerated
    assert not enumerated - ROUTES.keys(), (
        f"id-taking URLs without a case in ROUTES: {sorted(enumerated - ROUTES.keys())}"
    )
    assert not ROUTES.keys() - enumerated, f"cases of URLs that are gone: {sorted(ROUTES.keys() - enumerated)}"


@pytest.mark.parametrize(
    "route",
    sorted(ROUTES),
)
def test_an_id_taking_url_refuses_another_person_and_staff_without_permissions(route, alices):
    """As bob, as a staff user without permissions and logged out, with every method: refused
    (never a 200, a redirect to a success or a 500) and the database as it was."""
    case, rows = ROUTES[route], alices
    url = case.url(rows)
    callers = {"bob": _logged_in(rows["bob"]), "clerk": _logged_in(make_staff("clerk")), "anonymous": Client()}
    before = _database()
    for who, client in callers.items():
        for method in METHODS:
            response = _call(client, method, url)
            where = f"{method.upper()} {url} as {who}"
            assert case.refuses(who, response), f"{where}: {response.status_code} {response.get('Location', '')}"
            assert _database() == before, f"{where} changed the database"

    if case.owner == "anonymous":
        owner = Client()
    else:
        owner = _logged_in(rows["alice"] if case.owner == "alice" else make_user("root", staff=True))
    method, status = case.own
    own_url = (case.own_url or case.url)(rows)
    assert _call(owner, method, own_url).status_code == status, f"{method.upper()} {own_url} as {case.owner}"


# -- 2. Forged forwarding headers do not escape the login lockout ---------------------------------


def _log_in(client: Client, username: str, password: str, **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, **headers)


FORGED = {
    "x-forwarded-for": lambda n: {"HTTP_X_FORWARDED_FOR": f"203.0.113.{n}"},
    "x-real-ip": lambda n: {"HTTP_X_REAL_IP": f"203.0.113.{n}"},
    "both, a list": lambda n: {"HTTP_X_FORWARDED_FOR": f"10.0.{n}.1, 203.0.113.{n}", "HTTP_X_REAL_IP": f"192.0.2.{n}"},
}


class TestForgedClientAddresses:
    @pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
    def test_off_the_proxy_a_new_forged_address_each_guess_still_locks_out(self, client, alice, settings, forged):
        assert not getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
        limit = settings.AXES_FAILURE_LIMIT
        codes = [_log_in(client, "alice", "wrong", **forged(n)).status_code for n in range(limit)]
        assert codes == [200] * (limit - 1) + [429]
        assert _log_in(client, "alice", PASSWORD, **forged(99)).status_code == 429
        assert _log_in(Client(), "alice", PASSWORD, **forged(98)).status_code == 429  # a new session, the same client

    @pytest.mark.parametrize("forged", FORGED.values(), ids=FORGED.keys())
    def test_off_the_proxy_spraying_with_forged_addresses_still_locks_the_client_out(self, client, settings, forged):
        settings.LOGIN_CLIENT_FAILURE_LIMIT = 6
        make_user("mine")
        for n in range(3):
            make_user(f"other{n}")
            for attempt in range(2):
                _log_in(client, f"other{n}", "wrong", **forged(10 * n + attempt))
        assert _log_in(client, "mine", PASSWORD, **forged(99)).status_code == 429

    def test_behind_the_proxy_only_the_right_most_entry_counts(self, client, alice, settings):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

        def via_proxy(claimed: str, real: str = "198.51.100.7") -> dict:
            return {"HTTP_X_FORWARDED_FOR": f"{claimed}, {real}", "HTTP_X_REAL_IP": claimed}

        limit = settings.AXES_FAILURE_LIMIT
        codes = [_log_in(client, "alice", "wrong", **via_proxy(f"203.0.113.{n}")).status_code for n in range(limit)]
        assert codes == [200] * (limit - 1) + [429]
        assert _log_in(client, "alice", PASSWORD, **via_proxy("203.0.113.99")).status_code == 429
        assert _log_in(client, "alice", PASSWORD, **via_proxy("198.51.100.7")).status_code == 429
        assert _log_in(Client(), "alice", PASSWORD, **via_proxy("198.51.100.7", real="198.51.100.8")).status_code == 302

    @pytest.mark.parametrize(
        ("url", "setting"),
        [("/signup/", "SIGNUP_CLIENT_RATE"), ("/accounts/password_reset/", "PASSWORD_RESET_CLIENT_RATE")],
    )
    def test_the_client_rates_of_sign_ups_and_resets_are_not_escaped_either(self, client, settings, url, setting):
        setattr(settings, setting, "2/hour")
        codes = [
            client.post(url, {"email": f"someone{n}@example.com"}, **FORGED["both, a list"](n)).status_code
            for n in range(3)
        ]
        assert codes[-1] == 429 and 429 not in codes[:-1]


# -- 3. Address-change and sign-up links ------------------------------------------------------------


def _reload(user):
    return get_user_model().objects.get(pk=user.pk)


def _ask_for_address(client: Client, address: str, captured) -> str:
    """Ask for an address change; the link mailed to the new address."""
    with captured(execute=True):
        assert client.post("/account/email/", {"email": address, "password": PASSWORD}).status_code == 302
    return re.search(r"http://testserver(/account/email/confirm/\S+/)", mail.outbox[-1].body).group(1)


class TestLinks:
    def test_two_accounts_pending_links_do_not_work_crossed(self, alice, django_capture_on_commit_callbacks):
        """Each account's link names its own mail: a token with the other's mail id is refused."""
        bob = make_user("bob")
        alice_client, bob_client = _logged_in(alice), _logged_in(bob)
        alice_link = _ask_for_address(alice_client, "alice@new.example", django_capture_on_commit_callbacks)
        bob_link = _ask_for_address(bob_client, "bob@new.example", django_capture_on_commit_callbacks)
        (alice_mail, alice_token), (bob_mail, bob_token) = (link.split("/")[-3:-1] for link in (alice_link, bob_link))
        assert bob_client.post(f"/account/email/confirm/{bob_mail}/{alice_token}/").status_code == 400
        assert alice_client.post(f"/account/email/confirm/{alice_mail}/{bob_token}/").status_code == 400
        assert bob_client.post(alice_link).status_code == 400
        assert (_reload(alice).email, _reload(bob).email) == ("alice@example.com", "bob@example.com")
        assert bob_client.post(bob_link).status_code == 302  # each one's own still works
        assert _reload(bob).email == "bob@new.example"

    def test_an_address_change_link_does_not_work_again_once_the_change_is_undone(
        self, alice, django_capture_on_commit_callbacks
    ):
        taker = _logged_in(alice)  # with alice's session and password
        link = _ask_for_address(taker, "taker@evil.example", django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            assert taker.post(link).status_code == 302
        undo = re.search(r"http://testserver(/account/email/undo/\S+/)", mail.outbox[-1].body).group(1)
        with django_capture_on_commit_callbacks(execute=True):
            assert "Your account is yours again" in Client().post(undo).content.decode()
        assert _reload(alice).email == "alice@example.com"

        alice_again = _logged_in(_reload(alice))  # alice, after resetting her password
        response = alice_again.post(link)
        assert response.status_code == 400
        assert _reload(alice).email == "alice@example.com"
        assert "Waiting for confirmation" not in alice_again.get("/account/").content.decode()

    @pytest.mark.parametrize("how", ["made in the admin", "taken by an address change"])
    def test_a_sign_up_link_stops_working_once_its_address_has_an_account_made_any_way(
        self, client, alice, how, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/signup/", {"email": "carol@example.com"})
        link = re.search(r"http://testserver(/signup/verify/\S+/)", mail.outbox[-1].body).group(1)
        assert client.get(link).status_code == 200
        if how == "made in the admin":
            make_user("carol-admin-made", email="Carol@Example.COM")
        else:
            alice_client = _logged_in(alice)
            alice_client.post(_ask_for_address(alice_client, "CAROL@example.com", django_capture_on_commit_callbacks))
            assert _reload(alice).email == "CAROL@example.com"
        users = get_user_model().objects.count()
        assert client.get(link).status_code == 409
        response = client.post(link, {"username": "carol", "password1": "Str0ng-pass-9", "password2": "Str0ng-pass-9"})
        assert response.status_code == 409
        assert get_user_model().objects.count() == users and "_auth_user_id" not in client.session


# -- 4. CSRF on every account form --------------------------------------------------------------


def _csrf_cases(alice) -> dict[str, tuple[str, dict, bool]]:
    """Each form: its URL, a valid filling, and whether it is for a logged-in person."""
    token = accounts.token_create(alice, "kept")[0]
    new = "An0ther-long-pass"
    return {
        "name": ("/account/name/", {"first_name": "Changed", "last_name": "Name"}, True),
        "email": ("/account/email/", {"email": "alice@new.example", "password": PASSWORD}, True),
        "token create": ("/account/tokens/", {"name": "sneaky", "password": PASSWORD}, True),
        "token revoke": (f"/account/tokens/{token.pk}/revoke/", {}, True),
        "password change": (
            "/accounts/password_change/",
            {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
            True,
        ),
        "sign-up": ("/signup/", {"email": "carol@example.com"}, False),
        "password reset": ("/accounts/password_reset/", {"email": "alice@example.com"}, False),
        "login": ("/accounts/login/", {"username": "alice", "password": PASSWORD}, False),
    }


CSRF_FORMS = ["name", "email", "token create", "token revoke", "password change", "sign-up", "password reset", "login"]


@pytest.mark.parametrize("form", CSRF_FORMS)
def test_an_account_form_posted_without_its_csrf_token_is_403_and_changes_nothing(
    alice, form, django_capture_on_commit_callbacks
):
    url, data, logged_in = _csrf_cases(alice)[form]
    client = _logged_in(alice, enforce_csrf_checks=True) if logged_in else Client(enforce_csrf_checks=True)
    page = "/account/" if logged_in else "/accounts/login/"
    other = Client()  # another browser (bob's, for the forms of a logged-in person): its token is no good here
    if logged_in:
        other.force_login(make_user("bob"))
    other.get(page)
    before = _database()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, data).status_code == 403  # no cookie, no token
        client.get(page)  # now the cookie
        assert client.post(url, data).status_code == 403  # the cookie, no token
        assert client.post(url, {**data, "csrfmiddlewaretoken": other.cookies["csrftoken"].value}).status_code == 403
    assert _database() == before
    assert not mail.outbox
    # the filling is good: with its own token, the form goes through
    response = client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code in {200, 302}


# -- 5. What people type is escaped on every page that shows it ---------------------------------

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'


class _Page(HTMLParser):
    """The page as a browser reads it: its text and attribute values, and anything that would run."""

    def __init__(self, body: str):
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.would_run: list[str] = []
        self._script = False
        self.feed(body)

    def handle_starttag(self, tag, attrs):
        self._script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") and "alert" in (value or ""):
                self.would_run.append(f"<{tag} {name}={value!r}>")
            self.shown.append(value or "")

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script and "alert(1)" in data:
            self.would_run.append(f"<script>{data}")
        self.shown.append(data)


def _escaped(response, *typed: str) -> None:
    """Each of `typed` is on the page as text, and nothing of it would run."""
    assert response.status_code == 200
    body = response.content.decode()
    assert SCRIPT not in body and "<img src=x onerror=alert(1)>" not in body
    page = _Page(body)
    assert not page.would_run
    shown = "\n".join(page.shown)
    for text in typed:
        assert text in shown, f"{text!r} is not on the page"


class TestEscaping:
    @pytest.fixture
    def typed(self, alice, django_capture_on_commit_callbacks):
        """bob, named with both payloads, gives alice a task titled with both; alice is named so too
        and has a token named so."""
        bob = make_user("bob")
        for person in [alice, bob]:
            person.first_name, person.last_name = SCRIPT, BREAKOUT
            person.save()
        title = f"{SCRIPT} {BREAKOUT}"
        with django_capture_on_commit_callbacks(execute=True):
            created = _logged_in(bob).post(
                "/tasks/new/", {"title": title, "owner": alice.pk, "status": "todo", "priority": "high"}, follow=True
            )
        _escaped(created, f"Created “{title}”.")  # the message on the next page
        accounts.token_create(alice, title)
        return {"task": Task.objects.get(title=title), "title": title, "bob": bob}

    def test_a_title_on_the_task_list_its_page_its_form_and_its_delete_page(self, alice, typed):
        client, pk = _logged_in(alice), typed["task"].pk
        for url in ["/", f"/tasks/{pk}/", f"/tasks/{pk}/edit/", f"/tasks/{pk}/delete/"]:
            _escaped(client.get(url), typed["title"])

    @pytest.mark.parametrize("query", [SCRIPT, BREAKOUT])
    def test_a_search_query_echoed_in_the_search_box_and_the_sort_links(self, alice, typed, query):
        response = _logged_in(alice).get(f"/?q={quote(query)}")
        _escaped(response, query)
        assert re.search(r'<input type="search" name="q" value="([^"]*)"', response.content.decode()).group(1) == (
            query.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        )

    def test_names_and_token_names_on_the_account_page(self, alice, typed):
        _escaped(_logged_in(alice).get("/account/"), SCRIPT, BREAKOUT, typed["title"])

    def test_the_givers_name_and_the_title_in_notifications(self, alice, typed):
        notice = Notification.objects.get(user=alice)
        assert SCRIPT in notice.message and typed["title"] in notice.message  # the page below has it to escape
        _escaped(_logged_in(alice).get("/notifications/"), notice.message)

    def test_a_revoked_token_s_name_in_the_message(self, alice, typed):
        token = alice.personal_tokens.get(name=typed["title"])
        response = _logged_in(alice).post(f"/account/tokens/{token.pk}/revoke/", follow=True)
        _escaped(response, f"Revoked the token “{typed['title']}”")

    @pytest.mark.parametrize("url", ["/api/tasks/{pk}/", "/api/tasks/?search={query}", "/api/notifications/"])
    def test_the_browsable_api_escapes_them_too(self, alice, typed, url):
        url = url.format(pk=typed["task"].pk, query=quote(BREAKOUT))
        _escaped(_logged_in(alice).get(url, HTTP_ACCEPT="text/html"), BREAKOUT)


# -- 6. Junk sort and page parameters -----------------------------------------------------------

WEB_JUNK = [
    "sort=-",
    "sort=--due",
    "sort=owner__password",
    "sort=%00",
    "sort=due&sort=%27%22",
    "sort=" + "x" * 5000,
    "sort[]=due",
    "page=0",
    "page=1e3",
    "page=NaN",
    "page=inf",
    "page=%00",
    "page=%20",
    "page=1.5",
    "page=-99999999999999999999",
    "page=%EF%BC%91",  # a full-width digit one
    "page_size=abc",
    "page_size=-1",
    "page_size=99999999999999999999",
]


class TestJunkParameters:
    @pytest.mark.parametrize("query", WEB_JUNK)
    def test_the_task_list_answers_junk_with_its_default(self, alice, query):
        for title in ["First", "Second"]:
            make_task(alice, title=title)
        response = _logged_in(alice).get(f"/?{query}")
        assert response.status_code == 200
        assert [task.title for task in response.context["page"]] == ["Second", "First"]

    @pytest.mark.parametrize("query", WEB_JUNK)
    def test_the_notification_list_answers_junk_with_its_default(self, alice, query):
        Notification.objects.create(user=alice, kind="task_assigned", message="Hello")
        response = _logged_in(alice).get(f"/notifications/?{query}")
        assert response.status_code == 200 and "Hello" in response.content.decode()

    @pytest.mark.parametrize("url", ["/api/tasks/", "/api/notifications/"])
    @pytest.mark.parametrize(
        "query",
        [
            *WEB_JUNK,
            "page=%2B1",
            "page=1&page=abc",
            "page=99999999999999999999999",
            "page_size=1.5",
            "page_size=%00",
            "page_size=NaN",
            "ordering=bogus",
            "ordering=owner__password",
            "ordering=-",
            "ordering=,,",
            "ordering=%00",
            "ordering=priority,-priority,title",
            "ordering=" + "x" * 5000,
        ],
    )
    def test_the_api_answers_junk_with_its_default_or_a_4xx_that_says_why(self, api, alice, url, query):
        make_task(alice, title="Mine")
        Notification.objects.create(user=alice, kind="task_assigned", message="Hello")
        response = api.get(f"{url}?{query}")
        body = response.json()
        if response.status_code == 200:
            assert body["count"] == 1
        elif response.status_code == 404:
            assert body == {"detail": "Invalid page."}
        else:
            assert response.status_code == 400, (query, response.status_code, body)
            (name,) = body  # the parameter, and why
            assert name in query and body[name] and all(isinstance(why, str) for why in body[name])
