"""/metrics from a real gunicorn (two workers) and `run_huey`, read with Prometheus' own text parser."""

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live_stack import wait_for

pytestmark = pytest.mark.integration

SUCCEEDED = """
from tasks_app.models import JobRun
print(JobRun.objects.filter(name__endswith=".task_assigned_notify", state="succeeded").count())
"""


def samples(stack) -> list:
    with urllib.request.urlopen(stack.url + "/metrics", timeout=10) as response:  # from 127.0.0.1: allowed
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def finished(stack, name_suffix: str, state: str) -> float:
    return sum(
        sample.value
        for sample in samples(stack)
        if sample.name == "tasks_jobs_finished_total"
        and sample.labels["name"].endswith(name_suffix)
        and sample.labels["state"] == state
    )


def test_every_web_worker_serves_the_numbers_the_history_holds(live_stack):
    owner, giver = live_stack.create_user("olga"), live_stack.create_user("gus")
    for n in range(5):
        assert live_stack.give_task(giver, owner, {"title": f"Task {n}"})[0] == 201
    wait_for(lambda: live_stack.shell(SUCCEEDED) == "5", what="the five notices")
    scrapes = {finished(live_stack, ".task_assigned_notify", "succeeded") for _ in range(6)}  # both workers answer
    assert scrapes == {5.0}


def test_every_web_worker_serves_the_web_requests_of_all(live_stack):
    token = live_stack.create_user("wendy")
    for _ in range(20):
        assert live_stack.api("GET", "/api/me/", token)[0] == 200
    for _ in range(6):  # each of the two workers answers some: each serves both workers' counts
        counts = {sample.labels.get("status"): sample.value for sample in samples(live_stack)
                  if sample.name == "tasks_web_requests_total"}  # fmt: skip
        assert counts["2xx"] >= 20
        latency = [s.value for s in samples(live_stack) if s.name == "tasks_web_request_seconds_count"]
        assert latency and latency[0] >= 20
