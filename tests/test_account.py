"""The account page: name, address change confirmed by a mailed link, personal API tokens."""

import datetime
import hashlib
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks_app.models import Email, PersonalToken
from tasks_app.services import accounts, emails
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 6, 1, 9, 0, tzinfo=datetime.UTC)


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def _reload(user):
    return get_user_model().objects.get(pk=user.pk)


def _confirm_link(message) -> str:
    return re.search(r"http://testserver(/account/email/confirm/\S+/)", message.body).group(1)


def _ask_for(client, address: str, capture):
    with capture(execute=True):
        return client.post("/account/email/", {"email": address, "password": "a-long-test-password"})


class TestAccountPage:
    def test_it_needs_a_login(self, client, alice):
        assert client.get("/account/")["Location"] == "/accounts/login/?next=/account/"

    def test_every_page_links_to_it_from_the_person_s_name(self, logged_in):
        assert '<a href="/account/" title="Your account">alice</a>' in logged_in.get("/").content.decode()

    def test_it_shows_the_address_and_links_to_the_password_change(self, logged_in):
        body = logged_in.get("/account/").content.decode()
        assert "Your address is <strong>alice@example.com</strong>" in body
        assert 'href="/accounts/password_change/"' in body

    def test_the_name_is_saved(self, logged_in, alice):
        response = logged_in.post("/account/name/", {"first_name": "Alice", "last_name": "Liddell"})
        assert response["Location"] == "/account/"
        assert _reload(alice).get_full_name() == "Alice Liddell"
        assert "Your name is saved." in logged_in.get("/account/").content.decode()

    def test_a_too_long_name_is_explained(self, logged_in, alice):
        response = logged_in.post("/account/name/", {"first_name": "A" * 151, "last_name": ""})
        assert response.status_code == 200
        assert "Ensure this value has at most 150 characters" in response.content.decode()
        assert _reload(alice).first_name == ""


class TestEmailChange:
    def test_the_new_address_is_saved_only_once_the_link_mailed_to_it_is_opened(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        response = _ask_for(logged_in, "alice@new.example", django_capture_on_commit_callbacks)
        assert response["Location"] == "/account/"
        assert mail.outbox[0].to == ["alice@new.example"]
        assert _reload(alice).email == "alice@example.com"
        assert (
            "Waiting for confirmation of <strong>alice@new.example</strong>"
            in logged_in.get("/account/").content.decode()
        )

        link = _confirm_link(mail.outbox[0])
        assert link not in Email.objects.get(to="alice@new.example").body  # the one-time link is not kept
        assert "Confirm the address" in logged_in.get(link).content.decode()  # a link checker's GET changes nothing
        assert _reload(alice).email == "alice@example.com"
        assert logged_in.post(link)["Location"] == "/account/"
        assert _reload(alice).email == "alice@new.example"
        page = logged_in.get("/account/").content.decode()
        assert "Your address is <strong>alice@new.example</strong>" in page and "Waiting for" not in page

        assert logged_in.post(link).status_code == 400  # once only
        assert logged_in.get(link).status_code == 400

    def test_an_address_of_another_account_is_refused_whatever_its_case(
        self, logged_in, django_capture_on_commit_callbacks
    ):
        make_user("bob")
        response = _ask_for(logged_in, "BOB@Example.com", django_capture_on_commit_callbacks)
        assert response.status_code == 200
        assert "Another account has this address." in response.content.decode()
        assert not mail.outbox

    def test_its_own_address_is_refused_whatever_its_case(self, logged_in, django_capture_on_commit_callbacks):
        response = _ask_for(logged_in, "ALICE@example.com", django_capture_on_commit_callbacks)
        assert "That is already your address." in response.content.decode()
        assert not mail.outbox

    def test_a_malformed_address_is_explained(self, logged_in, django_capture_on_commit_callbacks):
        response = _ask_for(logged_in, "not an address", django_capture_on_commit_callbacks)
        assert "Enter a valid email address." in response.content.decode()
        assert not mail.outbox

    def test_a_wrong_password_is_refused_and_counts_toward_the_lockout(self, logged_in, settings):
        settings.AXES_FAILURE_LIMIT = 2
        guesses = [logged_in.post("/account/email/", {"email": "new@example.com", "password": "guess"}) for _ in "12"]
        assert "That is not your password." in guesses[0].content.decode()
        assert guesses[1].status_code == 429  # the second failure locks out, as on the login page
        locked = logged_in.post("/account/email/", {"email": "new@example.com", "password": "a-long-test-password"})
        assert locked.status_code == 429  # even the right password waits now
        assert not mail.outbox

    def test_an_account_without_an_address_gets_one(self, client, django_capture_on_commit_callbacks):
        dora = make_user("dora", email="")
        client.force_login(dora)
        assert "You have no email address on your account yet." in client.get("/account/").content.decode()
        _ask_for(client, "dora@example.com", django_capture_on_commit_callbacks)
        client.post(_confirm_link(mail.outbox[0]))
        assert _reload(dora).email == "dora@example.com"

    def test_a_forged_or_mangled_link_is_refused(self, logged_in, alice, django_capture_on_commit_callbacks):
        _ask_for(logged_in, "alice@new.example", django_capture_on_commit_callbacks)
        link = _confirm_link(mail.outbox[0])
        mail_id = Email.objects.get(to="alice@new.example").pk
        for bad in [
            link[:-3] + "xx/",
            f"/account/email/confirm/{mail_id + 1}/{link.split('/')[-2]}/",
            "/account/email/confirm/1/!!/",
        ]:
            assert logged_in.post(bad).status_code == 400
        assert _reload(alice).email == "alice@example.com"

    def test_an_expired_link_is_refused(self, logged_in, alice, settings, django_capture_on_commit_callbacks):
        with time_machine.travel(NOW, tick=False) as clock:
            _ask_for(logged_in, "alice@new.example", django_capture_on_commit_callbacks)
            clock.shift(datetime.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1))
            assert "Waiting for" not in logged_in.get("/account/").content.decode()
            response = logged_in.post(_confirm_link(mail.outbox[0]))
        assert response.status_code == 400 and "This link does not work" in response.content.decode()
        assert _reload(alice).email == "alice@example.com"

    def test_a_newer_request_replaces_the_link_of_the_one_before(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        _ask_for(logged_in, "first@new.example", django_capture_on_commit_callbacks)
        _ask_for(logged_in, "second@new.example", django_capture_on_commit_callbacks)
        assert (
            "Waiting for confirmation of <strong>second@new.example</strong>"
            in logged_in.get("/account/").content.decode()
        )
        assert logged_in.post(_confirm_link(mail.outbox[0])).status_code == 400
        assert logged_in.post(_confirm_link(mail.outbox[1])).status_code == 302
        assert _reload(alice).email == "second@new.example"

    def test_the_link_works_only_for_the_account_that_asked(self, client, alice, django_capture_on_commit_callbacks):
        client.force_login(alice)
        _ask_for(client, "alice@new.example", django_capture_on_commit_callbacks)
        link = _confirm_link(mail.outbox[0])
        client.logout()
        assert client.post(link)["Location"].startswith("/accounts/login/?next=")
        client.force_login(make_user("bob"))
        assert client.post(link).status_code == 400
        assert _reload(alice).email == "alice@example.com"

    def test_an_address_another_account_took_meanwhile_is_not_given(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        _ask_for(logged_in, "shared@new.example", django_capture_on_commit_callbacks)
        make_user("bob", email="Shared@new.example")
        response = logged_in.post(_confirm_link(mail.outbox[0]))
        assert response.status_code == 409 and "Another account took this address" in response.content.decode()
        assert _reload(alice).email == "alice@example.com"

    def test_past_the_mail_rate_no_link_is_sent(self, logged_in, settings, django_capture_on_commit_callbacks):
        settings.MAIL_SENDER_RATE = "1/hour"
        _ask_for(logged_in, "one@new.example", django_capture_on_commit_callbacks)
        response = _ask_for(logged_in, "two@new.example", django_capture_on_commit_callbacks)
        assert response.status_code == 429
        assert "Your account has sent too many mails lately" in response.content.decode()
        assert [message.to for message in mail.outbox] == [["one@new.example"]]

    def test_the_sent_mail_keeps_no_link(self, logged_in, django_capture_on_commit_callbacks):
        _ask_for(logged_in, "alice@new.example", django_capture_on_commit_callbacks)
        assert Email.objects.get(to="alice@new.example").body == emails.BODY_NOT_KEPT


def _create_token(client, name: str = "backup script", password: str = "a-long-test-password"):
    return client.post("/account/tokens/", {"name": name, "password": password}, follow=True)


def _secret(response) -> str:
    return re.search(r'<code id="new-token-secret">(\S+)</code>', response.content.decode()).group(1)


def _api(secret: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {secret}")


class TestPersonalTokens:
    def test_a_new_token_is_shown_once_and_kept_only_as_a_hash(self, logged_in, alice):
        response = _create_token(logged_in)
        secret = _secret(response)
        assert "no-store" in response["Cache-Control"]
        token = PersonalToken.objects.get(user=alice)
        assert token.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert len(secret) > 40 and secret.startswith(token.prefix)
        page = logged_in.get("/account/").content.decode()
        assert secret not in page
        assert "backup script" in page and f"{token.prefix}…" in page and "never" in page

    def test_making_one_asks_for_the_password_and_a_wrong_one_counts_toward_the_lockout(self, logged_in, settings):
        settings.AXES_FAILURE_LIMIT = 2
        guesses = [_create_token(logged_in, password="guess") for _ in "12"]
        assert "That is not your password." in guesses[0].content.decode()
        assert not PersonalToken.objects.exists()
        assert _create_token(logged_in).status_code == 429  # locked out: even the right password waits
        assert not PersonalToken.objects.exists()

    def test_it_redirects_so_a_reload_makes_no_second_token_and_names_are_unique(self, logged_in, alice):
        response = _create_token(logged_in)
        assert response.redirect_chain == [("/account/", 302)]
        assert 'data-copy="#new-token-secret"' in response.content.decode()
        assert logged_in.get("/account/").status_code == 200  # the reload
        assert PersonalToken.objects.filter(user=alice).count() == 1
        again = _create_token(logged_in, " Backup Script ")
        assert "You already have a token named “Backup Script”" in again.content.decode()
        assert PersonalToken.objects.filter(user=alice).count() == 1

    def test_a_token_needs_a_name(self, logged_in, alice):
        response = _create_token(logged_in, "  ")
        assert "This field is required." in response.content.decode()
        assert not PersonalToken.objects.exists()

    def test_a_person_has_at_most_twenty(self, logged_in, alice):
        for n in range(accounts.TOKENS_PER_PERSON):
            accounts.token_create(alice, f"token {n}")
        response = _create_token(logged_in, "one more")
        assert (
            "You already have 20 tokens, the most one person may have: revoke one first." in response.content.decode()
        )
        assert PersonalToken.objects.filter(user=alice).count() == 20
        bob = Client()
        bob.force_login(make_user("bob"))
        assert _secret(_create_token(bob))  # a cap per person

    def test_the_api_takes_one_and_writes_its_last_use_at_most_once_a_minute(self, logged_in, alice):
        api = _api(_secret(_create_token(logged_in)))
        with time_machine.travel(NOW, tick=False) as clock:
            assert api.get("/api/me/").json()["username"] == "alice"
            assert PersonalToken.objects.get().last_used_at == NOW
            clock.shift(datetime.timedelta(seconds=59))
            with CaptureQueriesContext(connection) as queries:
                assert api.get("/api/me/").status_code == 200
            assert not [q for q in queries if q["sql"].startswith("UPDATE") and "personaltoken" in q["sql"]]
            clock.shift(datetime.timedelta(seconds=1))
            api.get("/api/me/")
            assert PersonalToken.objects.get().last_used_at == NOW + datetime.timedelta(minutes=1)
        assert "ago" in logged_in.get("/account/").content.decode()

    def test_a_revoked_token_gets_401_at_once(self, logged_in):
        api = _api(_secret(_create_token(logged_in)))
        assert api.get("/api/tasks/").status_code == 200
        response = logged_in.post(f"/account/tokens/{PersonalToken.objects.get().pk}/revoke/")
        assert response["Location"] == "/account/"
        assert not PersonalToken.objects.exists()
        assert api.get("/api/tasks/").status_code == 401

    def test_someone_else_s_token_is_404_on_revoke(self, logged_in):
        bobs, _ = accounts.token_create(make_user("bob"), "bob's")
        assert logged_in.post(f"/account/tokens/{bobs.pk}/revoke/").status_code == 404
        assert logged_in.get(f"/account/tokens/{bobs.pk}/revoke/").status_code == 405
        assert PersonalToken.objects.filter(pk=bobs.pk).exists()

    def test_an_unknown_token_or_an_inactive_owner_s_gets_401(self, alice):
        _, secret = accounts.token_create(alice, "script")
        assert _api(accounts.TOKEN_PREFIX + "not-a-token").get("/api/tasks/").status_code == 401
        alice.is_active = False
        alice.save()
        response = _api(secret).get("/api/tasks/")
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"

    def test_drf_s_own_tokens_still_work(self, alice):
        assert _api(Token.objects.create(user=alice).key).get("/api/me/").json()["username"] == "alice"

    def test_the_throttle_counts_calls_with_either_kind_of_token_in_one_budget(self, settings, alice):
        settings.API_TOKEN_RATE = "3/minute"
        personal = _api(accounts.token_create(alice, "script")[1])
        drf = _api(Token.objects.create(user=alice).key)
        assert [personal.get("/api/tasks/").status_code for _ in range(2)] == [200, 200]
        assert drf.get("/api/tasks/").status_code == 200
        response = personal.get("/api/tasks/")
        assert response.status_code == 429 and int(response["Retry-After"]) > 0

    def test_the_admin_lists_them_read_only(self, client):
        admin = make_user("root", staff=True)
        accounts.token_create(admin, "deploy")
        client.force_login(admin)
        assert "deploy" in client.get("/admin/tasks_app/personaltoken/").content.decode()
        assert client.get("/admin/tasks_app/personaltoken/add/").status_code == 403


class TestWhatAPasswordChangeRevokes:
    """A token made with a stolen session must not outlive the password (issue 29)."""

    def _tokens(self, logged_in, alice) -> tuple[str, str]:
        personal = _secret(_create_token(logged_in))
        admin_made = Token.objects.create(user=alice).key
        assert _api(personal).get("/api/me/").status_code == 200
        return personal, admin_made

    def test_a_change_revokes_every_token_and_mails_the_person(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        tokens = self._tokens(logged_in, alice)
        new = "An0ther-long-pass"
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in.post(
                "/accounts/password_change/",
                {"old_password": "a-long-test-password", "new_password1": new, "new_password2": new},
            )
        assert response.status_code == 302
        assert [_api(token).get("/api/me/").status_code for token in tokens] == [401, 401]
        assert not PersonalToken.objects.exists() and not Token.objects.exists()
        note = mail.outbox[-1]
        assert note.to == ["alice@example.com"] and note.subject == "Your password for the task tracker was changed"
        assert "(2) no longer work" in note.body and "/accounts/password_reset/" in note.body

    def test_a_reset_revokes_every_token_and_mails_the_person(
        self, logged_in, alice, django_capture_on_commit_callbacks
    ):
        tokens = self._tokens(logged_in, alice)
        client = Client()
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/accounts/password_reset/", {"email": "alice@example.com"})
        link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[-1].body).group(1)
        form = client.get(link, follow=True)
        new = "An0ther-long-pass"
        with django_capture_on_commit_callbacks(execute=True):
            done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
        assert done.status_code == 302
        assert [_api(token).get("/api/me/").status_code for token in tokens] == [401, 401]
        assert mail.outbox[-1].subject == "Your password for the task tracker was changed"

    def test_a_password_set_in_the_admin_revokes_them_too(self, alice, django_capture_on_commit_callbacks):
        tokens = (accounts.token_create(alice, "script")[1], Token.objects.create(user=alice).key)
        admin = Client()
        admin.force_login(make_user("root", staff=True))
        new = "An0ther-long-pass"
        with django_capture_on_commit_callbacks(execute=True):
            response = admin.post(
                f"/admin/auth/user/{alice.pk}/password/",
                {"password1": new, "password2": new, "usable_password": "true"},
            )
        assert response.status_code == 302
        assert [_api(token).get("/api/me/").status_code for token in tokens] == [401, 401]


class TestTheOldAddressIsTold:
    def _change(self, logged_in, captured) -> None:
        _ask_for(logged_in, "alice@new.example", captured)
        with captured(execute=True):
            logged_in.post(_confirm_link(mail.outbox[-1]))

    def test_a_change_mails_the_old_address_with_a_way_back(self, logged_in, alice, django_capture_on_commit_callbacks):
        self._change(logged_in, django_capture_on_commit_callbacks)
        note = mail.outbox[-1]
        assert note.to == ["alice@example.com"] and "alice@new.example" in note.body
        assert re.search(r"http://testserver/account/email/undo/\S+/", note.body)

    def test_this_was_not_me_takes_the_account_back(self, logged_in, alice, django_capture_on_commit_callbacks):
        token = _secret(_create_token(logged_in))
        self._change(logged_in, django_capture_on_commit_callbacks)
        undo = re.search(r"http://testserver(/account/email/undo/\S+/)", mail.outbox[-1].body).group(1)
        owner = Client()  # the mailbox's owner, not logged in
        assert "Take the account back" in owner.get(undo).content.decode()  # a link checker's GET changes nothing
        assert _reload(alice).email == "alice@new.example"
        with django_capture_on_commit_callbacks(execute=True):
            assert "Your account is yours again" in owner.post(undo).content.decode()
        alice = _reload(alice)
        assert alice.email == "alice@example.com"
        assert not alice.check_password("a-long-test-password")  # whoever changed it knew this one
        assert logged_in.get("/account/").status_code == 302  # their session has ended
        assert _api(token).get("/api/me/").status_code == 401
        reset = mail.outbox[-1]
        assert reset.to == ["alice@example.com"] and "/accounts/reset/" in reset.body
        assert owner.post(undo).status_code == 400  # once only
