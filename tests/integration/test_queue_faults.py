"""The leased queue on a real `run_huey` when its databases are slow, and a paused job's runs.

The databases are slowed the way load slows them: another connection holds SQLite's write lock.
"""

import contextlib
import datetime
import json
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.test_leased_queue import events, job
from tests.live_stack import wait_for

pytestmark = pytest.mark.integration

NAP = "import tests.crash_jobs as c; from tasks_app import queue; print(queue.enqueue_on_commit(c.nap, {seconds}))"


def take_write_lock(path, seconds_to_get_it: float = 30) -> sqlite3.Connection:
    """SQLite's write lock on the database at `path`, held until the connection closes (readers go on)."""
    conn = sqlite3.connect(path, timeout=seconds_to_get_it, isolation_level=None)
    conn.execute("begin immediate")
    return conn


@contextlib.contextmanager
def write_locked(path):
    with contextlib.closing(take_write_lock(path)):
        yield


def health(stack) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(stack.url + "/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


QUEUE_LEFT = """
from huey.contrib.djhuey import HUEY
messages = HUEY.storage.sql("select count(*) from message", results=True)[0][0]
chord_keys = [key for key in HUEY.storage.result_items() if key.startswith("chord:")]
print(messages, len(chord_keys) + HUEY.storage.sql("select count(*) from counter", results=True)[0][0])
"""


def state(stack, token: str, job_id: str) -> str | None:
    """The job's state; None while it has no history (a follow-up not yet enqueued)."""
    status, body = stack.api("GET", f"/api/jobs/{job_id}/", token)
    return body["state"] if status == 200 else None


def nap(stack, seconds: float) -> str:
    return stack.shell(NAP.format(seconds=seconds))


def test_a_slow_app_database_never_makes_a_live_consumer_lose_its_jobs(start_live_stack):
    """Two consumers each run a long job while the app database is held longer than a lease."""
    stack = start_live_stack(consumer=False, HUEY_LEASE_SECONDS="10", HUEY_WORKERS="1")
    token = stack.create_user("ops", staff=True)
    stack.start_consumer(with_test_jobs=True)
    stack.more_consumers.append(stack.spawn_consumer(with_test_jobs=True, log_name="consumer2.log"))
    naps = [nap(stack, 20) for _ in range(2)]
    assert wait_for(lambda: all(job(stack, token, n)["state"] == "running" for n in naps), timeout=30, what="both")

    with write_locked(stack.data_dir / "app.sqlite3"):
        time.sleep(15)  # longer than the lease: heartbeats and history writes wait, leases do not

    assert wait_for(lambda: all(job(stack, token, n)["state"] == "succeeded" for n in naps), timeout=30)
    for job_id in naps:
        run = job(stack, token, job_id)
        assert (run["attempts"], run["deliveries"]) == (1, 1), events(stack, job_id)
        assert "orphaned" not in events(stack, job_id)


def test_the_history_writer_outlives_a_locked_queue_and_health_says_it_fell_behind(start_live_stack):
    stack = start_live_stack(consumer=False, HEALTH_HISTORY_MAX_AGE="3")
    token = stack.create_user("ops", staff=True)
    stack.start_consumer(with_test_jobs=True)
    stack.wait_for_consumer()
    first = nap(stack, 1)
    assert wait_for(lambda: job(stack, token, first)["state"] == "running", what="the job to start")

    app = take_write_lock(stack.data_dir / "app.sqlite3")
    time.sleep(2)  # the job ends, marked done in the queue; its history waits for the app database
    with write_locked(stack.data_dir / "huey.sqlite3"):
        app.close()  # its history is written now; its ack cannot be
        behind = wait_for(lambda: "job history" in " ".join(health(stack)[1]["problems"]), timeout=20)
        assert behind, health(stack)

    assert wait_for(lambda: health(stack)[0] == 200, timeout=30, what="health to come back"), health(stack)
    second = nap(stack, 0)  # the writer lives on: the next job's history is written and acked
    assert wait_for(lambda: job(stack, token, second)["state"] == "succeeded", timeout=20)
    assert job(stack, token, first)["state"] == "succeeded"
    assert wait_for(lambda: stack.shell(QUEUE_LEFT).startswith("0 "), what="every message acked")


PAUSE = "from tasks_app import queue; import tests.crash_jobs as c; queue.{action}_job(queue.job_name(c.nap))"
RESUMED_AT = PAUSE.format(action="resume") + "; from django.utils import timezone; print(timezone.now().isoformat())"
NAPS = """
import tests.crash_jobs as c
from django.db import transaction
from tasks_app import queue
with transaction.atomic():
    print(" ".join(queue.enqueue_on_commit(c.nap, 0) for _ in range({count})))
"""
EVENTS = """
import json
from tasks_app.models import JobEvent
rows = JobEvent.objects.filter(job_id__in={job_ids!r}).order_by("at", "id").values_list("job_id", "kind")
kinds = {{}}
for job_id, kind in rows:
    kinds.setdefault(job_id, []).append(kind)
print(json.dumps(kinds))
"""


def test_a_paused_job_s_runs_are_held_once_and_run_the_moment_it_resumes(start_live_stack):
    stack = start_live_stack(consumer=False)
    token = stack.create_user("pauser", staff=True)
    stack.start_consumer(with_test_jobs=True)
    stack.shell(PAUSE.format(action="pause"))
    time.sleep(1.5)  # a consumer sees a pause within a second (pause.paused_names)
    held = stack.shell(NAPS.format(count=20)).split()
    kinds = lambda: json.loads(stack.shell(EVENTS.format(job_ids=held)))  # noqa: E731
    assert wait_for(lambda: all("paused" in k for k in kinds().values()), what="the runs to be held")
    time.sleep(2)  # held runs stay put: no run, no event, no queue write
    assert {tuple(k) for k in kinds().values()} == {("enqueued", "paused")}

    resumed_at = datetime.datetime.fromisoformat(stack.shell(RESUMED_AT))
    assert wait_for(lambda: all(job(stack, token, n)["state"] == "succeeded" for n in held), timeout=20)
    first_start = min(datetime.datetime.fromisoformat(job(stack, token, n)["started_at"]) for n in held)
    assert (first_start - resumed_at).total_seconds() < 1


RESULT = """
import json
from tasks_app.models import JobRun
print(json.dumps(list(JobRun.objects.values_list("result_summary", "attempts").get(pk={job_id!r}))))
"""
CHORD = """
from huey import group
import tests.crash_jobs as c
from tasks_app import queue
members = [c.echo.s(n) for n in range(3)]
print(members[1].id, queue.enqueue_message_on_commit(group(members).then(c.collect)))
"""
PIPELINE = """
import tests.crash_jobs as c
from tasks_app import queue
first = c.echo.s(7)
print(first.id, queue.enqueue_message_on_commit(first.then(c.echo)))
"""


@pytest.mark.parametrize(
    ("work", "kill_at", "result", "deliveries"),
    [
        (CHORD, "before-done-mark", "[0, 1, 2]", 2),  # run again
        pytest.param(CHORD, "after-done-mark", "[0, 1, 2]", 1, marks=pytest.mark.soak),  # not run again
        pytest.param(PIPELINE, "before-done-mark", "7", 2, marks=pytest.mark.soak),
        (PIPELINE, "after-done-mark", "7", 1),  # not run again: its outcome is written late
    ],
    ids=["chord-before", "chord-after", "pipeline-before", "pipeline-after"],
)
def test_a_consumer_killed_around_a_done_mark_writes_the_follow_up_once(
    start_live_stack, work, kill_at, result, deliveries
):
    stack = start_live_stack(consumer=False)
    token = stack.create_user("ops", staff=True)
    killed, last = stack.shell(work).split()
    stack.start_consumer(with_test_jobs=True, env={"TEST_KILL_AT": f"{kill_at}:{killed}"})
    assert stack.consumer.wait(timeout=30) == -9  # it killed itself at that point

    stack.start_consumer(with_test_jobs=True)
    assert wait_for(lambda: state(stack, token, last) == "succeeded", timeout=30, what="the follow-up")
    assert json.loads(stack.shell(RESULT.format(job_id=last))) == [result, 1]  # every member's result, once
    assert job(stack, token, killed)["deliveries"] == deliveries, events(stack, killed)
    assert events(stack, killed)[-1 if deliveries == 2 else -2] == "complete"  # its history ends truthfully
    assert wait_for(lambda: stack.shell(QUEUE_LEFT) == "0 0", what="every message acked, no chord key left")
    assert job(stack, token, last)["attempts"] == 1  # a follow-up written twice would have run twice
