"""/ops/ in a browser (real consumer): an operator pauses a job from the Lanes tab, the person
waiting is told, the operator resumes it; runs a periodic job now and follows the run on its page;
walks every tab on a laptop and a phone (screenshots in test-artifacts/); and the open tab's live
part is asked for again only while the tab shows, less often while nothing changes."""

import datetime
import json

import pytest

from tests.browser.conftest import ARTIFACTS, log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration]

LAPTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
TABS = {
    "overview": "/ops/",
    "running": "/ops/running/",
    "lanes": "/ops/lanes/",
    "schedule": "/ops/schedule/",
    "failed": "/ops/failed/",
    "consumers": "/ops/consumers/",
    "stats": "/ops/stats/",
    "jobs": "/ops/jobs/",
}
# A busy queue's history, written as the history writer would: failed jobs with long errors (an
# unbroken path among them), finished ones over the last hour, and a paused job.
SEED = """
import datetime, json
from django.utils import timezone
from tasks_app import queue
from tasks_app.models import JobRun
now = timezone.now()
names = ["tasks_app.jobs.files.report_build", "tasks_app.jobs.emails.email_send", "tasks_app.jobs.notifications.task_assigned_notify"]
lanes = ["reports", "emails", "default"]
errors = [
    "SMTPServerDisconnected: Connection unexpectedly closed by relay.internal while sending the digest",
    "FileNotFoundError: [Errno 2] No such file or directory: '/srv/tasks/db/media/reports/2026/01/01/tasks-of-the-regional-office-quarterly.xlsx'",
]
rows = []
for n in range(240):
    at = now - datetime.timedelta(minutes=n % 60, seconds=n)
    failed = n % 6 == 0
    rows.append(JobRun(id=f"seeded-{n}", name=names[n % 3], queue="tasks", lane=lanes[n % 3],
        state="failed" if failed else "succeeded", enqueued_at=at, started_at=at, finished_at=at, duration=0.4,
        attempts=1, error=errors[n % 2] if failed else "", message=b"seeded" if failed else None))
JobRun.objects.bulk_create(rows)
queue.pause_job("tasks_app.jobs.files.import_run")
print(json.dumps({"failed": "seeded-0"}))
"""


def sideways_scroll(page) -> int:
    """How many pixels the page scrolls sideways (0 when it fits the viewport)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def test_an_operator_pauses_reports_the_person_waiting_is_told_and_resume_lets_it_run(
    start_live_stack, chromium, browser_page
):
    stack = start_live_stack()
    stack.create_user("ops", staff=True)
    stack.create_user("alice")
    ops = browser_page
    log_in(ops, stack, "ops")
    ops.goto(stack.url + "/ops/lanes/")
    assert ops.locator("#paused-banner").count() == 0
    ops.locator("#on-demand-jobs tr", has_text="report_build").get_by_role("button", name="Pause").click()
    ops.wait_for_url("**/ops/lanes/")  # back on the tab it was paused from
    banner = ops.locator("#paused-banner")
    assert "1 job is paused" in banner.inner_text() and "report_build" in banner.inner_text()
    assert ops.locator(".message", has_text="Paused report_build: its runs wait until resumed.").count() == 1
    assert ops.locator("#lanes tr", has_text="report_build (paused)").count() == 1

    alice_context = chromium.new_context(viewport=LAPTOP)
    alice = alice_context.new_page()
    log_in(alice, stack, "alice")
    alice.click("nav >> text=Reports")
    alice.select_option("select[name=format]", "csv")
    alice.click("main button[type=submit]")
    alice.locator("#reports .progress-text", has_text="paused by an operator").wait_for()
    assert alice.locator("#reports .status").first.inner_text() == "Paused"
    alice.screenshot(path=str(ARTIFACTS / "ops-report-paused.png"), full_page=True)

    ops.goto(stack.url + "/ops/")  # the banner heads every tab; the held run is counted in it
    assert "1 run held" in banner.inner_text()
    ops.screenshot(path=str(ARTIFACTS / "ops-paused-banner.png"))
    banner.get_by_role("button", name="Resume").click()
    ops.wait_for_load_state()
    assert ops.locator("#paused-banner").count() == 0
    alice.locator("#reports a.download").wait_for(timeout=20_000)  # resumed: it runs, the page reloads
    alice_context.close()


def test_an_operator_runs_a_periodic_job_now_and_follows_the_run_on_its_page(start_live_stack, browser_page):
    stack = start_live_stack()
    stack.create_user("ops", staff=True)
    page = browser_page
    log_in(page, stack, "ops")
    page.goto(stack.url + "/ops/schedule/")
    row = page.locator("#schedule tr", has_text="stats_snapshot")
    assert "Record the hour that just ended" in row.inner_text()
    row.get_by_role("link", name="stats_snapshot").click()
    assert page.get_by_text("before the ledger").count() == 0  # a fresh install: nothing it never expected
    page.get_by_role("button", name="Run now").click()
    message = page.locator(".message", has_text="Started stats_snapshot now as job").inner_text()
    job_id = message.split("as job ")[1].rstrip(".")

    # The run it started heads the latest runs, a link to it, its state kept current without a reload.
    started = page.locator(f'#runs tr:has(a[href="/ops/jobs/{job_id}/"])')
    assert started.count() == 1 and "ops" in started.inner_text()
    page.locator(f'#runs tr:has(a[href="/ops/jobs/{job_id}/"]) .state', has_text="succeeded").wait_for(timeout=20_000)
    assert page.locator(".message", has_text="Started stats_snapshot").count() == 1  # still the same page
    page.screenshot(path=str(ARTIFACTS / "ops-run-now.png"), full_page=True)

    started.get_by_role("link").click()
    assert page.locator("h1 .state").inner_text() == "succeeded"
    assert page.get_by_role("row", name="Started by").inner_text().endswith("ops")


@pytest.fixture(scope="module")
def busy_ops(module_live_stack) -> dict:
    """An operator, and the seeded history of a busy queue on the module's stack."""
    module_live_stack.create_user("operator", staff=True)
    return json.loads(module_live_stack.shell(SEED).splitlines()[-1])


@pytest.mark.parametrize(("size", "viewport"), [("1280", LAPTOP), ("390", PHONE)])
def test_every_tab_loads_on_its_own_and_none_scrolls_sideways_on_a_phone(
    live_stack, browser_page, busy_ops, size, viewport
):
    page = browser_page
    page.set_viewport_size(viewport)
    log_in(page, live_stack, "operator")
    pages = {**TABS, "job": f"/ops/jobs/{busy_ops['failed']}/", "retry-all": "/ops/failed/retry/"}
    pages["periodic"] = "/ops/schedule/tasks_app.jobs.maintenance.stats_snapshot/"
    heights, too_wide = {}, {}
    for name, path in pages.items():
        page.goto(live_stack.url + path)
        assert page.locator("nav.ops-tabs").is_visible(), name
        if name in TABS:
            assert page.locator('nav.ops-tabs a[aria-current="page"]').get_attribute("href") == path
        page.screenshot(path=str(ARTIFACTS / f"ops-{name}-{size}.png"), full_page=True)
        heights[name] = page.evaluate("document.scrollingElement.scrollHeight")
        if size == "390" and (overflow := sideways_scroll(page)):
            too_wide[name] = overflow
    print(f"page heights at {size} px: {heights}")  # shown with -s; the one-page /ops/ was 3,944 and 5,825 px
    assert too_wide == {}
    assert max(heights[name] for name in TABS) < (3_944 if size == "1280" else 5_825), heights

    # The tabs are links: each one opens its own page, from any other.
    page.goto(live_stack.url + "/ops/")
    if size == "390":
        assert page.locator("#failed-jobs").bounding_box()["width"] <= PHONE["width"]  # it scrolls in its own box
    page.locator("nav.ops-tabs").get_by_role("link", name="Failed").click()
    page.wait_for_url("**/ops/failed/")
    assert page.locator("#failed-jobs tr", has_text="relay.internal").count() > 0
    assert page.locator("#failed-jobs time").first.get_attribute("title")  # the exact time, relative shown


def test_the_open_tab_asks_for_its_part_only_while_shown_and_less_often_while_it_stays_the_same(
    live_stack, browser_page, busy_ops
):
    page = browser_page
    log_in(page, live_stack, "operator")
    page.clock.install()  # dashboard.js's timers run on Playwright's clock, paused: only run_for moves it
    page.clock.pause_at(datetime.datetime.now() + datetime.timedelta(seconds=1))
    asked = []
    page.on("response", lambda response: "fragment=1" in response.url and asked.append(response.status))
    page.goto(live_stack.url + "/ops/failed/")
    rows = page.locator("#failed-jobs tbody tr").count()

    def ask_after(milliseconds: int) -> None:
        page.clock.run_for(milliseconds)
        page.wait_for_timeout(400)  # a real moment for the request to come back

    ask_after(2_900)
    assert asked == []
    ask_after(200)  # 3 s after the page: the first ask; nothing changed since the page, so a 304
    assert asked == [304]
    ask_after(5_700)
    assert asked == [304]  # the next waits twice as long: 6 s
    ask_after(400)
    assert asked == [304, 304]
    assert page.locator("#failed-jobs tbody tr").count() == rows  # a 304 leaves the part as it is

    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    ask_after(120_000)
    assert asked == [304, 304]  # a hidden tab asks nothing
    live_stack.shell(
        "from django.utils import timezone; from tasks_app.models import JobRun; "
        "JobRun.objects.create(id='failed-while-hidden', name='tasks_app.jobs.emails.email_send', queue='tasks', "
        "lane='emails', state='failed', enqueued_at=timezone.now(), finished_at=timezone.now(), "
        "error='SMTPRecipientsRefused: refused while the tab was hidden')"
    )
    with page.expect_response(lambda response: "fragment=1" in response.url, timeout=5_000) as shown:
        page.evaluate(  # shown again: it asks at once, without waiting out its timer
            "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
            "document.dispatchEvent(new Event('visibilitychange'))"
        )
    assert shown.value.status == 200  # changed: the new part replaces the old
    page.locator("#failed-jobs tr", has_text="refused while the tab was hidden").wait_for()
    page.screenshot(path=str(ARTIFACTS / "ops-failed-live.png"), full_page=True)
