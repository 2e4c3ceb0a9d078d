"""Lanes: the route table, per-lane limits in the claim, and what /ops/ and /healthz show."""

import contextlib
import datetime

import pytest
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from tasks_app import jobs
from tasks_app.models import JobRun
from tasks_app.queue import lanes
from tasks_app.queue.context import current
from tasks_app.services import reports
from tests.factories import make_user
from tests.live_stack import settings_error


class TestSettings:
    def test_limits_are_read_from_the_route_table_syntax(self):
        assert lanes.parse_limits("default=2, emails=2,reports=1", setting="X") == {
            "default": 2,
            "emails": 2,
            "reports": 1,
        }

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("default=0", "must be at least 1"),
            ("default=two", "must be a whole number"),
            ("emails=2", "the 'default' lane is missing"),
            ("default=1,default=2", "listed twice"),
            ("default=1,Big Lane=1", "is not a lane name"),
        ],
    )
    def test_bad_limits_are_refused_with_the_reason(self, text, message):
        with pytest.raises(lanes.LaneError, match=message):
            lanes.parse_limits(text, setting="HUEY_LANES")

    @pytest.mark.parametrize(
        ("variable", "value", "message"),
        [
            ("HUEY_LANES", "default=2,emails=0", "HUEY_LANES: the value of lane 'emails' must be at least 1"),
            ("HUEY_LANES", "default=2", "HUEY_LANE_ROUTES: lane 'emails' is not defined in HUEY_LANES"),
            ("HUEY_CONSUMER_LANES", "reports,nope", "HUEY_CONSUMER_LANES: lane 'nope' is not defined"),
            ("HEALTH_LANE_MAX_AGE", "reports=soon", "HEALTH_LANE_MAX_AGE: the value of lane 'reports'"),
        ],
    )
    def test_bad_lane_settings_stop_the_start_with_a_clear_error(self, variable, value, message):
        assert message in settings_error(**{variable: value})


@pytest.fixture
def queue_huey(queue_backend):
    """A leased queue of its own, consumed by hand: reports limited to one at a time."""
    huey = queue_backend.huey(
        "lanes",
        lane_limits={"default": 1, "reports": 1},
        lane_routes={f"{__name__}.slow": "reports"},
    )
    huey.start_consuming()
    yield huey
    huey.stop_consuming()


class TestClaimsRespectLimits:
    def test_a_full_lane_leaves_its_messages_waiting_while_other_lanes_run(self, queue_huey):
        slow = queue_huey.task(name="slow")(lambda n: n)
        quick = queue_huey.task(name="quick")(lambda n: n)
        slow(1), slow(2), quick(3)

        first, second = queue_huey.dequeue(), queue_huey.dequeue()
        assert [first.args, second.args] == [(1,), (3,)]  # the second report waits for the first
        assert queue_huey.dequeue() is None  # both lanes are at their limit
        queue_huey.execute(first)
        assert queue_huey.dequeue().args == (2,)

    def test_the_best_message_of_any_open_lane_goes_first(self, queue_huey):
        slow = queue_huey.task(name="slow")(lambda n: n)
        quick = queue_huey.task(name="quick")(lambda n: n)
        quick(1)
        queue_huey.enqueue(slow.s(2, priority=10))
        assert queue_huey.dequeue().args == (2,)

    def test_a_message_that_cannot_be_read_is_dropped_and_frees_its_place(self, queue_huey):
        quick = queue_huey.task(name="quick")(lambda n: n)
        queue_huey.storage.enqueue(b"not a pickle")
        quick(1)
        assert queue_huey.dequeue() is None  # dropped, with a log line
        assert queue_huey.dequeue().args == (1,)  # the default lane (limit 1) has its place back

    def test_a_consumer_serving_some_lanes_never_claims_from_the_others(self, queue_backend):
        huey = queue_backend.huey("lanes", lane_limits={"reports": 1}, lane_routes={})
        quick = huey.task(name="quick")(lambda: None)
        quick()
        huey.start_consuming()
        try:
            assert huey.dequeue() is None
            assert huey.pending_count() == 1
        finally:
            huey.stop_consuming()


@contextlib.contextmanager
def acting_for(person: int):
    """Enqueue as a request of this person does (`queue.writer.enqueueing`)."""
    current.user_id = person
    try:
        yield
    finally:
        current.user_id = None


def claim_all(huey) -> list[tuple]:
    """Claim and run every waiting job one at a time; the arguments in the order they ran."""
    order = []
    while (job := huey.dequeue()) is not None:
        order.append(job.args)
        huey.execute(job)
    return order


class TestFairTurns:
    def test_a_second_persons_job_waits_behind_one_of_the_firsts_not_all(self, queue_huey):
        quick = queue_huey.task(name="quick")(lambda who, n: None)
        with acting_for(1):
            for n in range(10):
                quick("mallory", n)
        with acting_for(2):
            quick("bob", 0)
        assert claim_all(queue_huey)[:3] == [("mallory", 0), ("bob", 0), ("mallory", 1)]

    def test_two_peoples_jobs_take_turns(self, queue_huey):
        quick = queue_huey.task(name="quick")(lambda who, n: None)
        with acting_for(1):
            for n in range(3):
                quick("mallory", n)
        with acting_for(2):
            for n in range(3):
                quick("bob", n)
        assert claim_all(queue_huey) == [(who, n) for n in range(3) for who in ("mallory", "bob")]

    def test_a_job_of_no_one_and_a_due_delayed_job_take_the_heads_turn(self, queue_huey):
        quick = queue_huey.task(name="quick")(lambda who, n: None)
        with acting_for(1):
            for n in range(5):
                quick("mallory", n)
        quick("system", 0)
        queue_huey.add_schedule(quick.s("delayed", 0, eta=datetime.datetime(2000, 1, 1)))
        queue_huey.read_schedule()  # the consumer's scheduler: due, so moved into the queue
        assert claim_all(queue_huey)[:4] == [("mallory", 0), ("system", 0), ("delayed", 0), ("mallory", 1)]

    def test_priority_goes_before_turns(self, queue_huey):
        quick = queue_huey.task(name="quick")(lambda who, n: None)
        with acting_for(1):
            quick("mallory", 0)
            queue_huey.enqueue(quick.s("mallory", 1, priority=10))
        with acting_for(2):
            quick("bob", 0)
        assert claim_all(queue_huey) == [("mallory", 1), ("mallory", 0), ("bob", 0)]


@pytest.fixture
def fair_huey(queue_backend):
    """Reports in a fair lane of two places."""
    huey = queue_backend.huey(
        "fair",
        lane_limits={"default": 1, "reports": 2},
        lane_routes={f"{__name__}.slow": "reports"},
        fair_lanes=["reports"],
    )
    huey.start_consuming()
    yield huey
    huey.stop_consuming()


class TestFairLanes:
    def test_one_person_never_holds_the_last_place_of_a_fair_lane(self, fair_huey):
        slow = fair_huey.task(name="slow")(lambda who, n: None)
        with acting_for(1):
            for n in range(3):
                slow("mallory", n)
        first = fair_huey.dequeue()
        assert first.args == ("mallory", 0)
        assert fair_huey.dequeue() is None  # the second place is kept for someone else
        with acting_for(2):
            slow("bob", 0)
        assert fair_huey.dequeue().args == ("bob", 0)
        fair_huey.execute(first)
        assert fair_huey.dequeue().args == ("mallory", 1)

    def test_jobs_of_no_one_may_take_every_place(self, fair_huey):
        slow = fair_huey.task(name="slow")(lambda who, n: None)
        slow("system", 0), slow("system", 1)
        assert [fair_huey.dequeue().args, fair_huey.dequeue().args] == [("system", 0), ("system", 1)]

    def test_a_jobs_follow_ups_are_its_persons(self, fair_huey):
        slow = fair_huey.task(name="slow")(lambda who, n: None)

        @fair_huey.task(name="fan_out")
        def fan_out():
            slow("from a job", 0)

        with acting_for(7):
            fan_out()
        fair_huey.execute(fair_huey.dequeue())
        parties = fair_huey.storage.sql("select party from message where claimed_by is null", results=True)
        assert parties == [("7",)]


@pytest.mark.django_db
class TestVisibility:
    def test_a_job_records_its_lane(self, alice):
        report = reports.report_request(owner=alice, format="csv")
        result = jobs.report_build(report.pk)
        assert JobRun.objects.get(pk=result.id).lane == "reports"
        assert HUEY.lane_of(jobs.email_send.s(1)) == "emails"

    def test_ops_shows_each_lane_and_the_job_list_filters_by_lane(self, client, alice):
        client.force_login(make_user(staff=True))
        report = reports.report_request(owner=alice, format="csv")
        jobs.report_build(report.pk)
        jobs.task_assigned_notify(0)
        panel = client.get("/ops/?panel=1").content.decode()
        lanes_table = panel.split('id="lanes"')[1].split("</table>")[0]
        assert all(name in lanes_table for name in ("report_build", "email_send", "task_assigned_notify"))
        listed = client.get("/ops/jobs/?lane=reports").content.decode().split("<tbody>")[1]
        assert "report_build" in listed and "task_assigned_notify" not in listed

    def test_healthz_names_the_lane_whose_oldest_job_waited_too_long(self, client, settings):
        settings.HEALTH_LANE_MAX_AGE = {"reports": 60}
        long_ago = timezone.now() - datetime.timedelta(minutes=2)
        JobRun.objects.create(
            id="waiting", name="tasks_app.jobs.files.report_build", lane="reports", enqueued_at=long_ago
        )
        body = client.get("/healthz").json()
        assert body["problems"] == ["a job in lane 'reports' has waited longer than 60s"]
        assert body["checks"]["oldest_pending_age_by_lane"]["reports"] >= 120

    def test_healthz_leaves_out_a_persons_jobs_waiting_behind_their_own_running_one(self, client, settings, alice):
        # Mallory's long reports: one builds, the next waits for it (a fair lane keeps the
        # other place for someone else). Only someone else's job waiting that long pages anyone.
        settings.HEALTH_LANE_MAX_AGE = {"reports": 60}
        long_ago = timezone.now() - datetime.timedelta(minutes=10)
        mallory = make_user("mallory")
        report = "tasks_app.jobs.files.report_build"
        JobRun.objects.create(
            id="building", name=report, lane="reports", state=JobRun.State.RUNNING, triggered_by=mallory
        )
        JobRun.objects.create(id="hers", name=report, lane="reports", enqueued_at=long_ago, triggered_by=mallory)
        assert client.get("/healthz").status_code == 200
        JobRun.objects.create(id="his", name=report, lane="reports", enqueued_at=long_ago, triggered_by=alice)
        assert client.get("/healthz").json()["problems"] == ["a job in lane 'reports' has waited longer than 60s"]
