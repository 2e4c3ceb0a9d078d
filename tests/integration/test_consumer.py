"""Jobs go through the real queue: gunicorn and `manage.py run_huey` in subprocesses on SQLite."""

import pytest

from tests.live_stack import wait_for

pytestmark = pytest.mark.integration


def _notifications(stack, token) -> list[str]:
    status, body = stack.api("GET", "/api/notifications/", token)
    assert status == 200, body
    return [item["message"] for item in body["results"]]


@pytest.mark.postgres  # also in the PostgreSQL pass
def test_it_notifies_the_owner_of_a_new_task_through_the_consumer(live_stack):
    token, giver = live_stack.create_user("alice"), live_stack.create_user("giver")
    status, body = live_stack.give_task(giver, token, {"title": "Ship the release"})
    assert status == 201, body
    assert wait_for(
        lambda: "giver gave you a task: Ship the release" in _notifications(live_stack, token), what="the notification"
    )


def test_it_keeps_jobs_queued_while_the_consumer_is_down_and_runs_them_after_restart(live_stack):
    token, giver = live_stack.create_user("bob"), live_stack.create_user("gina")
    live_stack.stop_consumer()
    status, _ = live_stack.give_task(giver, token, {"title": "Wait for me"})
    assert status == 201
    status, body = live_stack.api("GET", "/api/tasks/", token)
    assert body["count"] == 1  # the request answered at once; the job waits in db/huey.sqlite3
    assert _notifications(live_stack, token) == []

    live_stack.start_consumer()
    assert wait_for(
        lambda: _notifications(live_stack, token) == ["gina gave you a task: Wait for me"], what="the queued job"
    )


def test_it_runs_the_periodic_overdue_check_in_the_consumer(live_stack):
    token = live_stack.create_user("carol")
    status, _ = live_stack.api("POST", "/api/tasks/", token, {"title": "Late one", "due_date": "2000-01-01"})
    assert status == 201
    # The consumer's scheduler runs periodic jobs on their crontab; run this one now, by hand, via
    # the same job the scheduler enqueues, to prove the consumer registered and executes it.
    live_stack.manage("shell", "--no-imports", "-c", "from tasks_app import jobs; jobs.overdue_check()")
    assert wait_for(lambda: any("Overdue since 2000-01-01" in m for m in _notifications(live_stack, token)))
