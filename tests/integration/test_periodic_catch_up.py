"""Missed periodic runs on real consumers with fixed clocks: the 08:00 digest after a restart.

Each consumer runs on a clock set to when it "comes back" (tests/fixed_clock_consumer.py). The
ledger says the consumers last ran at 07:59 (every periodic job's latest tick recorded), so
the first scheduler back finds what was missed and applies each job's policy.
"""

import shutil
import sqlite3
import sys
from contextlib import closing

import pytest

from tests.live_stack import LiveStack, wait_for

pytestmark = pytest.mark.integration

DIGEST = "tasks_app.jobs.emails.digest_send"
BERLIN_SUMMER = "+02:00"  # the stacks run in Europe/Berlin: 08:00 there is 06:00 UTC
ENV = {"TIME_ZONE": "Europe/Berlin", "DATABASE_URL": "", "HUEY_WORKERS": "1"}

SEED = """
import datetime
from django.contrib.auth import get_user_model
from django.utils import timezone
from huey.contrib.djhuey import HUEY
from tasks_app.models import PeriodicTick, Task

ran_until = datetime.datetime.fromisoformat({ran_until!r})
for task_class in HUEY._registry._periodic_tasks:
    PeriodicTick.objects.create(
        name=HUEY._registry.task_to_string(task_class),
        due_at=task_class.periodic_schedule.previous_run(ran_until),
        outcome="ran",
        recorded_at=ran_until,
    )
busy = get_user_model().objects.create_user("busy", "busy@example.com", "a-long-test-password")
Task.objects.create(title="Water the plants", owner=busy, created_by=busy)
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A migrated SQLite data folder whose consumers last ran at 07:59 on 2026-06-01 (copied per test)."""
    stack = LiveStack(tmp_path_factory.mktemp("seeded"), **ENV)
    stack.manage("migrate", "--noinput")
    stack.shell(SEED.format(ran_until=f"2026-06-01T07:59:00{BERLIN_SUMMER}"))
    return stack.data_dir


@pytest.fixture
def stack(tmp_path, seeded):
    stack = LiveStack(tmp_path / "data", **ENV)
    shutil.copytree(seeded, stack.data_dir)
    consumers = []
    stack.come_back = lambda at, n=1: consumers.extend(
        stack._spawn(
            [sys.executable, "tests/fixed_clock_consumer.py", f"2026-06-01T{at}:00{BERLIN_SUMMER}"], f"c{i}.log"
        )
        for i in range(len(consumers), len(consumers) + n)
    )
    yield stack
    for consumer in consumers:
        consumer.terminate()
    for consumer in consumers:
        consumer.wait(timeout=30)
    print(stack.logs())  # shown by pytest only when the test failed


def digest_state(stack) -> dict:
    """What the app database says of the 08:00 digest (read directly: a manage.py shell takes a second)."""
    with closing(sqlite3.connect(stack.data_dir / "app.sqlite3", timeout=10)) as db:
        tick = db.execute(
            "select outcome, job_id, detail from tasks_app_periodictick where name = ? and due_at = ?",
            (DIGEST, "2026-06-01 06:00:00"),
        ).fetchone()
        return {
            "tick": tick,
            "runs": [state for (state,) in db.execute("select state from tasks_app_jobrun where name = ?", (DIGEST,))],
            "digests": db.execute("select count(*) from tasks_app_email where kind = 'digest'").fetchone()[0],
            "sent": db.execute(
                "select count(*) from tasks_app_email where kind = 'digest' and status = 'sent'"
            ).fetchone()[0],
            "consumers": db.execute("select count(*) from tasks_app_consumerheartbeat").fetchone()[0],
        }


def test_a_consumer_back_at_0820_sends_the_missed_digest_once(stack):
    stack.come_back("08:20")
    state = wait_for(
        lambda: (s := digest_state(stack))["sent"] and "succeeded" in s["runs"] and s,
        timeout=30,
        what="the late digest",
    )
    outcome, job_id, detail = state["tick"]
    assert outcome == "caught_up" and job_id
    assert "no consumer was running at 2026-06-01 08:00 CEST; run late at 2026-06-01 08:20 CEST" in detail
    assert state["runs"] == ["succeeded"] and state["digests"] == 1


def test_two_consumers_back_at_once_run_the_missed_digest_once(stack):
    stack.come_back("08:20", n=2)
    # Each scheduler looks back as its consumer starts, before its first heartbeat is written.
    state = wait_for(
        lambda: (s := digest_state(stack))["sent"] and "succeeded" in s["runs"] and s["consumers"] == 2 and s,
        timeout=30,
        what="both consumers",
    )
    assert state["runs"] == ["succeeded"] and state["digests"] == 1


def test_a_consumer_back_at_1300_does_not_send_it_and_the_ledger_says_why(stack):
    stack.come_back("13:00")
    state = wait_for(lambda: (s := digest_state(stack))["tick"] and s, timeout=30, what="the ledger's verdict")
    outcome, job_id, detail = state["tick"]
    assert (outcome, job_id) == ("missed", "")
    assert detail == (
        "no consumer was running at 2026-06-01 08:00 CEST; "
        "too late at 2026-06-01 13:00 CEST to run it (run once if within 4 h)"
    )
    assert state["runs"] == [] and state["digests"] == 0
