"""Many consumers and many web servers on one PostgreSQL queue (the suite's PostgreSQL pass).

Consumers with their schedulers and gunicorn processes share the app database and the queue on
a real PostgreSQL server: requests through either web server are served, jobs spread over the
consumers, each periodic job runs once per tick, and a consumer SIGKILLed mid-drain loses nothing.
"""

import json
import signal

import pytest

from tests.backends import postgres_only
from tests.live_stack import free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.postgres, postgres_only]

NAPS = 40


@pytest.fixture
def two_consumers(start_live_stack):
    """A stack of the test's own with, instead of its consumer, two that know the test jobs, both
    with their scheduler.

    (A consumer that does not know a job drops its message: every consumer of a queue must
    run the same code.)"""
    live_stack = start_live_stack(consumer=False)
    consumers = [
        live_stack.spawn_consumer(with_test_jobs=True),
        live_stack.spawn_consumer(with_test_jobs=True, log_name="consumer2.log"),
    ]
    wait_for(lambda: len(consumer_ids(live_stack)) == 2, timeout=20, what="both consumers' heartbeats")
    yield live_stack, consumers
    running = [process for process in consumers if process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        process.wait(timeout=20)


def consumer_ids(stack) -> list[str]:
    return json.loads(
        stack.shell(
            "import json; from tasks_app.models import ConsumerHeartbeat; "
            "print(json.dumps(sorted(ConsumerHeartbeat.objects.values_list('consumer_id', flat=True))))"
        )
    )


def jobs(stack, name: str) -> dict:
    """Each job of this name: its state, deliveries, the pids of the consumers it ran on, its events."""
    script = (
        "import json; from tasks_app.models import JobRun; "
        f"runs = JobRun.objects.filter(name={name!r}).prefetch_related('events'); "
        "print(json.dumps({r.id: {'state': r.state, 'deliveries': r.deliveries, "
        "'ran_on': [e.detail.split(':')[1] for e in r.events.all() if e.kind == 'executing'], "
        "'events': [e.kind for e in r.events.all()]} for r in runs}))"
    )
    return json.loads(stack.shell(script))


def all_succeeded(stack, name: str, count: int) -> dict | None:
    found = jobs(stack, name)
    return found if len(found) == count and all(job["state"] == "succeeded" for job in found.values()) else None


def test_requests_through_two_web_servers_start_jobs_that_two_consumers_run(two_consumers):
    stack, consumers = two_consumers
    second = stack.spawn_web(port := free_port(), log_name="web2.log")
    try:
        token, giver = stack.create_user("pat"), stack.create_user("giver")
        for i, url in enumerate([stack.url, f"http://127.0.0.1:{port}"] * 5):
            assert stack.give_task(giver, token, {"title": f"Task {i}"}, url=url)[0] == 201
        name = "tasks_app.jobs.notifications.task_assigned_notify"
        done = wait_for(lambda: all_succeeded(stack, name, 10), what="ten notifications")
    finally:
        second.terminate()
        second.wait(timeout=15)
    assert {pid for job in done.values() for pid in job["ran_on"]} <= {str(p.pid) for p in consumers}
    assert len(stack.api("GET", "/api/notifications/", token)[1]["results"]) == 1  # one person's burst: one notice


def test_jobs_spread_over_both_consumers_and_one_killed_mid_drain_loses_none(two_consumers):
    stack, (doomed, survivor) = two_consumers
    stack.shell(
        "from django.db import transaction; from tasks_app import queue; from tests.crash_jobs import nap\n"
        f"with transaction.atomic():\n    for _ in range({NAPS}): queue.enqueue_on_commit(nap, 0.5)"
    )
    wait_for(
        lambda: sum(job["state"] == "succeeded" for job in jobs(stack, "tests.crash_jobs.nap").values()) >= 4,
        what="the drain to be under way",
    )
    doomed.kill()  # SIGKILL: no shutdown code runs
    doomed.wait()

    done = wait_for(lambda: all_succeeded(stack, "tests.crash_jobs.nap", NAPS), timeout=60, what="every nap to succeed")
    assert {pid for job in done.values() for pid in job["ran_on"]} == {str(doomed.pid), str(survivor.pid)}
    orphaned = [job for job in done.values() if "orphaned" in job["events"]]
    assert orphaned, "the killed consumer held jobs"
    for job in orphaned:  # run again, by the survivor
        assert job["deliveries"] == 2 and job["ran_on"][-1] == str(survivor.pid)


def test_each_periodic_job_runs_once_per_tick_and_ops_lists_both_consumers(two_consumers):
    stack, consumers = two_consumers
    # Each scheduler offers the jobs due in the minute it starts; the first to record the tick runs it.
    wait_for(lambda: jobs(stack, "tests.crash_jobs.every_minute"), what="the minutely job")
    per_minute = json.loads(
        stack.shell(
            "import collections, json; from tasks_app.models import JobRun; "
            "times = JobRun.objects.filter(name='tests.crash_jobs.every_minute', enqueued_at__isnull=False)"
            ".values_list('enqueued_at', flat=True); "  # a run's row may be written before its enqueued event
            "print(json.dumps(collections.Counter(t.strftime('%H:%M') for t in times)))"
        )
    )
    assert per_minute and set(per_minute.values()) == {1}, f"a tick ran twice: {per_minute}"

    page = stack.shell(
        "from django.contrib.auth import get_user_model; from django.test import Client; "
        "staff = get_user_model().objects.create_user('ops', is_staff=True); "
        "client = Client(HTTP_HOST='localhost'); client.force_login(staff); "
        "print(client.get('/ops/').content.decode())"
    )
    for process in consumers:
        assert f"<td>{process.pid}</td>" in page, "/ops/ lists every consumer"
