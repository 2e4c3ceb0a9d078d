"""Unique jobs through real web processes: "Build report" pressed many times at once builds one."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_files import make_tasks
from tests.live_stack import wait_for

pytestmark = pytest.mark.integration


@pytest.mark.postgres  # also in the PostgreSQL pass: the race is between gunicorn's processes
def test_the_same_report_asked_for_at_once_and_while_it_builds_is_one_report(start_live_stack):
    stack = start_live_stack(REPORT_ROW_DELAY_SECONDS="0.25")
    token = stack.create_user("alice")
    make_tasks(stack, "alice", 12)

    with ThreadPoolExecutor(8) as pool:  # 2 web processes of 4 threads each
        answers = list(pool.map(lambda _: stack.api("POST", "/api/reports/", token, {"format": "csv"}), range(8)))
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert len({(body["id"], body["job_id"]) for _, body in answers}) == 1
    report_id, job_id = answers[0][1]["id"], answers[0][1]["job_id"]

    def report() -> dict:
        return stack.api("GET", f"/api/reports/{report_id}/", token)[1]

    wait_for(lambda: report()["status"] == "running", what="the report to start building")
    status, again = stack.api("POST", "/api/reports/", token, {"format": "csv"})
    assert (status, again["id"], again["job_id"], again["created"]) == (200, report_id, job_id, False)
    assert again["detail"] == f"Already building: report {report_id} has the same choices."

    wait_for(lambda: report()["status"] == "succeeded", timeout=30, what="the report to be built")
    wait_for(lambda: stack.api("GET", f"/api/jobs/{job_id}/", token)[1]["state"] == "succeeded", what="its history")
    status, fresh = stack.api("POST", "/api/reports/", token, {"format": "csv"})
    assert (status, fresh["created"]) == (202, True) and fresh["id"] != report_id
    _, history = stack.api("GET", f"/api/jobs/{job_id}/", token)
    assert history["state"] == "succeeded"
