"""A person logs in, creates a task, is given one by someone else and sees that notification
arrive from the real consumer, then opens it; every task, notification and account page is
opened once in a real browser."""

import re

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.live_stack import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_task_given_by_someone_else_notifies_its_owner_without_a_reload(live_stack, browser_page):
    alice, bob = live_stack.create_user("alice"), live_stack.create_user("bob")
    page = browser_page
    log_in(page, live_stack, "alice")
    assert page.locator("h1").inner_text() == "Tasks"
    assert page.locator("#unread-badge").is_hidden()

    page.click("text=New task")
    page.fill("input[name=title]", "Prepare the demo")
    page.select_option("select[name=priority]", "high")
    page.fill("input[name=due_date]", "2030-05-01")
    page.click("main button[type=submit]")
    assert page.locator("table.tasks").get_by_text("Prepare the demo").is_visible()  # her own: no notice

    # Bob gives her one; the job runs in the consumer, the page's badge polls and shows it.
    assert live_stack.give_task(bob, alice, {"title": "Review the slides"})[0] == 201
    badge = page.locator("#unread-badge")
    badge.wait_for(state="visible", timeout=15_000)
    assert badge.inner_text() == "1"
    page.screenshot(path=str(ARTIFACTS / "task-given-notified.png"), full_page=True)

    page.click("nav >> text=Notifications")
    page.click("text=bob gave you a task: Review the slides")  # opens the task's page, marking it read
    assert page.locator("h1").inner_text() == "Review the slides"
    assert page.locator("#unread-badge").is_hidden()


def test_every_task_page_renders_in_a_real_browser(live_stack, browser_page):
    live_stack.create_user("ben")  # the module's stack has a bob already
    page = browser_page
    for path, heading in [
        ("/signup/", "Create an account"),
        ("/accounts/password_reset/", "Reset your password"),
        ("/accounts/login/", "Log in"),
    ]:
        page.goto(live_stack.url + path)
        assert page.locator("h1").inner_text() == heading

    log_in(page, live_stack, "ben")
    page.goto(live_stack.url + "/tasks/new/")
    assert page.locator("h1").inner_text() == "New task"
    assert page.get_attribute("input[name=title]", "maxlength") == "200"  # a longer title cannot be typed
    page.click("main button[type=submit]")  # an empty title reaches the server and is refused there
    assert page.locator(".field.has-error").get_by_text("This field is required.").is_visible()
    page.fill("input[name=title]", "Edit me")
    page.click("main button[type=submit]")

    page.click("table.tasks >> text=Edit me")
    assert page.locator("h1").inner_text() == "Edit me"
    page.get_by_role("link", name="Edit", exact=True).click()
    assert page.locator("h1").inner_text() == "Edit task"
    page.click("main >> text=Delete")
    assert page.locator("h1").inner_text() == "Delete task?"
    page.click("main button:has-text('Delete')")
    page.wait_for_url(live_stack.url + "/")
    assert page.get_by_text("Deleted “Edit me”.").is_visible()

    page.goto(live_stack.url + "/notifications/")
    assert page.locator("h1").inner_text() == "Notifications"
    page.goto(live_stack.url + "/api/docs/")
    page.locator(".swagger-ui").wait_for()


def mailed_link(stack, path: str, what: str) -> str:
    """The first link to `path` in the mail sent so far (the consumer sends it; Django's file
    backend writes it under DATA_DIR/mail), waited for."""

    def link() -> str | None:
        sent = "".join(mail.read_text() for mail in (stack.data_dir / "mail").glob("*"))
        found = re.search(rf"http://\S+{re.escape(path)}\S+/", sent)
        return found and found.group(0)

    return wait_for(link, what=what)


def test_a_password_reset_link_arrives_by_email_and_works(live_stack, browser_page):
    live_stack.create_user("carol")
    page = browser_page
    page.goto(live_stack.url + "/accounts/password_reset/")
    page.fill("input[name=email]", "carol@example.com")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your email"

    page.goto(mailed_link(live_stack, "/accounts/reset/", "the password reset email"))
    assert page.locator("h1").inner_text() == "Choose a new password"
    page.fill("input[name=new_password1]", "An0ther-long-pass")
    page.fill("input[name=new_password2]", "An0ther-long-pass")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Password changed"

    page.goto(live_stack.url + "/accounts/reset/MQ/not-a-token/")
    assert page.locator("h1").inner_text() == "This link does not work"
    log_in(page, live_stack, "carol", "An0ther-long-pass")
    assert page.locator("h1").inner_text() == "Tasks"


def test_a_sign_up_opens_the_account_from_the_link_mailed_to_the_address(live_stack, browser_page):
    page = browser_page
    page.goto(live_stack.url + "/signup/")
    page.fill("input[name=email]", "dora@example.com")
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your mail"

    link = mailed_link(live_stack, "/signup/verify/", "the sign-up email")
    page.goto(link)
    assert page.locator("h1").inner_text() == "Create your account"
    page.fill("input[name=username]", "dora")
    page.fill("input[name=password1]", "A-long-pass-42")
    page.fill("input[name=password2]", "A-long-pass-42")
    page.screenshot(path=str(ARTIFACTS / "signup-create-account.png"), full_page=True)
    page.click("main button[type=submit]")
    assert page.locator("h1").inner_text() == "Tasks"
    page.goto(link)
    assert page.locator("h1").inner_text() == "This address already has an account"
