"""The periodic ledger and missed-run policies, with fixed clocks: what a scheduler runs at a given minute.

`periodic.due_jobs` is what every consumer's scheduler calls each minute (`LedgerMixin.read_periodic`),
called here with the app's real periodic jobs; tests/integration/test_periodic_catch_up.py runs
the same on real consumers.
"""

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from huey.contrib.djhuey import HUEY

from tasks_app import jobs, queue
from tasks_app.models import JobRun, PeriodicTick, UniqueJob
from tasks_app.queue import periodic
from tasks_app.services import job_runs, periodic_ledger
from tests.backends import postgres_only
from tests.concurrency import at_once
from tests.factories import make_user

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
DIGEST = queue.job_name(jobs.digest_send)
OVERDUE = queue.job_name(jobs.overdue_check)
BACKUP = queue.job_name(jobs.db_backup)
Outcome = PeriodicTick.Outcome


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def at(hhmm: str, day: int = 1) -> datetime.datetime:
    """A minute of June 2026 in Berlin (summer time: UTC+2), as the aware UTC time a scheduler uses."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime.datetime(2026, 6, day, hour, minute, tzinfo=BERLIN).astimezone(datetime.UTC)


def ran_until(moment: datetime.datetime) -> None:
    """The ledger of consumers that ran until `moment`: each job's latest tick recorded."""
    for task_class in HUEY._registry._periodic_tasks:
        PeriodicTick.objects.create(
            name=HUEY._registry.task_to_string(task_class),
            due_at=task_class.periodic_schedule.previous_run(moment),
            outcome=Outcome.RAN,
            recorded_at=moment,
        )


def back_at(moment: datetime.datetime, checked: datetime.datetime | None = None) -> dict[str, object]:
    """What a scheduler (just started, or last checked at `checked`) enqueues at `moment`, by job name."""
    due = periodic.due_jobs(HUEY._registry.periodic_tasks, moment, checked)
    return {HUEY._registry.task_to_string(type(task)): task for task in due}


def tick(name: str, moment: datetime.datetime) -> PeriodicTick:
    return PeriodicTick.objects.get(name=name, due_at=moment)


class TestMissedRuns:
    def test_a_consumer_back_at_0820_runs_the_0800_digest_once_late(self):
        ran_until(at("07:59"))
        due = back_at(at("08:20"))
        assert DIGEST in due
        missed = tick(DIGEST, at("08:00"))
        assert (missed.outcome, missed.job_id) == (Outcome.CAUGHT_UP, due[DIGEST].id)
        assert missed.detail == (
            "no consumer was running at 2026-06-01 08:00 CEST; run late at 2026-06-01 08:20 CEST "
            "(run once if within 4 h)"
        )
        assert DIGEST not in back_at(at("08:21"))  # a second consumer back a minute later
        assert PeriodicTick.objects.filter(name=DIGEST).count() == 2  # the seeded tick and 08:00

    def test_back_at_1300_the_digest_is_not_sent_and_the_ledger_says_why(self):
        ran_until(at("07:59"))
        assert DIGEST not in back_at(at("13:00"))
        missed = tick(DIGEST, at("08:00"))
        assert (missed.outcome, missed.job_id) == (Outcome.MISSED, "")
        assert missed.detail == (
            "no consumer was running at 2026-06-01 08:00 CEST; "
            "too late at 2026-06-01 13:00 CEST to run it (run once if within 4 h)"
        )

    def test_a_frequent_job_skips_what_it_missed_and_runs_on_time_again(self):
        ran_until(at("07:59"))
        due = back_at(at("08:20"))
        assert tick(OVERDUE, at("08:00")).outcome == Outcome.MISSED
        assert (
            tick(OVERDUE, at("08:10")).detail == "no consumer was running at 2026-06-01 08:10 CEST; not run late (skip)"
        )
        assert (tick(OVERDUE, at("08:20")).outcome, tick(OVERDUE, at("08:20")).job_id) == (Outcome.RAN, due[OVERDUE].id)

    def test_of_several_missed_runs_only_the_latest_runs_late(self):
        ran_until(at("02:31"))  # the backup runs at :30 UTC every 6 hours: 02:30, 08:30, 14:30, 20:30 here
        due = back_at(at("21:00"))
        assert BACKUP in due
        assert tick(BACKUP, at("20:30")).outcome == Outcome.CAUGHT_UP
        for earlier in ("08:30", "14:30"):
            assert tick(BACKUP, at(earlier)).detail.endswith(
                "the later missed run at 2026-06-01 20:30 CEST was run instead"
            )

    def test_a_job_due_now_is_not_also_run_late(self):
        ran_until(at("02:31"))
        due = back_at(at("14:30"))
        assert tick(BACKUP, at("14:30")).job_id == due[BACKUP].id
        assert tick(BACKUP, at("08:30")).detail.endswith("not run late: it runs on time at 2026-06-01 14:30 CEST")

    def test_a_tick_younger_than_the_grace_is_left_to_a_scheduler_about_to_take_it(self):
        ran_until(at("07:59"))
        back_at(at("08:11"))  # a consumer starting while another, alive, has not yet checked 08:10
        assert not PeriodicTick.objects.filter(name=OVERDUE, due_at=at("08:10")).exists()
        assert OVERDUE in back_at(at("08:10"), checked=at("08:09"))  # the live one takes it
        assert back_at(at("08:14"), checked=None).keys().isdisjoint({OVERDUE})
        assert tick(OVERDUE, at("08:10")).outcome == Outcome.RAN

    def test_a_fresh_ledger_misses_nothing(self):
        due = back_at(at("08:20"))
        assert set(due) == {OVERDUE}  # due this minute; nothing before was ever expected
        assert list(PeriodicTick.objects.values_list("name", "due_at")) == [(OVERDUE, at("08:20"))]

    def test_a_paused_job_s_tick_is_recorded_as_skipped_not_run(self):
        queue.pause_job(DIGEST)
        assert DIGEST not in back_at(at("08:00"))
        paused = tick(DIGEST, at("08:00"))
        assert (paused.outcome, paused.job_id, paused.detail) == (Outcome.PAUSED, "", "skipped: the job is paused")
        queue.resume_job(DIGEST)  # and forget it: paused names are cached a second per process

    def test_a_scheduler_that_checks_every_minute_runs_each_tick_once(self):
        checked = None
        for minute in range(0, 30):
            now = at("08:00") + datetime.timedelta(minutes=minute)
            back_at(now, checked)
            checked = now
        assert PeriodicTick.objects.filter(name=OVERDUE).count() == 3  # 08:00, 08:10, 08:20
        assert set(PeriodicTick.objects.values_list("outcome", flat=True)) == {Outcome.RAN}

    @postgres_only  # SQLite runs one writer at a time (and the tests' in-memory database refuses a second)
    def test_two_schedulers_catching_up_at_once_run_the_digest_once(self, transactional_db):
        ran_until(at("07:59"))

        def scheduler(_):
            try:
                return back_at(at("08:20"))
            finally:
                connection.close()

        found = at_once(2, scheduler)
        assert sorted(DIGEST in due for due in found) == [False, True]


class TestTheLedgerPages:
    @pytest.fixture
    def staff_client(self, client):
        client.force_login(make_user(staff=True))
        return client

    def test_a_job_s_schedule_page_answers_why_it_did_not_run_at_0800(self, staff_client):
        ran_until(at("07:59"))
        back_at(at("13:00"))
        with time_machine.travel(at("13:05"), tick=False):
            body = staff_client.get(f"/ops/schedule/{DIGEST}/").content.decode()
        assert "run once if within 4 h" in body
        assert "2026-06-01 08:00 CEST" in body and ">missed<" in body
        assert "too late at 2026-06-01 13:00 CEST to run it" in body

    def test_the_overview_counts_each_job_s_misses_of_the_week(self, staff_client):
        ran_until(at("07:59"))
        back_at(at("13:00"))
        with time_machine.travel(at("13:05"), tick=False):
            body = staff_client.get("/ops/").content.decode()
        row = body[body.index(">digest_send</a>") :].split("</tr>")[0]
        assert "2026-06-01 08:00 CEST" in row and ">missed<" in row  # its last expected run
        assert f'<a href="/ops/schedule/{DIGEST}/">1</a></td>' in row  # misses in 7 days

    def test_staff_without_view_all_jobs_see_verdicts_but_no_job_error_or_id(self, client):
        from django.contrib.auth.models import Permission
        from django.utils import timezone

        due = timezone.now().replace(second=0, microsecond=0) - datetime.timedelta(hours=1)
        JobRun.objects.create(
            id="digest-job-1",
            name=DIGEST,
            queue="q",
            state=JobRun.State.FAILED,
            error="SMTPAuthenticationError: bad password for relay.internal",
            started_at=due,
        )
        PeriodicTick.objects.create(
            name=DIGEST, due_at=due, outcome=PeriodicTick.Outcome.RAN, job_id="digest-job-1", recorded_at=due
        )
        viewer = make_user()
        viewer.is_staff = True  # staff, without a permission
        viewer.save()
        client.force_login(viewer)
        for url in [f"/ops/schedule/{DIGEST}/", "/ops/?panel=1"]:
            body = client.get(url).content.decode()
            assert "ran and failed" in body or "failed" in body
            assert "relay.internal" not in body and "digest-job-1" not in body, url

        viewer.user_permissions.add(Permission.objects.get(codename="view_all_jobs"))
        client.force_login(viewer)
        body = client.get(f"/ops/schedule/{DIGEST}/").content.decode()
        assert "relay.internal" in body and "/ops/jobs/digest-job-1/" in body

    def test_a_fresh_install_shows_no_tick_from_before_the_ledger(self, staff_client):
        with time_machine.travel(at("13:05"), tick=False):
            page = staff_client.get(f"/ops/schedule/{DIGEST}/").content.decode()
            overview = staff_client.get("/ops/?panel=1").content.decode()
        assert "before the ledger" not in page and "before the ledger" not in overview
        assert "No run was due in the last 7 days since a consumer first scheduled this job." in page
        row = overview[overview.index(">digest_send</a>") :].split("</tr>")[0]
        assert "none yet" in row  # its last expected run

    def test_a_job_s_ticks_start_at_its_first_recorded_one(self):
        back_at(at("08:20"))  # a fresh ledger: overdue_check is first recorded at 08:20
        schedule = jobs.overdue_check.task_class.periodic_schedule
        shown = periodic_ledger.ticks(OVERDUE, schedule, at("09:05"))
        assert [tick.due_at for tick in shown] == [at("09:00"), at("08:50"), at("08:40"), at("08:30"), at("08:20")]
        assert [tick.verdict for tick in shown][:2] == ["not recorded yet", "not recorded yet"]
        assert periodic_ledger.tick_at(OVERDUE, at("08:10"), at("09:05")) is None
        assert periodic_ledger.tick_at(DIGEST, at("08:00"), at("09:05")) is None  # none recorded yet
        assert periodic_ledger.tick_at(DIGEST, at("08:00"), at("08:01")).verdict == "due now"

    def test_an_unknown_job_has_no_schedule_page(self, staff_client):
        assert staff_client.get("/ops/schedule/tasks_app.jobs.nothing/").status_code == 404


def test_old_ticks_and_keys_are_pruned_with_the_history():
    ran_until(at("07:59"))
    UniqueJob.objects.create(key="old", job_id="gone", after_finish=datetime.timedelta(0), claimed_at=at("07:00"))
    with time_machine.travel(at("08:00", day=20), tick=False):
        job_runs.job_history_prune(older_than_days=14)
    assert not PeriodicTick.objects.exists() and not UniqueJob.objects.exists()
    assert not JobRun.objects.exists()
