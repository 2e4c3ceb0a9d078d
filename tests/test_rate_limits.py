"""Rate limits count atomically (tasks_app/rate_limits.py): on SQLite in a file of their own, on
PostgreSQL in the app database, in Redis when the queue is there."""

import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import time_machine

from tasks_app import rate_limits
from tasks_app.models import RateCount
from tests.backends import postgres_only, sqlite_only
from tests.live_stack import ROOT

pytestmark = pytest.mark.django_db

START = 1_800_000_000  # a Unix time at the start of a minute and of an hour


def hits_at_once(key: str, *, limit: int, threads: int = 12, each: int = 1) -> int:
    """How many of `threads` × `each` hits of `key`, made at once, were allowed."""
    allowed, barrier = [], threading.Barrier(threads)

    def hitter():
        barrier.wait()
        for _ in range(each):
            allowed.append(rate_limits.hit(key, limit, 3600).allowed)

    workers = [threading.Thread(target=hitter) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(allowed)


@sqlite_only
def test_hits_at_once_from_many_threads_let_exactly_the_limit_through():
    # Twelve resets for one address at once sent four with the cache's read-then-write (limit 3).
    assert hits_at_once("reset-email:someone", limit=3) == 3
    assert hits_at_once("token:7", limit=1200, threads=8, each=200) == 1200


@postgres_only
def test_hits_at_once_on_postgresql_let_exactly_the_limit_through(transactional_db):
    assert hits_at_once("reset-email:someone", limit=3) == 3
    assert RateCount.objects.get(key="reset-email:someone").hits == 12  # refused hits count too


def test_redis_counts_hits_at_once_exactly(settings, redis_url):
    settings.HUEY_REDIS_URL = redis_url
    assert hits_at_once("reset-email:someone", limit=3) == 3


def test_hits_leave_the_count_a_tenth_of_the_period_at_a_time():
    # A limit of 3 a minute counts in 6 s buckets.
    with time_machine.travel(START + 50, tick=False):
        assert all(rate_limits.hit("k", 3, 60).allowed for _ in range(3))
        refused = rate_limits.hit("k", 3, 60)
        assert (refused.allowed, refused.wait) == (False, 58)  # their bucket (48-54 s) leaves at 108 s
    with time_machine.travel(START + 107, tick=False):
        assert not rate_limits.hit("k", 3, 60).allowed
    with time_machine.travel(START + 108, tick=False):
        assert rate_limits.hit("k", 3, 60).allowed  # 1 refused at 107 s and this one: 2 of 3


def test_a_refused_hit_is_told_when_enough_old_hits_have_left():
    with time_machine.travel(START, tick=False):
        rate_limits.hit("k", 3, 60)
    with time_machine.travel(START + 30, tick=False):
        rate_limits.hit("k", 3, 60), rate_limits.hit("k", 3, 60)
        refused = rate_limits.hit("k", 3, 60)  # counts too: 4 in the count
        assert refused.wait == 60  # at 60 s the first leaves, and 3 remain: until its own bucket leaves
    with time_machine.travel(START + 30 + refused.wait, tick=False):
        assert rate_limits.hit("k", 3, 60).allowed


def test_keys_count_apart():
    assert rate_limits.hit("a", 1, 60).allowed
    assert rate_limits.hit("b", 1, 60).allowed
    assert not rate_limits.hit("a", 1, 60).allowed


def test_counts_no_hit_reads_any_more_are_forgotten():
    with time_machine.travel(START, tick=False):
        rate_limits.hit("old", 5, 60)
    with time_machine.travel(START + 60, tick=False):
        rate_limits.hit("recent", 5, 60)
    with time_machine.travel(START + 110, tick=False):
        rate_limits.forget_expired()
        store = rate_limits._store()
        old, recent = START // 6, START // 6 + 10
        assert store.count("old", old, since=old, expires_at=0) == (1, {})  # counted afresh: forgotten
        assert store.count("recent", recent, since=recent, expires_at=0) == (2, {})


@sqlite_only
def test_the_first_hits_of_many_processes_on_a_new_file_all_count(tmp_path):
    # Each process's first connection switches the new file to WAL; racing, SQLite answers
    # "database is locked" at once to the losers (a 500 on the API before).
    script = (
        "import os, time, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_config.settings'); "
        "django.setup(); from tasks_app import rate_limits; "
        "time.sleep(max(float(os.environ['AT']) - time.time(), 0)); print(rate_limits.hit('k', 100, 60).allowed)"
    )
    at = str(time.time() + 5)  # all at once, once each has started
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "test", "DJANGO_DEBUG": "1", "AT": at}
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    assert [process.communicate(timeout=60)[0].strip() for process in processes] == ["True"] * 8
    with sqlite3.connect(tmp_path / "limits.sqlite3") as counts:
        assert counts.execute("select sum(hits) from rate_count where key = 'k'").fetchone() == (8,)
