"""Password reset mail: no link kept when it fails, none shown or changeable in the admin, its own rate budget."""

import datetime

import pytest
import time_machine
from django.core import mail

from tasks_app import jobs
from tasks_app.models import Email
from tasks_app.services import emails
from tests.factories import make_user

pytestmark = pytest.mark.django_db

LINK = "https://tasks.example.com/accounts/reset/MQ/abc-123/"


def _reset_email(user) -> Email:
    return emails.email_create(kind=Email.Kind.PASSWORD_RESET, to=user.email, subject="Reset", body=LINK, user=user)


def test_a_reset_mail_that_fails_for_good_keeps_no_link_and_is_never_sent_blank(settings):
    settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
    email = _reset_email(make_user())
    with pytest.raises(OSError):
        emails.email_send(email.pk, final_attempt=True)
    email.refresh_from_db()
    assert (email.status, email.body) == (Email.Status.FAILED, emails.BODY_NOT_KEPT)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails.email_send(email.pk) is False  # a retried job: the person asks for a new link
    assert not mail.outbox


def test_a_reset_mail_that_will_be_retried_keeps_its_link(settings):
    settings.EMAIL_BACKEND = "tests.failing_email.RefusingEmailBackend"
    email = _reset_email(make_user())
    with pytest.raises(OSError):
        emails.email_send(email.pk, final_attempt=False)
    email.refresh_from_db()
    assert (email.status, email.body) == (Email.Status.QUEUED, LINK)


def test_the_admin_never_shows_a_reset_link_nor_changes_who_a_mail_goes_to(client):
    client.force_login(make_user("root", staff=True))
    email = _reset_email(make_user("victim"))
    url = f"/admin/tasks_app/email/{email.pk}/change/"
    page = client.get(url).content.decode()
    assert LINK not in page and "hidden: it holds a one-time link" in page
    client.post(url, {"to": "attacker@example.net", "body": "mine", "status": "queued", "error": ""})
    email.refresh_from_db()
    assert (email.to, email.body) == ("victim@example.com", LINK)


def test_the_admin_shows_the_body_of_an_ordinary_mail(client):
    client.force_login(make_user("root", staff=True))
    email = emails.email_create(kind=Email.Kind.TASK, to="a@example.com", subject="A task", body="Water the plants")
    assert "Water the plants" in client.get(f"/admin/tasks_app/email/{email.pk}/change/").content.decode()


def test_a_reset_goes_out_while_other_mail_waits_for_the_rate_limit(settings):
    user = make_user()
    with time_machine.travel(datetime.datetime(2026, 3, 1, 12, 0, 5, tzinfo=datetime.UTC), tick=False):
        for n in range(settings.EMAIL_RATE_LIMIT_PER_MINUTE + 1):
            email = emails.email_create(kind=Email.Kind.DIGEST, to=user.email, subject=f"#{n}", body="b")
            jobs.email_send(email.pk, priority=jobs.PRIORITY_BULK)
        assert Email.objects.filter(status=Email.Status.QUEUED).count() == 1  # the bulk budget is spent
        jobs.email_send(_reset_email(user).pk, priority=jobs.PRIORITY_URGENT)
    assert mail.outbox[-1].body == LINK
