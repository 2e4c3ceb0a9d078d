"""A person uses the account page in a real browser: names themselves, changes their address through
the link the real consumer mails, makes an API token that works against the real server, revokes it."""

import pytest

from tests.browser.conftest import ARTIFACTS, log_in
from tests.browser.test_browser_task_flow import mailed_link

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_the_account_page_changes_the_name_the_address_and_the_api_tokens(live_stack, browser_page):
    live_stack.create_user("erin")
    page = browser_page
    log_in(page, live_stack, "erin")
    page.goto(live_stack.url + "/account/")
    assert page.locator("h1").inner_text() == "Your account"

    page.fill("input[name=first_name]", "Erin")
    page.fill("input[name=last_name]", "Moss")
    page.click("button:has-text('Save name')")
    assert page.get_by_text("Your name is saved.").is_visible()
    assert page.input_value("input[name=first_name]") == "Erin"

    page.fill("input[name=email]", "erin@new.example")
    page.fill("#email-change input[name=password]", "a-long-test-password")
    page.click("button:has-text('Send the link')")
    assert "Waiting for confirmation of erin@new.example" in page.locator("#email-pending").inner_text()

    page.fill("input[name=name]", "backup script")
    page.fill("form[action$='/account/tokens/'] input[name=password]", "a-long-test-password")
    page.click("button:has-text('Create a token')")
    secret = page.locator("#new-token-secret").inner_text()
    assert page.locator("table.tokens").get_by_text("backup script").is_visible()
    page.screenshot(path=str(ARTIFACTS / "account-page.png"), full_page=True)
    status, me = live_stack.api("GET", "/api/me/", secret)
    assert status == 200 and me["username"] == "erin"

    link = mailed_link(live_stack, "/account/email/confirm/", "the address change email")
    page.goto(link)
    assert page.locator("h1").inner_text() == "Confirm your new address"
    page.click("main button[type=submit]")
    assert page.get_by_text("Your address is now erin@new.example.").is_visible()
    assert page.locator("#email-pending").count() == 0

    page.click("table.tokens >> button:has-text('Revoke')")
    assert page.get_by_text("Revoked the token “backup script”").is_visible()
    assert page.locator("#new-token-secret").count() == 0
    assert live_stack.api("GET", "/api/me/", secret)[0] == 401
    page.goto(link)
    assert page.locator("h1").inner_text() == "This link does not work"
