"""The operations dashboard, through Django's test client (Huey in immediate mode)."""

import datetime
import re

import pytest
import time_machine
from django.utils import timezone
from huey.contrib.djhuey import db_task

from tasks_app import queue
from tasks_app.models import ConsumerHeartbeat, JobEvent, JobRun, PausedJob
from tasks_app.services import job_stats
from tests.factories import make_user

pytestmark = pytest.mark.django_db

NINE_OH_THREE = datetime.datetime(2026, 1, 1, 9, 3, 30, tzinfo=datetime.UTC)  # a Thursday


@db_task(name="tests.dashboard_divide")
def divide(a: int, b: int) -> float:
    return a / b


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(staff=True))
    return client


def test_it_forbids_the_dashboard_to_non_staff(client):
    client.force_login(make_user())
    for url in ["/ops/", "/ops/jobs/", "/ops/jobs/some-id/"]:
        assert client.get(url).status_code == 403
    assert client.post("/ops/jobs/pause/", {"name": queue.job_name(divide)}).status_code == 403
    assert client.post("/ops/lanes/default/pause/").status_code == 403
    assert client.post("/ops/schedule/tasks_app.jobs.maintenance.stats_snapshot/run/").status_code == 403
    assert not PausedJob.objects.exists() and not JobRun.objects.exists()


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/ops/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_overview_shows_failures_the_throughput_chart_and_no_consumer(staff_client):
    divide(1, 0)
    divide(4, 2)
    body = staff_client.get("/ops/").content.decode()
    assert "Failed jobs" in body and "ZeroDivisionError" in body
    assert "Retry" in body and "Discard" in body
    assert 'aria-label="Jobs finished per minute"' in body
    assert "No consumer is running" in body  # immediate mode: no consumer beats
    panel = staff_client.get("/ops/?panel=1").content.decode()
    assert "ZeroDivisionError" in panel and "<html" not in panel


def test_a_consumer_whose_history_writer_fell_behind_is_shown_in_red(staff_client, settings):
    now = timezone.now()
    for consumer_id, flushed in [("vm:1:aa", now), ("vm:2:bb", now - datetime.timedelta(minutes=5))]:
        ConsumerHeartbeat.objects.create(
            consumer_id=consumer_id,
            hostname="vm",
            pid=1,
            workers=2,
            started_at=now,
            beat_at=now,
            history_flushed_at=flushed,
        )
    table = staff_client.get("/ops/?panel=1").content.decode().split("<h2>Consumers</h2>")[1]
    assert re.search(r'<td class="error-text">30\d s ago</td>', table)  # past HEALTH_HISTORY_MAX_AGE (60 s)
    assert table.count("error-text") == 1


def test_staff_retry_a_failed_job_from_the_dashboard(staff_client, django_capture_on_commit_callbacks):
    failed = divide(1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/ops/jobs/{failed.id}/retry/", follow=True)
    retry = JobRun.objects.get(retry_of_id=failed.id)
    assert response.redirect_chain[-1][0] == f"/ops/jobs/{retry.id}/"
    assert retry.state == JobRun.State.FAILED  # same arguments, same error
    assert JobRun.objects.get(pk=failed.id).dismissed_at is not None
    retried = JobEvent.objects.get(job_id=failed.id, kind="retried").detail
    assert retried.startswith(f"as job {retry.id}, from /ops/ by user")


def test_it_refuses_to_retry_a_job_that_did_not_fail(staff_client):
    ok = divide(4, 2)
    response = staff_client.post(f"/ops/jobs/{ok.id}/retry/", follow=True)
    assert "Only a failed job can be retried." in response.content.decode()
    assert not JobRun.objects.filter(retry_of_id=ok.id).exists()


def test_staff_discard_a_failed_job(staff_client):
    failed = divide(1, 0)
    staff_client.post(f"/ops/jobs/{failed.id}/dismiss/")
    assert "ZeroDivisionError" not in staff_client.get("/ops/?panel=1").content.decode()


def test_staff_cancel_a_scheduled_job(staff_client):
    later = divide.schedule(args=(1, 1), delay=600)
    staff_client.post(f"/ops/jobs/{later.id}/cancel/")
    assert JobRun.objects.get(pk=later.id).state == JobRun.State.REVOKED


def test_staff_pause_and_resume_a_job_by_name(staff_client):
    name = queue.job_name(divide)
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "pause"})
    held = divide(1, 1)
    assert JobRun.objects.get(pk=held.id).state == JobRun.State.SCHEDULED
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "resume"})
    assert not PausedJob.objects.exists()
    response = staff_client.post("/ops/jobs/pause/", {"name": "no.such.job"}, follow=True)
    assert "Unknown job name." in response.content.decode()


def test_the_job_list_filters_by_name_state_and_search(staff_client):
    divide(1, 0)
    divide(4, 2)
    name = queue.job_name(divide)
    assert staff_client.get("/ops/jobs/", {"name": name}).context["page"].paginator.count == 2
    assert staff_client.get("/ops/jobs/", {"state": "failed"}).context["page"].paginator.count == 1
    assert staff_client.get("/ops/jobs/", {"q": "ZeroDivision"}).context["page"].paginator.count == 1
    assert staff_client.get("/ops/jobs/", {"state": "nonsense", "since": "1h"}).status_code == 200


def test_the_job_detail_shows_arguments_timings_and_traceback(staff_client):
    failed = divide(1, 0)
    body = staff_client.get(f"/ops/jobs/{failed.id}/").content.decode()
    assert "[1, 0]" in body and "Traceback" in body and "executing" in body
    assert staff_client.get("/ops/jobs/no-such-job/").status_code == 404


def schedule_rows(body: str) -> dict[str, tuple[str, str, str]]:
    """The dashboard's schedule table: job -> (when, if missed, next run)."""
    section = body[body.index("<h2>Schedule</h2>") :]
    table = section[: section.index("</table>")]
    cells = r"<tr>\s*<td><a [^>]*>(\w+)</a>.*?</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<(]*)"
    rows = re.findall(cells, table, re.DOTALL)
    return {job: (when, missed, next_run.strip()) for job, when, missed, next_run in rows}


def test_the_dashboard_shows_each_schedule_in_full_with_its_missed_run_policy_and_next_run(staff_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(NINE_OH_THREE, tick=False):
        rows = schedule_rows(staff_client.get("/ops/").content.decode())
    assert rows == {
        "db_backup": ("every 6 hours at :30", "run once if within 6 h", "2026-01-01 13:30 CET"),  # 12:30 UTC
        "digest_send": ("daily at 08:00 Europe/Berlin", "run once if within 4 h", "2026-01-02 08:00 CET"),
        "done_tasks_cleanup": (
            "weekly on Sunday at 02:00 Europe/Berlin",
            "run once if within 6 days",
            "2026-01-04 02:00 CET",
        ),
        "job_history_prune": ("daily at 04:15 Europe/Berlin", "run once if within 20 h", "2026-01-02 04:15 CET"),
        "overdue_check": ("every 10 minutes", "skip", "2026-01-01 10:10 CET"),
        "report_cleanup": ("daily at 03:00 Europe/Berlin", "run once if within 20 h", "2026-01-02 03:00 CET"),
        "import_export_cleanup": ("daily at 03:10 Europe/Berlin", "run once if within 20 h", "2026-01-02 03:10 CET"),
        "stats_snapshot": ("hourly at :00", "skip", "2026-01-01 11:00 CET"),
    }


def test_throughput_counts_jobs_per_minute():
    with time_machine.travel(NINE_OH_THREE, tick=False):
        divide(1, 0)
        divide(4, 2)
        bars = job_stats.throughput_per_minute(5)
    assert len(bars) == 5
    assert bars[-1].minute == NINE_OH_THREE.replace(second=0)
    assert (bars[-1].succeeded, bars[-1].failed) == (1, 1)
    assert all((bar.succeeded, bar.failed) == (0, 0) for bar in bars[:-1])


def panel(client) -> str:
    return client.get("/ops/?panel=1").content.decode()


def test_a_paused_job_is_named_at_the_top_with_its_held_runs_and_a_resume_button(staff_client):
    name = queue.job_name(divide)
    assert 'id="paused-banner"' not in panel(staff_client)
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "pause"})
    divide(1, 1)
    body = panel(staff_client)
    banner = body[body.index('id="paused-banner"') : body.index("</section>")]
    assert body.index('id="paused-banner"') < body.index("<h2>Lanes</h2>")
    assert "1 job is paused" in banner and "dashboard_divide" in banner and "1 run held" in banner
    assert f'value="{name}"' in banner and 'value="resume"' in banner
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "resume"})
    assert 'id="paused-banner"' not in panel(staff_client)


def test_a_waiting_run_of_a_paused_job_is_shown_and_filtered_as_paused(staff_client):
    divide(4, 2)  # ran before the pause: shown as it is
    queue.pause_job(queue.job_name(divide))
    held = divide(1, 1)

    def count(state: str) -> int:
        return staff_client.get("/ops/jobs/", {"state": state}).context["page"].paginator.count

    assert (count("paused"), count("scheduled"), count("succeeded")) == (1, 0, 1)
    assert JobRun.objects.get(pk=held.id).state == JobRun.State.SCHEDULED  # stored as before: shown paused
    assert (
        '<option value="paused" selected>Paused</option>'
        in staff_client.get("/ops/jobs/?state=paused").content.decode()
    )
    detail = staff_client.get(f"/ops/jobs/{held.id}/").content.decode()
    assert '<span class="state state-paused">paused</span>' in detail and "paused by an operator" in detail
    queue.resume_job(queue.job_name(divide))
    assert (count("paused"), count("scheduled")) == (0, 1)


def test_the_lanes_table_counts_paused_runs_apart_from_waiting_ones(staff_client):
    queue.pause_job(queue.job_name(divide))
    divide(1, 1)
    default = next(lane for lane in job_stats.lanes(timezone.now()) if lane.name == "default")
    assert (default.waiting, default.paused) == (0, 1)
    assert "dashboard_divide" in [job["short_name"] for job in default.jobs]
    assert "?lane=default&state=paused" in panel(staff_client)


def test_pausing_a_lane_pauses_each_of_its_jobs_and_resuming_it_resumes_them(staff_client, settings):
    routed = {name for name, lane in settings.HUEY_LANE_ROUTES.items() if lane == "maintenance"}
    response = staff_client.post("/ops/lanes/maintenance/pause/", {"action": "pause"}, follow=True)
    assert set(PausedJob.objects.values_list("name", flat=True)) == routed
    assert "Paused every job of the maintenance lane (db_backup, done_tasks_cleanup" in response.content.decode()
    assert "Resume lane" in panel(staff_client)
    staff_client.post("/ops/lanes/maintenance/pause/", {"action": "resume"})
    assert not PausedJob.objects.exists()
    assert staff_client.post("/ops/lanes/nowhere/pause/").status_code == 404


def test_pause_controls_sit_by_what_they_pause_on_demand_jobs_sorted_and_apart(staff_client):
    body = panel(staff_client)
    on_demand = body[body.index('id="on-demand-jobs"') : body.index("<h2>Schedule</h2>")]
    names = re.findall(r"<td><a [^>]*>(\w+)</a></td>", on_demand)
    assert names == sorted(names) and "report_build" in names and "digest_send" not in names
    schedule = body[body.index('id="schedule"') :].split("</table>")[0]
    assert schedule.count('value="pause"') == 8  # one per periodic job
    assert "Pause or resume a job" not in body  # the old list at the bottom is gone


def test_each_periodic_job_is_described_by_its_docstring(staff_client):
    body = panel(staff_client)
    assert '<p class="help">Email each user with open tasks a list of them, once a day.</p>' in body
    assert '<p class="help">Notify owners of overdue tasks, once per task per day.</p>' in body
    page = staff_client.get("/ops/schedule/tasks_app.jobs.maintenance.db_backup/").content.decode()
    assert '<p id="description">Back up the app database, check it, keep the newest BACKUP_KEEP.</p>' in page


SNAPSHOT = "tasks_app.jobs.maintenance.stats_snapshot"


def test_run_now_starts_one_run_recorded_as_started_by_the_operator(client, django_capture_on_commit_callbacks):
    operator = make_user(staff=True)
    client.force_login(operator)
    assert "Run now" in client.get(f"/ops/schedule/{SNAPSHOT}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/ops/schedule/{SNAPSHOT}/run/", follow=True)
    run = JobRun.objects.get(name=SNAPSHOT)
    assert response.redirect_chain[-1][0] == f"/ops/schedule/{SNAPSHOT}/"
    assert f"Started stats_snapshot now as job {run.id}." in response.content.decode()
    assert (run.state, run.triggered_by, run.periodic) == (JobRun.State.SUCCEEDED, operator, True)


def test_run_now_while_a_run_holds_the_job_s_lock_is_skipped_not_overlapping(
    staff_client, django_capture_on_commit_callbacks
):
    from huey.contrib.djhuey import HUEY

    with HUEY.lock_task("stats-snapshot"), django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/ops/schedule/{SNAPSHOT}/run/")
    assert response.status_code == 302
    run = JobRun.objects.get(name=SNAPSHOT)
    assert (run.state, run.error) == (JobRun.State.REVOKED, "Skipped: another run of this job holds its lock.")


def test_run_now_of_a_paused_job_says_the_run_waits(staff_client, django_capture_on_commit_callbacks):
    queue.pause_job(SNAPSHOT)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/ops/schedule/{SNAPSHOT}/run/", follow=True)
    assert "its job is paused: it waits until resumed" in response.content.decode()
    assert job_stats.shown_state(JobRun.objects.get(name=SNAPSHOT)) == "paused"


def test_run_now_takes_manage_jobs_a_post_and_a_periodic_job(client):
    viewer = make_user()
    viewer.is_staff = True  # staff, without manage_jobs
    viewer.save()
    client.force_login(viewer)
    assert client.post(f"/ops/schedule/{SNAPSHOT}/run/").status_code == 403
    assert "Run now" not in client.get(f"/ops/schedule/{SNAPSHOT}/").content.decode()
    client.force_login(make_user(staff=True))
    assert client.get(f"/ops/schedule/{SNAPSHOT}/run/").status_code == 405
    assert client.post("/ops/schedule/tasks_app.jobs.files.report_build/run/").status_code == 404
    assert not JobRun.objects.exists()
