"""A write that cannot get SQLite's write lock in time: a 503 with Retry-After, never a 500.

The lock is held by another connection, as a long transaction elsewhere would hold it; the web
server waits SQLITE_BUSY_TIMEOUT (1 s here), then answers and logs what it waited for."""

import http.cookiejar
import json
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing, contextmanager

import pytest

pytestmark = pytest.mark.integration


@contextmanager
def write_lock_held(stack):
    with closing(sqlite3.connect(stack.data_dir / "app.sqlite3", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")


def send(opener, url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def test_a_write_that_waits_out_the_busy_timeout_gets_a_503_and_the_next_try_succeeds(start_live_stack):
    stack = start_live_stack(consumer=False, SQLITE_BUSY_TIMEOUT="1")
    token = stack.create_user("busy")
    opener = urllib.request.build_opener()
    create = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    body = json.dumps({"title": "Written later"}).encode()

    with write_lock_held(stack):
        status, headers, text = send(opener, stack.url + "/api/tasks/", body, create)
        assert status == 503, text
        assert headers["Retry-After"] == "5"
        assert "try again" in json.loads(text)["detail"]

        # A page: the login form's POST writes the session.
        cookies = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
        page = send(browser, stack.url + "/accounts/login/")[2]
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {"username": "busy", "password": "a-long-test-password", "csrfmiddlewaretoken": csrf}
        status, headers, text = send(browser, stack.url + "/accounts/login/", urllib.parse.urlencode(form).encode())
        assert status == 503
        assert headers["Retry-After"] == "5" and "Busy, try again" in text

    assert send(opener, stack.url + "/api/tasks/", body, create)[0] == 201
    log = (stack.data_dir / "web.log").read_text()
    assert re.search(r"database is locked: waited 1\.\d s for the write lock on app\.sqlite3, from \S+", log)
    assert "answered 503 to POST /api/tasks/" in log and "answered 503 to POST /accounts/login/" in log
    assert "Traceback" not in log and "Internal Server Error" not in log
