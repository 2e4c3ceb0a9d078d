"""Sign-up: the link mailed to an address makes the account, with the username and password
chosen by whoever opens it. The takeover of the security review (issue 29) is the first test."""

import importlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from tasks_app.models import Email
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Str0ng-pass-9"


def _sign_up(client, email: str, captured) -> object:
    with captured(execute=True):
        return client.post("/signup/", {"email": email})


def _link(message) -> str:
    return re.search(r"http://testserver(/signup/verify/\S+/)", message.body).group(1)


def _create(client, link: str, username: str, password: str, captured):
    with captured(execute=True):
        return client.post(link, {"username": username, "password1": password, "password2": password})


def _user(username: str):
    return get_user_model().objects.filter(username=username).first()


class TestSignUp:
    def test_someone_else_signing_up_with_your_address_never_gets_an_account_you_open(
        self, django_capture_on_commit_callbacks
    ):
        """The review's takeover: mallory signs up with carol's address, then carol signs up.
        Whichever link carol opens, the account's only password is the one she chooses there."""
        mallory, carol = Client(), Client()
        _sign_up(mallory, "carol@example.com", django_capture_on_commit_callbacks)
        assert not get_user_model().objects.filter(email__iexact="carol@example.com").exists()  # nothing waits
        _sign_up(carol, "carol@example.com", django_capture_on_commit_callbacks)
        assert [m.to for m in mail.outbox] == [["carol@example.com"], ["carol@example.com"]]

        # carol opens the first mail, the one mallory's sign-up sent: she chooses everything
        assert (
            _create(carol, _link(mail.outbox[0]), "carol", PASSWORD, django_capture_on_commit_callbacks)["Location"]
            == "/"
        )
        account = get_user_model().objects.get(email="carol@example.com")
        assert account.username == "carol" and account.is_active and account.check_password(PASSWORD)
        assert get_user_model().objects.count() == 1
        # the other link no longer makes anything
        assert Client().get(_link(mail.outbox[1])).status_code == 409

    def test_the_account_is_made_from_the_link_with_the_username_and_password_chosen_there(
        self, client, django_capture_on_commit_callbacks
    ):
        response = _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)
        assert response.status_code == 200 and "Check your mail" in response.content.decode()
        assert get_user_model().objects.count() == 0
        link = _link(mail.outbox[0])
        assert link not in Email.objects.get(kind=Email.Kind.SIGNUP).body  # the link is not kept once sent
        page = client.get(link).content.decode()  # a link checker's GET makes nothing
        assert "Create your account" in page and "carol@example.com" in page
        assert get_user_model().objects.count() == 0

        assert _create(client, link, "carol", PASSWORD, django_capture_on_commit_callbacks)["Location"] == "/"
        assert client.get("/").status_code == 200
        assert mail.outbox[1].subject == "Welcome to the task tracker, carol"
        client.logout()
        assert client.login(username="carol", password=PASSWORD)
        client.logout()
        assert client.get(link).status_code == 409  # once only: the address has its account
        assert _create(client, link, "carol2", PASSWORD, django_capture_on_commit_callbacks).status_code == 409
        assert not _user("carol2")

    def test_the_page_the_link_opens_explains_a_weak_password_and_a_taken_username(
        self, client, alice, django_capture_on_commit_callbacks
    ):
        _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)
        link = _link(mail.outbox[0])
        body = _create(client, link, "carol", "123", django_capture_on_commit_callbacks).content.decode()
        assert "This password is too short" in body
        body = _create(client, link, "alice", PASSWORD, django_capture_on_commit_callbacks).content.decode()
        assert "A user with that username already exists." in body
        assert get_user_model().objects.count() == 1  # alice only

    def test_a_forged_mangled_or_expired_link_is_refused(self, client, settings, django_capture_on_commit_callbacks):
        _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)
        link = _link(mail.outbox[0])
        for bad in [link[:-4] + "xx/", "/signup/verify/abc-123/", "/signup/verify/!!/"]:
            assert client.post(bad, {"username": "carol"}).status_code == 400
        settings.PASSWORD_RESET_TIMEOUT = -1  # every link has expired
        assert client.get(link).status_code == 400
        assert get_user_model().objects.count() == 0

    def test_an_address_with_an_account_gets_one_note_an_hour_and_the_same_page(
        self, client, alice, django_capture_on_commit_callbacks
    ):
        for _ in range(3):
            response = _sign_up(client, "ALICE@example.com", django_capture_on_commit_callbacks)
            assert response.status_code == 200 and "Check your mail" in response.content.decode()
        assert len(mail.outbox) == 1
        assert mail.outbox[0].subject == "You already have a task tracker account"
        assert "/accounts/password_reset/" in mail.outbox[0].body
        assert get_user_model().objects.count() == 1

    def test_sign_ups_past_the_address_s_or_the_client_s_rate_get_429_with_retry_after(
        self, client, settings, django_capture_on_commit_callbacks
    ):
        settings.SIGNUP_EMAIL_RATE, settings.SIGNUP_CLIENT_RATE = "2/hour", "4/hour"
        codes = [
            _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        refused = _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)
        assert "Too many sign-ups" in refused.content.decode() and int(refused["Retry-After"]) > 0
        assert _sign_up(client, "dan@example.com", django_capture_on_commit_callbacks).status_code == 429  # client's
        assert (
            _sign_up(Client(REMOTE_ADDR="10.0.0.9"), "erin@example.com", django_capture_on_commit_callbacks).status_code
            == 200
        )
        assert len(mail.outbox) == 3

    def test_a_flood_of_sign_ups_leaves_password_resets_their_own_mail_budget(
        self, client, alice, settings, django_capture_on_commit_callbacks
    ):
        settings.EMAIL_URGENT_RATE_LIMIT_PER_MINUTE = 3
        settings.SIGNUP_CLIENT_RATE = "100/hour"
        for n in range(6):
            _sign_up(client, f"someone{n}@example.com", django_capture_on_commit_callbacks)
        assert len(mail.outbox) == 3  # the account mails' budget is spent for this minute
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/accounts/password_reset/", {"email": "alice@example.com"})
        assert mail.outbox[-1].to == ["alice@example.com"] and "reset" in mail.outbox[-1].subject.lower()

    def test_the_sent_page_sends_the_link_again(self, client, django_capture_on_commit_callbacks):
        page = _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks).content.decode()
        assert "send the link again" in page and 'value="carol@example.com"' in page
        _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)  # what its button posts
        assert len(mail.outbox) == 2

    def test_it_explains_a_missing_address(self, client):
        response = client.post("/signup/", {"email": ""})
        assert response.status_code == 200 and "This field is required." in response.content.decode()
        assert not mail.outbox

    def test_it_is_404_when_sign_up_is_turned_off(self, client, settings):
        settings.SIGNUP_ENABLED = False
        assert client.get("/signup/").status_code == 404
        assert "Create an account" not in client.get("/accounts/login/").content.decode()


class HashRecorder(MD5PasswordHasher):
    """The tests' fast hasher, noting whether each hash ran inside a transaction."""

    inside_a_transaction: list[bool] = []

    def encode(self, password, salt):
        HashRecorder.inside_a_transaction.append(connection.in_atomic_block)
        return super().encode(password, salt)


@pytest.mark.django_db(transaction=True)
def test_no_password_is_hashed_inside_a_write_at_sign_up_or_when_the_account_is_made(
    client, settings, django_capture_on_commit_callbacks
):
    """A hash inside a transaction holds SQLite's write lock for its whole length (0.5-1 s)."""
    settings.PASSWORD_HASHERS = ["tests.test_signup.HashRecorder"]
    HashRecorder.inside_a_transaction = []
    make_user("alice")
    client.post("/signup/", {"email": "alice@example.com"})  # an address with an account
    client.post("/signup/", {"email": "carol@example.com"})
    assert HashRecorder.inside_a_transaction == [False]  # alice's own, made above; none at sign-up
    link = _link(mail.outbox[-1])
    response = client.post(link, {"username": "carol", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert HashRecorder.inside_a_transaction == [False, False]


def test_upgrading_removes_the_accounts_sign_up_made_and_no_one_confirmed(client, django_capture_on_commit_callbacks):
    """Migration 0020: the pending accounts of earlier versions (whose password their maker knew)
    go; an account an admin deactivated, or one whose address change waits, stays."""
    from django.apps import apps

    migration = importlib.import_module("tasks_app.migrations.0020_export_failed_and_unconfirmed_signups")
    users = get_user_model().objects
    pending = users.create_user("mallory", "carol@example.com", "mallorys-password", is_active=False)
    Email.objects.create(kind=Email.Kind.SIGNUP, to=pending.email, subject="Confirm", body="", user=pending)
    deactivated = make_user("dora", is_active=False, last_login=timezone.now())
    Email.objects.create(kind=Email.Kind.SIGNUP, to=deactivated.email, subject="Confirm", body="", user=deactivated)
    changing = make_user("erin", is_active=False)
    Email.objects.create(
        kind=Email.Kind.SIGNUP, to="e@new.example", subject="", body="", user=changing, dedup_key="email-change:x"
    )

    migration.remove_unconfirmed_signups(apps, None)
    assert set(users.values_list("username", flat=True)) == {"dora", "erin"}
    _sign_up(client, "carol@example.com", django_capture_on_commit_callbacks)  # the address is free again
    assert "/signup/verify/" in mail.outbox[-1].body
