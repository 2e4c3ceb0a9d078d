"""Password guessing and API abuse: login lockouts (django-axes), API token throttling, sign-up domains."""

import datetime

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tasks_app.client import client_ip
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"  # tests.factories.make_user's


def _log_in(client: Client, username: str, password: str, url: str = "/accounts/login/", **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def _fail(client: Client, username: str, times: int, url: str = "/accounts/login/", **extra) -> list[int]:
    """Log in with a wrong password `times` times; the status codes (200: the form again, 429: locked out)."""
    return [_log_in(client, username, "wrong", url, **extra).status_code for _ in range(times)]


class TestLoginLockout:
    def test_the_login_page_locks_a_user_out_after_five_failures_with_a_clear_message(self, client, alice):
        assert _fail(client, "alice", 5) == [200, 200, 200, 200, 429]
        response = _log_in(client, "alice", PASSWORD)  # even the right password, until the cool-off
        assert response.status_code == 429
        body = response.content.decode()
        assert "Too many failed logins" in body and "After 5 failed attempts" in body and "0:15:00" in body

    def test_the_lock_lifts_after_the_cool_off(self, client, alice):
        with time_machine.travel(datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
            _fail(client, "alice", 5)
            clock.shift(datetime.timedelta(minutes=16))
            assert _log_in(client, "alice", PASSWORD).status_code == 302

    def test_a_lockout_holds_one_user_from_one_address_only(self, client, alice):
        _fail(client, "alice", 5)
        make_user("bob")
        assert _log_in(client, "bob", PASSWORD).status_code == 302
        assert _log_in(Client(REMOTE_ADDR="10.0.0.9"), "alice", PASSWORD).status_code == 302

    def test_a_successful_login_resets_the_count(self, client, alice):
        assert _fail(client, "alice", 4) == [200] * 4
        assert _log_in(client, "alice", PASSWORD).status_code == 302
        client.logout()
        assert _fail(client, "alice", 4) == [200] * 4
        assert _log_in(client, "alice", PASSWORD).status_code == 302

    def test_the_admin_login_locks_out_too(self, client):
        make_user("root", staff=True)
        assert _fail(client, "root", 5, url="/admin/login/")[-1] == 429
        response = _log_in(client, "root", PASSWORD, url="/admin/login/")
        assert response.status_code == 429
        assert "Too many failed logins" in response.content.decode()


class TestPasswordSpraying:
    def test_a_client_guessing_a_few_passwords_at_many_accounts_is_locked_out(self, client, settings):
        for n in range(8):
            make_user(f"user{n}")
        failures = [status for n in range(8) for status in _fail(client, f"user{n}", 4)]
        assert failures[: settings.LOGIN_CLIENT_FAILURE_LIMIT - 1] == [200] * (settings.LOGIN_CLIENT_FAILURE_LIMIT - 1)
        assert set(failures[settings.LOGIN_CLIENT_FAILURE_LIMIT - 1 :]) == {429}  # 20 failures: locked
        assert _log_in(client, "user7", PASSWORD).status_code == 429  # even the right password now
        assert _log_in(Client(REMOTE_ADDR="10.0.0.9"), "user7", PASSWORD).status_code == 302  # elsewhere: fine

    def test_logging_in_to_one_s_own_account_does_not_clear_the_client_s_failures(self, client, settings):
        settings.LOGIN_CLIENT_FAILURE_LIMIT = 6
        make_user("mine")
        for n in range(3):
            make_user(f"other{n}")
            _fail(client, f"other{n}", 2)  # 6 failures in all, 2 per account
            if n < 2:
                assert _log_in(client, "mine", PASSWORD).status_code == 302
                client.logout()
        assert _log_in(client, "mine", PASSWORD).status_code == 429


class TestPasswordChange:
    def _change(self, client, old: str):
        data = {"old_password": old, "new_password1": "N3w-long-password", "new_password2": "N3w-long-password"}
        return client.post("/accounts/password_change/", data)

    def test_wrong_old_passwords_lock_the_change_out_like_logins(self, client, alice):
        client.force_login(alice)
        assert [self._change(client, "wrong").status_code for _ in range(5)] == [200, 200, 200, 200, 429]
        response = self._change(client, PASSWORD)  # the right one too, until the cool-off
        assert response.status_code == 429
        assert "Too many failed logins" in response.content.decode()
        alice.refresh_from_db()
        assert alice.check_password(PASSWORD)

    def test_the_right_old_password_changes_it(self, client, alice):
        client.force_login(alice)
        assert self._change(client, PASSWORD)["Location"] == "/accounts/password_change/done/"


class TestClientAddress:
    def test_without_the_tls_proxy_the_address_is_the_connections(self):
        request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="1.2.3.4")
        assert client_ip(request) == "203.0.113.5"

    def test_behind_the_tls_proxy_it_is_the_one_the_proxy_appended(self, settings):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
        assert client_ip(request) == "198.51.100.7"  # 1.2.3.4 is what the client claimed

    def test_behind_the_tls_proxy_clients_are_locked_out_separately(self, settings, alice):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        guesser = Client(HTTP_X_FORWARDED_FOR="198.51.100.7")
        _fail(guesser, "alice", 5)
        assert _log_in(guesser, "alice", PASSWORD).status_code == 429
        assert _log_in(Client(HTTP_X_FORWARDED_FOR="198.51.100.8"), "alice", PASSWORD).status_code == 302


class TestApiThrottle:
    def test_token_calls_past_the_rate_get_429_with_retry_after(self, settings, alice):
        settings.API_TOKEN_RATE = "3/minute"
        client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
        assert [client.get("/api/tasks/").status_code for _ in range(3)] == [200, 200, 200]
        response = client.get("/api/tasks/")
        assert response.status_code == 429
        assert "Request was throttled" in response.json()["detail"]
        assert int(response["Retry-After"]) > 0

    def test_each_user_has_its_own_budget_and_the_web_pages_session_none(self, settings, alice):
        settings.API_TOKEN_RATE = "2/minute"
        client = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
        assert [client.get("/api/tasks/").status_code for _ in range(3)] == [200, 200, 429]
        bob = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=make_user('bob')).key}")
        assert bob.get("/api/tasks/").status_code == 200
        session = APIClient()
        session.force_login(alice)
        assert {session.get("/api/tasks/").status_code for _ in range(5)} == {200}


class TestSignUpDomains:
    def _sign_up(self, client, email: str):
        return client.post(
            "/signup/",
            {"username": "carol", "email": email, "password1": "Str0ng-pass-9", "password2": "Str0ng-pass-9"},
        )

    def test_an_address_outside_the_allowed_domains_is_refused(self, client, settings):
        settings.SIGNUP_ALLOWED_DOMAINS = ["example.com", "example.org"]
        response = self._sign_up(client, "carol@elsewhere.net")
        assert response.status_code == 200
        assert "Sign-up takes addresses at example.com, example.org only." in response.content.decode()
        assert not get_user_model().objects.filter(username="carol").exists()

    def test_an_address_at_an_allowed_domain_signs_up_whatever_its_case(self, client, settings):
        settings.SIGNUP_ALLOWED_DOMAINS = ["example.com"]
        assert "Check your mail" in self._sign_up(client, "carol@Example.COM").content.decode()
