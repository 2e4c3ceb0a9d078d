"""Scale-out: the same code on Huey's Redis storage, chosen by configuration alone (HUEY_REDIS_URL)."""

import shutil

import pytest

from tests.live_stack import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]


def test_jobs_run_through_a_redis_queue(start_live_stack, redis_url):
    stack = start_live_stack(HUEY_REDIS_URL=redis_url)
    token = stack.create_user("erin")
    status, _ = stack.give_task(stack.create_user("giver"), token, {"title": "Scale out"})
    assert status == 201

    def notified():
        return stack.api("GET", "/api/notifications/", token)[1].get("results")

    assert wait_for(notified, what="the notification")[0]["message"] == "giver gave you a task: Scale out"
    assert not (stack.data_dir / "huey.sqlite3").exists()  # the queue lived in Redis
