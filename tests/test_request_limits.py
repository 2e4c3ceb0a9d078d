"""Limits on what a caller may send: password reset requests, and request bodies before they are read."""

import datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tasks_app import jobs, queue
from tasks_app.models import JobRun, TaskImport
from tests.factories import api_client, make_user

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"


def _reset(client: Client, email: str):
    return client.post(RESET, {"email": email})


class TestPasswordResetLimits:
    def test_a_fourth_request_for_one_address_in_an_hour_is_refused_with_a_message(self, client, alice):
        assert [_reset(client, "alice@example.com").status_code for _ in range(3)] == [302] * 3
        refused = _reset(client, "Alice@Example.com")  # the same address, however it is written
        assert refused.status_code == 429
        assert "Too many password reset requests" in refused.content.decode()
        assert int(refused["Retry-After"]) > 0
        assert JobRun.objects.filter(name=queue.job_name(jobs.password_reset_send)).count() == 3

    def test_an_unknown_address_is_answered_and_limited_exactly_like_a_known_one(self, client, alice):
        known = [_reset(client, "alice@example.com") for _ in range(4)]
        unknown = [_reset(Client(REMOTE_ADDR="10.0.0.2"), "nobody@example.com") for _ in range(4)]
        assert [(r.status_code, r.get("Location")) for r in known] == [
            (r.status_code, r.get("Location")) for r in unknown
        ]
        assert known[-1].context["form"].errors == unknown[-1].context["form"].errors

    def test_one_client_is_limited_across_addresses(self, settings, client):
        settings.PASSWORD_RESET_CLIENT_RATE = "2/hour"
        assert [_reset(client, f"person{n}@example.com").status_code for n in range(3)] == [302, 302, 429]
        assert _reset(Client(REMOTE_ADDR="10.0.0.9"), "person9@example.com").status_code == 302

    def test_the_limit_lifts_after_the_period(self, client, alice):
        with time_machine.travel(datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
            for _ in range(3):
                _reset(client, "alice@example.com")
            assert _reset(client, "alice@example.com").status_code == 429
            clock.shift(datetime.timedelta(minutes=61))
            assert _reset(client, "alice@example.com").status_code == 302


class TestRequestSizeCap:
    @pytest.fixture(autouse=True)
    def small_cap(self, settings):
        settings.REQUEST_MAX_BYTES = 4096

    def _big_csv(self) -> SimpleUploadedFile:
        return SimpleUploadedFile("big.csv", b"title\n" + b"x" * 8000 + b"\n", content_type="text/csv")

    def test_the_import_page_refuses_an_oversized_upload_with_413(self, client, alice):
        client.force_login(alice)
        response = client.post("/imports/", {"file": self._big_csv()})
        assert response.status_code == 413
        assert "The request is too large" in response.content.decode()
        assert not TaskImport.objects.exists()

    def test_the_api_refuses_an_oversized_upload_with_413(self, api):
        response = api.post("/api/imports/", {"file": self._big_csv()}, format="multipart")
        assert response.status_code == 413
        assert "is too large (7.9\xa0KB); at most 4.0\xa0KB is accepted" in response.json()["detail"]
        assert not TaskImport.objects.exists()

    def test_the_body_is_refused_before_it_is_read(self, client, alice):
        client.force_login(alice)
        # A Content-Length far beyond the bytes sent: the test client's payload fails the test if read past them.
        response = client.generic(
            "POST", "/imports/", b"--x\r\n", content_type="multipart/form-data; boundary=x", CONTENT_LENGTH=str(10**9)
        )
        assert response.status_code == 413

    def test_a_body_within_the_cap_goes_through(self, alice):
        small = SimpleUploadedFile("ok.csv", b"title\nfine\n", content_type="text/csv")
        assert api_client(alice).post("/api/imports/", {"file": small}, format="multipart").status_code == 202


def test_the_default_cap_is_the_largest_import_plus_headroom_and_under_the_proxys(settings):
    assert settings.REQUEST_MAX_BYTES == settings.IMPORT_MAX_BYTES + 1024 * 1024
    assert settings.REQUEST_MAX_BYTES < 10 * 1024 * 1024  # deploy/Caddyfile: max_size 10MB


def test_an_anonymous_oversized_post_is_refused_too(settings):
    settings.REQUEST_MAX_BYTES = 10
    make_user("someone")
    assert Client().post("/accounts/login/", {"username": "someone", "password": "x" * 50}).status_code == 413
