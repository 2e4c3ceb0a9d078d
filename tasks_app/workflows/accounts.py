"""Accounts: sign-up, and the mails that tell a person their password or address changed."""

import hashlib
from collections.abc import Callable

from django.db import transaction

from tasks_app import jobs, queue, rate_limits
from tasks_app.client import mail_sender_allows
from tasks_app.services import accounts, emails

# A sign-up with an address that has an account mails it a note at most this often (the page
# says the same either way, so sign-up never tells which addresses have accounts).
ADDRESS_TAKEN_NOTE_PERIOD = 3600


def signup_start(address: str, *, link_for: Callable[[str], str], reset_url: str) -> None:
    """Mail `address` the link that makes its account; an address that has one gets a note
    instead (at most one an hour). Nothing is written to the accounts: no password is asked
    here and no hash is made, so a sign-up never holds the write lock for long."""
    taken = accounts.user_with_address(address) is not None
    if taken:
        key = "signup-note:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()
        if not rate_limits.hit(key, 1, ADDRESS_TAKEN_NOTE_PERIOD).allowed:
            return
    with transaction.atomic():
        if taken:
            mail = emails.email_create_address_taken(address, reset_url)
        else:
            mail = emails.email_create_signup(address, link_for(accounts.signup_token(address)))
        queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)


def password_changed(user, *, reset_url: str) -> int:
    """After a password change or reset: revoke `user`'s API tokens and mail them so, with the
    way back if it was not them. Returns how many tokens were revoked."""
    with transaction.atomic():
        revoked = accounts.tokens_revoke_all(user)
        mail = emails.email_create_password_changed(user, reset_url=reset_url, tokens_revoked=revoked)
        if mail is not None:
            queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)
    return revoked


def email_change_start(user, address: str, *, link_for: Callable[[int, str], str]) -> bool:
    """Mail `address` the link that makes it `user`'s address; nothing changes until it is opened.
    False, and no mail, past the person's MAIL_SENDER_RATE (the address may be anyone's)."""
    if not mail_sender_allows(user):
        return False
    with transaction.atomic():
        mail = accounts.email_change_mail(user, address, link_for)
        queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)
    return True


def email_changed(user, *, old_address: str, undo_link_for: Callable[[str], str]) -> None:
    """Tell the old address of a change, with the link that takes the account back."""
    if not old_address:
        return
    undo_link = undo_link_for(accounts.email_undo_token(user, old_address))
    with transaction.atomic():
        mail = emails.email_create_email_changed(user, old_address=old_address, undo_link=undo_link)
        queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)
