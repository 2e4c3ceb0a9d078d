"""Sign-up: an account waits, inactive, until its owner opens the link mailed to its address."""

from collections.abc import Callable

from django.contrib.auth.hashers import make_password
from django.db import transaction

from tasks_app import jobs, queue
from tasks_app.client import mail_sender_allows
from tasks_app.services import accounts, emails


def signup_start(form, *, link_for: Callable[[str, str], str], reset_url: str) -> None:
    """Make the account of a valid sign-up form, inactive, and mail its activation link.

    An address that already has an account (whatever its case) gets a note instead, or the link
    of its account again when that one was never confirmed; no second account is made. Both take the same work (a password hash) and the page says the same, so
    sign-up never tells which addresses have accounts.
    """
    address = form.cleaned_data["email"]
    with transaction.atomic():
        existing = accounts.user_with_address(address)
        if existing is not None:
            make_password(form.cleaned_data["password1"])  # as long as a new account's hash takes
        if existing is not None and existing.is_active:
            mail = emails.email_create_address_taken(address, reset_url)
        elif existing is not None:  # never confirmed: its link again
            mail = emails.email_create_signup(existing, link_for(*accounts.signup_link_parts(existing)))
        else:
            user = form.save(commit=False)
            user.is_active = False
            user.save()
            mail = emails.email_create_signup(user, link_for(*accounts.signup_link_parts(user)))
        queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)


def email_change_start(user, address: str, *, link_for: Callable[[int, str], str]) -> bool:
    """Mail `address` the link that makes it `user`'s address; nothing changes until it is opened.
    False, and no mail, past the person's MAIL_SENDER_RATE (the address may be anyone's)."""
    if not mail_sender_allows(user):
        return False
    with transaction.atomic():
        mail = accounts.email_change_mail(user, address, link_for)
        queue.enqueue_on_commit(jobs.email_send, mail.pk, priority=jobs.PRIORITY_URGENT)
    return True
