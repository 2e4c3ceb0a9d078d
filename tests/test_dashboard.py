"""The operations dashboard, through Django's test client (Huey in immediate mode): its tabs, each
a page of its own whose live part (`?fragment=1`) is small and answered with a 304 while unchanged."""

import datetime
import re

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from huey.contrib.djhuey import db_task

from tasks_app import queue
from tasks_app.dashboard.views import relative
from tasks_app.models import ConsumerHeartbeat, JobEvent, JobRun, PausedJob, PeriodicTick
from tasks_app.services import job_stats
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.django_db

NINE_OH_THREE = datetime.datetime(2026, 1, 1, 9, 3, 30, tzinfo=datetime.UTC)  # a Thursday


@db_task(name="tests.dashboard_divide")
def divide(a: int, b: int) -> float:
    return a / b


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(staff=True))
    return client


TABS = {  # tab: its URL
    "overview": "/ops/",
    "running": "/ops/running/",
    "lanes": "/ops/lanes/",
    "schedule": "/ops/schedule/",
    "failed": "/ops/failed/",
    "consumers": "/ops/consumers/",
    "stats": "/ops/stats/",
}
JOB_TABS = {"running", "failed"}  # single jobs: view_all_jobs


def test_it_forbids_the_dashboard_to_non_staff(client):
    client.force_login(make_user())
    for url in [*TABS.values(), "/ops/?fragment=1", "/ops/failed/?fragment=1", "/ops/jobs/", "/ops/jobs/some-id/"]:
        assert client.get(url).status_code == 403
    assert client.get("/ops/failed/retry/").status_code == 403
    assert client.post("/ops/failed/retry/").status_code == 403
    assert client.post("/ops/jobs/pause/", {"name": queue.job_name(divide)}).status_code == 403
    assert client.post("/ops/lanes/default/pause/").status_code == 403
    assert client.post("/ops/schedule/tasks_app.jobs.maintenance.stats_snapshot/run/").status_code == 403
    assert not PausedJob.objects.exists() and not JobRun.objects.exists()


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/ops/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_overview_shows_failures_and_no_consumer_and_the_stats_tab_the_throughput_chart(staff_client):
    divide(1, 0)
    divide(4, 2)
    body = staff_client.get("/ops/").content.decode()
    assert "Failed jobs, newest" in body and "ZeroDivisionError" in body
    assert "Retry" in body and "Discard" in body
    assert "No consumer is running" in body  # immediate mode: no consumer beats
    assert 'aria-label="Jobs finished per minute"' in staff_client.get("/ops/stats/").content.decode()
    panel = staff_client.get("/ops/?panel=1").content.decode()  # every section at once, as before the tabs
    assert "ZeroDivisionError" in panel and 'aria-label="Jobs finished per minute"' in panel and "<html" not in panel


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
    table = staff_client.get("/ops/consumers/?fragment=1").content.decode()
    assert re.search(r'<td class="nowrap error-text"><time [^>]*>5 min ago</time></td>', table)  # past 60 s
    assert table.count("error-text") == 1
    assert "(history behind)" in staff_client.get("/ops/").content.decode()


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


def test_staff_discard_a_failed_job_and_are_taken_back_to_the_tab_they_were_on(staff_client):
    failed = divide(1, 0)
    response = staff_client.post(f"/ops/jobs/{failed.id}/dismiss/", {"next": "/ops/failed/?page=1"})
    assert response["Location"] == "/ops/failed/?page=1"
    assert "ZeroDivisionError" not in staff_client.get("/ops/failed/?fragment=1").content.decode()
    assert (
        staff_client.post("/ops/jobs/pause/", {"name": "x", "next": "https://elsewhere.example/"})["Location"]
        == "/ops/"
    )


def test_staff_cancel_a_scheduled_job(staff_client):
    later = divide.schedule(args=(1, 1), delay=600)
    staff_client.post(f"/ops/jobs/{later.id}/cancel/")
    assert JobRun.objects.get(pk=later.id).state == JobRun.State.REVOKED


def test_staff_pause_and_resume_a_job_by_name_and_are_told_its_short_name(staff_client):
    name = queue.job_name(divide)
    response = staff_client.post("/ops/jobs/pause/", {"name": name, "action": "pause"}, follow=True)
    assert "Paused dashboard_divide: its runs wait until resumed." in response.content.decode()
    held = divide(1, 1)
    assert JobRun.objects.get(pk=held.id).state == JobRun.State.SCHEDULED
    response = staff_client.post("/ops/jobs/pause/", {"name": name, "action": "resume"}, follow=True)
    assert "Resumed dashboard_divide." in response.content.decode() and name not in response.content.decode()
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
    """The Schedule tab's table: job -> (when, if missed, next run)."""
    section = body[body.index('<table id="schedule">') :]
    table = section[: section.index("</table>")]
    cells = r"<tr>\s*<td><a [^>]*>(\w+)</a>.*?</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<(]*)"
    rows = re.findall(cells, table, re.DOTALL)
    return {job: (when, missed, next_run.strip()) for job, when, missed, next_run in rows}


def test_the_dashboard_shows_each_schedule_in_full_with_its_missed_run_policy_and_next_run(staff_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(NINE_OH_THREE, tick=False):
        rows = schedule_rows(staff_client.get("/ops/schedule/").content.decode())
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


def test_a_paused_job_is_named_at_the_top_of_every_tab_with_its_held_runs_and_a_resume_button(staff_client):
    name = queue.job_name(divide)
    assert 'id="paused-banner"' not in panel(staff_client)
    staff_client.post("/ops/jobs/pause/", {"name": name, "action": "pause"})
    divide(1, 1)
    for url in TABS.values():
        body = staff_client.get(url, {"fragment": 1}).content.decode()
        assert body.lstrip().startswith('<section class="message error" id="paused-banner"'), url
        banner = body[: body.index("</section>")]
        assert "1 job is paused" in banner and "dashboard_divide" in banner and "1 run held" in banner
        assert f'<button form="resume-form" name="name" value="{name}"' in banner
    assert 'id="resume-form"' in staff_client.get("/ops/stats/").content.decode()  # the form the button sends
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
    assert schedule.count('form="pause-form"') == 8  # one per periodic job
    assert "Pause or resume a job" not in body  # the old list at the bottom is gone
    lanes = staff_client.get("/ops/lanes/").content.decode()
    assert lanes.index('id="lanes"') < lanes.index('id="on-demand-jobs"')  # the Lanes tab holds both


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
    # The page shows the run it started, with its state, in its live part (refreshed by dashboard.js).
    runs = client.get(f"/ops/schedule/{SNAPSHOT}/", {"fragment": 1}).content.decode()
    first = runs[runs.index("<tbody>") :].split("</tr>")[0]
    assert f'href="/ops/jobs/{run.id}/"' in first and ">succeeded<" in first and operator.username in first
    page = response.content.decode()
    assert '<table id="runs">' in page and f'href="/ops/jobs/{run.id}/"' in page.split('id="runs"')[1]


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


def test_staff_without_view_all_jobs_see_the_latest_runs_states_but_not_the_runs(client):
    starter = make_user(staff=True)
    JobRun.objects.create(
        id="snap-1",
        name=SNAPSHOT,
        queue="q",
        state=JobRun.State.FAILED,
        triggered_by=starter,
        enqueued_at=timezone.now(),
        periodic=True,
    )
    client.force_login(make_staff("clerk"))
    runs = client.get(f"/ops/schedule/{SNAPSHOT}/", {"fragment": 1}).content.decode()
    assert ">failed<" in runs and "snap-1" not in runs and starter.username not in runs
    client.force_login(make_staff("watcher", "view_all_jobs"))
    runs = client.get(f"/ops/schedule/{SNAPSHOT}/", {"fragment": 1}).content.decode()
    assert 'href="/ops/jobs/snap-1/"' in runs and starter.username in runs


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


# The tabs: pages, live parts, permissions


def test_each_tab_is_a_page_of_its_own_with_the_tabs_and_a_live_part(staff_client):
    divide(1, 0)
    for tab, url in TABS.items():
        response = staff_client.get(url)
        body = response.content.decode()
        assert response.status_code == 200 and "<html" in body, tab
        assert f'href="{url}" aria-current="page"' in body, tab  # the open tab, marked
        assert all(f'href="{other}"' in body for other in TABS.values()), tab
        assert f'data-refresh-url="{url}?fragment=1"' in body, tab
        fragment = staff_client.get(url, {"fragment": 1})
        assert fragment.status_code == 200 and "<html" not in fragment.content.decode(), tab
        assert fragment.content.decode() in body, tab  # the live part is the page's, as the page has it


def test_staff_without_view_all_jobs_get_the_tabs_of_counts_only(client):
    client.force_login(make_staff("clerk"))
    divide(1, 0)
    for tab, url in TABS.items():
        expected = 403 if tab in JOB_TABS else 200
        assert client.get(url).status_code == expected, tab
        assert client.get(url, {"fragment": 1}).status_code == expected, tab
    body = client.get("/ops/").content.decode()
    assert 'href="/ops/running/"' not in body and 'href="/ops/failed/"' not in body and 'href="/ops/jobs/"' not in body
    assert "ZeroDivisionError" not in body and 'id="jobs-hidden"' in body
    assert 'id="pause-form"' not in body and 'form="pause-form"' not in client.get("/ops/lanes/").content.decode()
    assert client.get("/ops/failed/retry/").status_code == 403


def test_view_all_jobs_opens_the_jobs_tabs_without_their_buttons(client):
    client.force_login(make_staff("watcher", "view_all_jobs"))
    divide(1, 0)
    for url in ["/ops/running/", "/ops/failed/"]:
        assert client.get(url).status_code == 200
    failed = client.get("/ops/failed/").content.decode()
    assert "ZeroDivisionError" in failed
    assert "Retry" not in failed and "Discard" not in failed and 'id="job-form"' not in failed
    assert client.get("/ops/failed/retry/").status_code == 403
    assert client.post("/ops/failed/retry/", {"until": timezone.now().isoformat()}).status_code == 403
    assert not JobRun.objects.filter(retry_of__isnull=False).exists()


def test_manage_jobs_gets_the_buttons_which_send_the_page_s_forms(staff_client):
    failed = divide(1, 0)
    page = staff_client.get("/ops/failed/").content.decode()
    fragment = staff_client.get("/ops/failed/", {"fragment": 1}).content.decode()
    assert f'<button form="job-form" formaction="/ops/jobs/{failed.id}/retry/"' in fragment
    assert f'<button form="job-form" formaction="/ops/jobs/{failed.id}/dismiss/"' in fragment
    assert "csrfmiddlewaretoken" not in fragment  # the token is in the page's forms, outside the live part
    assert '<form method="post" action="/ops/" id="job-form" hidden>' in page and "csrfmiddlewaretoken" in page
    assert 'href="/ops/failed/retry/">Retry all 1…</a>' in fragment


def test_an_unchanged_live_part_is_answered_304_and_a_change_with_the_new_part(staff_client):
    divide(1, 0)
    first = staff_client.get("/ops/failed/", {"fragment": 1})
    etag = first["ETag"]
    assert etag and "private" in first["Cache-Control"] and "no-cache" in first["Cache-Control"]
    assert f'data-etag="{etag.replace(chr(34), "&quot;")}"' in staff_client.get("/ops/failed/").content.decode()
    again = staff_client.get("/ops/failed/", {"fragment": 1}, HTTP_IF_NONE_MATCH=etag)
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    divide(2, 0)
    changed = staff_client.get("/ops/failed/", {"fragment": 1}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag and changed.content.count(b"ZeroDivisionError") == 2


def test_the_passing_of_time_alone_changes_no_live_part(staff_client):
    """Its relative times' words ("1 min ago") are left out of the ETag: dashboard.js words them anew."""
    with time_machine.travel(NINE_OH_THREE, tick=False):
        divide(1, 0)
        first = staff_client.get("/ops/failed/", {"fragment": 1})
    with time_machine.travel(NINE_OH_THREE + datetime.timedelta(minutes=5), tick=False):
        later = staff_client.get("/ops/failed/", {"fragment": 1}, HTTP_IF_NONE_MATCH=first["ETag"])
        assert later.status_code == 304
        assert b">5 min ago</time>" in staff_client.get("/ops/failed/", {"fragment": 1}).content
    assert b">just now</time>" in first.content


def test_times_are_relative_with_the_exact_time_in_their_title(staff_client, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(NINE_OH_THREE, tick=False):
        divide(1, 0)
    with time_machine.travel(NINE_OH_THREE + datetime.timedelta(minutes=3, seconds=20), tick=False):
        listed = staff_client.get("/ops/jobs/").content.decode()
    cell = '<td class="nowrap"><time datetime="2026-01-01T09:03:30+00:00" title="2026-01-01 10:03:30 CET">3 min ago</time></td>'
    assert cell in listed  # the enqueue time, on one line
    assert "2026-01-01 10:03:30 CET</td>" not in listed


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.4, "just now"),
        (12.9, "12 s ago"),
        (60, "1 min ago"),
        (3599, "59 min ago"),
        (7200, "2 h ago"),
        (47 * 3600, "47 h ago"),
        (3 * 86400, "3 d ago"),
        (-300, "in 5 min"),
        (-0.2, "now"),
    ],
)
def test_relative_times_are_worded_in_a_few_characters(seconds, words):
    assert relative(seconds) == words


# Failed jobs: retried ones marked, Retry all


def test_a_retried_failed_job_is_marked_retried_with_a_link_to_its_retry(
    staff_client, django_capture_on_commit_callbacks
):
    failed = divide(1, 0)
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"/ops/jobs/{failed.id}/retry/")
    retry = JobRun.objects.get(retry_of_id=failed.id)
    mark = f'<a class="retried" href="/ops/jobs/{retry.id}/" title="Retried as job {retry.id}">retried: failed</a>'
    listed = staff_client.get("/ops/jobs/", {"state": "failed"}).content.decode()
    row = listed[listed.index(f'href="/ops/jobs/{failed.id}/"') :].split("</tr>")[0]
    assert '<span class="state state-failed">failed</span> ' + mark in row
    retry_row = listed[listed.index(f'href="/ops/jobs/{retry.id}/">') :].split("</tr>")[0]
    assert "retried:" not in retry_row  # the retry itself has not been retried
    assert mark in staff_client.get(f"/ops/jobs/{failed.id}/").content.decode().split("</h1>")[0]
    assert f"/ops/jobs/{failed.id}/" not in staff_client.get("/ops/failed/").content.decode()  # decided: off the list


def _failed_at(at: datetime.datetime, n: int = 1) -> list[str]:
    with time_machine.travel(at, tick=False):
        return [divide(n, 0).id for n in range(n)]


def test_retry_all_asks_first_then_retries_each_failed_job_once(staff_client, django_capture_on_commit_callbacks):
    earlier = _failed_at(timezone.now() - datetime.timedelta(minutes=5), 3)
    unkept = divide(9, 0).id
    JobRun.objects.filter(pk=unkept).update(message=None)  # pruned: it can only be discarded
    ask = staff_client.get("/ops/failed/retry/")
    assert ask.status_code == 200 and not JobRun.objects.filter(retry_of__isnull=False).exists()
    body = ask.content.decode()
    assert "Retry 3 failed jobs" in body and "<li>dashboard_divide: 3</li>" in body
    assert "1 failed job has no message kept" in body
    until = ask.context["until"]
    later = _failed_at(timezone.now() + datetime.timedelta(minutes=1))  # fails after the question: not confirmed

    with (
        time_machine.travel(timezone.now() + datetime.timedelta(minutes=2)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = staff_client.post("/ops/failed/retry/", {"until": until}, follow=True)
    assert response.redirect_chain[-1][0] == "/ops/failed/"
    assert "Retrying 3 failed jobs: dashboard_divide × 3." in response.content.decode()
    assert set(JobRun.objects.filter(retry_of__isnull=False).values_list("retry_of_id", flat=True)) == set(earlier)
    assert JobRun.objects.filter(pk__in=earlier, dismissed_at__isnull=False).count() == 3
    assert not JobRun.objects.filter(retry_of_id__in=[unkept, *later]).exists()
    detail = JobEvent.objects.get(job_id=earlier[0], kind="retried").detail
    assert detail.endswith("from /ops/ (Retry all) by " + response.context["user"].username)

    with django_capture_on_commit_callbacks(execute=True):  # the same confirmation again: nothing twice
        again = staff_client.post("/ops/failed/retry/", {"until": until}, follow=True)
    assert JobRun.objects.filter(retry_of_id__in=earlier).count() == 3
    assert "No failed job to retry." in again.content.decode()


def test_retry_all_takes_a_post_with_what_was_confirmed(staff_client):
    divide(1, 0)
    response = staff_client.post("/ops/failed/retry/", follow=True)
    assert response.redirect_chain[-1][0] == "/ops/failed/retry/"
    assert "Nothing retried: confirm which failed jobs first." in response.content.decode()
    assert not JobRun.objects.filter(retry_of__isnull=False).exists()


# What the live parts cost: bytes, and queries that do not grow with the history


def seed_queue(size: int) -> None:
    """A busy queue over a history of `size` finished jobs: failed ones (some retried), running ones
    with progress, waiting ones, a job requeued after its consumer died, a periodic job's ticks and
    runs, two consumers."""
    now = timezone.now()
    names = [
        "tasks_app.jobs.files.report_build",
        "tasks_app.jobs.emails.email_send",
        "tasks_app.jobs.notifications.task_assigned_notify",
    ]
    lanes = ["reports", "emails", "default"]
    error = "SMTPServerDisconnected: Connection unexpectedly closed by relay.internal while sending the digest"
    rows = []
    for n in range(size):
        at = now - datetime.timedelta(minutes=n % 90, seconds=n)
        state = JobRun.State.FAILED if n % 5 == 0 else JobRun.State.SUCCEEDED
        rows.append(
            JobRun(
                id=f"done-{n}",
                name=names[n % 3],
                queue="tasks",
                lane=lanes[n % 3],
                state=state,
                enqueued_at=at,
                started_at=at,
                finished_at=at,
                duration=0.5,
                attempts=1,
                message=b"m",
                error=error if state == "failed" else "",
                dismissed_at=at if n % 10 == 0 else None,
            )
        )
    for n in range(3):
        rows.append(
            JobRun(
                id=f"running-{n}",
                name=names[0],
                queue="tasks",
                lane="reports",
                state=JobRun.State.RUNNING,
                enqueued_at=now,
                started_at=now,
                progress_current=10 * n,
                progress_total=100,
                progress_message="rows",
            )
        )
    rows += [JobRun(id=f"waiting-{n}", name=names[1], queue="tasks", lane="emails", enqueued_at=now) for n in range(5)]
    snapshot = [
        JobRun(
            id=f"snap-{n}",
            name=SNAPSHOT,
            periodic=True,
            queue="tasks",
            lane="maintenance",
            state="succeeded",
            enqueued_at=now - datetime.timedelta(hours=n),
            started_at=now - datetime.timedelta(hours=n),
        )
        for n in range(min(size, 24 * 7))
    ]
    JobRun.objects.bulk_create(rows + snapshot)
    JobRun.objects.bulk_create(  # retried: dismissed, with a retry of their own
        [
            JobRun(id=f"retry-of-done-{n}", name=names[0], queue="tasks", retry_of_id=f"done-{n}", enqueued_at=now)
            for n in range(0, size, 10)
        ]
    )
    JobEvent.objects.create(job_id="done-1", kind="orphaned", at=now, detail="held by consumer vm:1:ab")
    PeriodicTick.objects.bulk_create(
        [
            PeriodicTick(
                name=SNAPSHOT,
                due_at=(now - datetime.timedelta(hours=n)).replace(minute=0, second=0, microsecond=0),
                outcome=PeriodicTick.Outcome.RAN,
                job_id=f"snap-{n}",
                recorded_at=now,
            )
            for n in range(min(size, 24 * 7))
        ]
    )
    for pid in (101, 102):
        ConsumerHeartbeat.objects.create(
            consumer_id=f"vm:{pid}:ab",
            hostname="vm",
            pid=pid,
            workers=3,
            started_at=now,
            beat_at=now,
            history_flushed_at=now,
        )
    queue.pause_job("tasks_app.jobs.files.import_run")


def test_each_tab_s_live_part_is_a_small_part_of_the_whole_page(staff_client):
    seed_queue(300)
    whole = len(staff_client.get("/ops/?panel=1").content)  # every section, as /ops/ refreshed itself before
    sizes = {tab: len(staff_client.get(url, {"fragment": 1}).content) for tab, url in TABS.items()}
    assert whole > 30_000
    assert all(size < whole / 3 for size in sizes.values()), (whole, sizes)
    assert sum(sizes.values()) / len(sizes) < whole / 6, (whole, sizes)
    assert all(size < 10_000 for size in sizes.values()), sizes
    assert sizes["consumers"] < 2_000 and sizes["running"] < 3_000 and sizes["lanes"] < 4_000, sizes
    assert sizes["overview"] < 5_000, sizes


# Queries per tab: its page, then its live part (session and user included; the page also counts the
# header's unread notices). The same with 10 or 1,000 finished jobs in the history. The schedule's
# are 4 per periodic job (job_stats.periodic_jobs reads each job's last tick and last run).
QUERIES = {
    "/ops/": (38, 8),  # the page holds the schedule, its live part not
    "/ops/running/": (7, 6),
    "/ops/lanes/": (8, 6),
    "/ops/schedule/": (33, 32),
    "/ops/failed/": (8, 7),
    "/ops/consumers/": (7 + (connection.vendor == "postgresql"), 5),  # the files' health reads PostgreSQL's size
    "/ops/stats/": (9, 8),
    "/ops/jobs/": (6, None),  # not live
    f"/ops/schedule/{SNAPSHOT}/": (8, 3),
}


@pytest.mark.parametrize("size", [10, 1000])
@pytest.mark.parametrize("url", list(QUERIES))
def test_a_tab_costs_the_same_queries_whatever_the_history(staff_client, django_assert_num_queries, url, size):
    seed_queue(size)
    staff_client.get("/ops/")  # the session's first request keeps the person's time zone in it
    page, fragment = QUERIES[url]
    with django_assert_num_queries(page):
        assert staff_client.get(url).status_code == 200
    if fragment is not None:
        with django_assert_num_queries(fragment):
            assert staff_client.get(url, {"fragment": 1}).status_code == 200


def test_consumers_are_named_by_the_lanes_they_serve(staff_client, settings):
    from tasks_app.queue import writer

    settings.HUEY_CONSUMER_LANES = ["reports", "imports"]
    now = timezone.now()
    writer._heartbeat(now, 3, now)  # what a consumer's heartbeat writes
    assert ConsumerHeartbeat.objects.get().lanes == "reports, imports"
    for url in ["/ops/", "/ops/consumers/"]:
        assert "<td>reports, imports</td>" in staff_client.get(url).content.decode()
