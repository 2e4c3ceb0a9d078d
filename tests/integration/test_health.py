"""/healthz against a real consumer: it follows the consumer's heartbeat."""

import json
import signal
import urllib.error
import urllib.request

import pytest

from tests.live_stack import wait_for

pytestmark = pytest.mark.integration


def _health(stack) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(stack.url + "/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_fails_when_the_consumer_stops_and_recovers_when_it_restarts(start_live_stack):
    stack = start_live_stack(HEALTH_CONSUMER_MAX_AGE="3")
    status, body = wait_for(lambda: (s := _health(stack))[0] == 200 and s, what="a healthy stack")
    assert body["checks"]["database_writable"] and body["checks"]["queue_reachable"]
    assert body["checks"]["consumer_heartbeat_age"] < 3

    stack.stop_consumer(signal.SIGTERM)  # a clean stop says goodbye: unhealthy at once
    status, body = wait_for(lambda: (s := _health(stack))[0] == 503 and s, timeout=3, what="a 503")
    assert body["problems"] == ["no consumer is running"]

    stack.start_consumer()
    wait_for(lambda: _health(stack)[0] == 200, timeout=10, what="recovery")

    stack.stop_consumer(signal.SIGKILL)  # a crash: no goodbye, the last heartbeat stays behind
    status, body = wait_for(lambda: (s := _health(stack))[0] == 503 and s, timeout=8, what="a 503")
    assert body["problems"] == ["consumer heartbeat older than 3s"]

    stack.start_consumer()
    wait_for(lambda: _health(stack)[0] == 200, timeout=10, what="recovery")


def test_it_fails_when_a_job_waits_too_long(start_live_stack):
    stack = start_live_stack(consumer=False, HEALTH_PENDING_MAX_AGE="1")  # no consumer runs the job
    token = stack.create_user("dora")
    status, _ = stack.give_task(stack.create_user("giver"), token, {"title": "Stuck"})  # its notice waits
    assert status == 201

    def waited_too_long():
        status, body = _health(stack)
        return status == 503 and "a job in lane 'default' has waited longer than 1s" in body["problems"]

    wait_for(waited_too_long, timeout=8, what="the pending-age check to fail")
