"""GET /metrics, scraped with prometheus-client's own parser after real jobs ran (Huey in immediate mode)."""

import datetime
import ipaddress

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from huey.contrib.djhuey import db_task
from prometheus_client.parser import text_string_to_metric_families

from tasks_app import queue
from tasks_app.jobs import files as file_jobs
from tasks_app.models import ConsumerHeartbeat, JobRun, PausedJob
from tasks_app.services import job_stats, reports
from tests.factories import make_task
from tests.live_stack import settings_error

pytestmark = pytest.mark.django_db

LONG_AGO = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


@db_task(name="tests.metrics_divide")
def divide(a: int, b: int) -> float:
    return a / b


def scrape(client, **headers) -> dict[str, dict]:
    """Every sample as {sample name: {frozen labels: value}}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    samples: dict[str, dict] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def value(samples: dict, metric: str, **labels) -> float:
    return samples[metric][frozenset(labels.items())]


def total(samples: dict, metric: str, **labels) -> float:
    """The sum over the samples of `metric` that carry `labels`, whatever their other labels."""
    return sum(v for key, v in samples.get(metric, {}).items() if frozenset(labels.items()) <= key)


def test_the_job_metrics_agree_with_the_operations_dashboard(client, alice):
    make_task(alice, title="One")
    report = reports.report_request(owner=alice, format="csv")
    file_jobs.report_build(report.pk)
    divide(4, 2)
    divide(1, 0)
    now = timezone.now()
    JobRun.objects.create(
        id="waiting", name="tests.waiting", lane="emails", enqueued_at=now - datetime.timedelta(seconds=90)
    )
    ConsumerHeartbeat.objects.create(
        consumer_id="vm:1:aa", hostname="vm", pid=1, workers=2, started_at=now, beat_at=now, history_flushed_at=now
    )

    samples = scrape(client)

    report_job = queue.job_name(file_jobs.report_build)
    assert total(samples, "tasks_jobs_finished_total", name=report_job, state="succeeded") == 1
    divide_job = queue.job_name(divide)
    for row in job_stats.failure_rates(LONG_AGO):
        assert total(samples, "tasks_jobs_finished_total", name=row["name"], state="failed") == row["failed"]
        finished = sum(
            total(samples, "tasks_jobs_finished_total", name=row["name"], state=s) for s in ["succeeded", "failed"]
        )
        assert finished == row["finished"]
    assert total(samples, "tasks_jobs_finished_total", name=divide_job, state="failed") == 1
    for lane in job_stats.lanes(timezone.now()):
        assert total(samples, "tasks_jobs_waiting", lane=lane.name) == lane.waiting
        assert total(samples, "tasks_jobs_running", lane=lane.name) == lane.running
        assert value(samples, "tasks_lane_oldest_waiting_seconds", lane=lane.name) == pytest.approx(
            lane.oldest_wait or 0, abs=5
        )
    assert value(samples, "tasks_lane_oldest_waiting_seconds", lane="emails") >= 90

    runs = JobRun.objects.filter(name=divide_job)
    assert total(samples, "tasks_job_run_seconds_count", name=divide_job) == 2
    assert total(samples, "tasks_job_run_seconds_sum", name=divide_job) == pytest.approx(
        runs.aggregate(s=Sum("duration"))["s"]
    )
    assert total(samples, "tasks_job_run_seconds_bucket", name=divide_job, le="600.0") == 2
    assert total(samples, "tasks_job_wait_seconds_count", name=divide_job) == 2
    assert value(samples, "tasks_consumer_heartbeat_age_seconds", consumer="vm:1:aa") < 5
    assert value(samples, "tasks_consumer_history_flush_age_seconds", consumer="vm:1:aa") < 5


def test_the_counters_outlive_the_history_s_pruning_and_count_a_cancel(client, alice):
    divide(4, 2)
    JobRun.objects.all().delete()  # as job_history_prune does with old jobs
    waiting = JobRun.objects.create(id="waiting", name="tests.waiting", lane="emails", enqueued_at=timezone.now())
    assert queue.cancel(waiting)
    samples = scrape(client)
    assert total(samples, "tasks_jobs_finished_total", name=queue.job_name(divide), state="succeeded") == 1
    assert total(samples, "tasks_jobs_finished_total", name="tests.waiting", state="revoked") == 1


def test_a_paused_job_counts_as_paused_not_as_waiting(client):
    JobRun.objects.create(id="held", name="tests.held", state=JobRun.State.PENDING, enqueued_at=timezone.now())
    PausedJob.objects.create(name="tests.held")
    samples = scrape(client)
    assert value(samples, "tasks_jobs_waiting", lane="default", name="tests.held") == 0
    assert value(samples, "tasks_jobs_paused", lane="default", name="tests.held") == 1
    assert value(samples, "tasks_lane_oldest_waiting_seconds", lane="default") == 0


def test_it_refuses_a_client_outside_the_allowed_networks(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="not an address").status_code == 403
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("203.0.113.0/24")]
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_it_accepts_the_token_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3crét", **outside).status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret", **outside).status_code == 200


def test_a_malformed_allowed_network_stops_the_start_with_a_clear_error():
    assert "METRICS_ALLOWED_NETWORKS: '10.0.0.300/8' does not appear to be" in settings_error(
        METRICS_ALLOWED_NETWORKS="10.0.0.300/8"
    )


def test_web_requests_are_counted_by_status_class_and_timed(client, alice):
    client.force_login(alice)
    client.get("/")
    client.get("/tasks/0/")  # a 404
    samples = scrape(client)
    assert total(samples, "tasks_web_requests_total", status="2xx") >= 1
    assert total(samples, "tasks_web_requests_total", status="4xx") >= 1
    assert total(samples, "tasks_web_request_seconds_count") >= 2


def test_the_files_health_is_served_as_healthz_reads_it(client, settings, data_dir):
    backups = data_dir / "backups"
    backups.mkdir()
    suffix = ".dump" if connection.vendor == "postgresql" else ".sqlite3"  # as backups.py names them
    (backups / f"app-20260101-000000{suffix}").write_bytes(b"x")
    samples = scrape(client)
    assert samples["tasks_disk_free_bytes"][frozenset()] > 0
    assert samples["tasks_backup_age_seconds"][frozenset()] < 60
