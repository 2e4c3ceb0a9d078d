"""Outgoing email: rows are written in the request and sent later by a job."""

import datetime
import logging
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tasks_app.models import Email, MailSlot, Task
from tasks_app.queue import claims
from tasks_app.services import people
from tasks_app.services.accounts import EMAIL_UNDO_DAYS

logger = logging.getLogger(__name__)

# Kinds whose body holds a secret (a reset or sign-up link): the body is dropped once sent or failed for good
# (a failed one is never sent again: the person asks for a new link), and the admin never shows it.
SENSITIVE_KINDS = {Email.Kind.PASSWORD_RESET, Email.Kind.SIGNUP}
BODY_NOT_KEPT = "(not kept: it held a one-time link)"
BODY_MADE_WHEN_SENT = "(made as it is sent: it holds a one-time link)"
UNSENT = [Email.Status.QUEUED, Email.Status.FAILED]

# Failures worth another try later: smtplib's errors, refused connections and timeouts are all
# OSErrors. Anything else (a bad address, mail misconfigured) fails the email at once.
TRANSIENT_ERRORS = (OSError,)


def email_create(
    *, kind: str, to: str, subject: str, body: str, user=None, dedup_key: str | None = None, task: Task | None = None
) -> Email:
    """Record an email to send (about `task`, if given: its page lists it); with a dedup_key, a
    second call returns the first row."""
    if dedup_key:
        existing = Email.objects.filter(dedup_key=dedup_key).first()
        if existing:
            return existing
    try:
        with transaction.atomic():
            return Email.objects.create(
                kind=kind, to=to, subject=subject.strip(), body=body, user=user, dedup_key=dedup_key, task=task
            )
    except IntegrityError:
        return Email.objects.get(dedup_key=dedup_key)


def email_create_signup(address: str, link: str) -> Email:
    """The mail whose link makes an account for `address`."""
    link_days = settings.PASSWORD_RESET_TIMEOUT // 86400
    subject, body = _render("signup", {"link": link, "link_days": link_days})
    return email_create(kind=Email.Kind.SIGNUP, to=address, subject=subject, body=body)


def email_create_address_taken(to: str, reset_url: str) -> Email:
    """The note to an address that already has an account, when someone signs up with it."""
    subject, body = _render("address_taken", {"reset_url": reset_url})
    return email_create(kind=Email.Kind.SIGNUP, to=to, subject=subject, body=body)


def email_create_password_changed(user, *, reset_url: str, tokens_revoked: int) -> Email | None:
    """The note that `user`'s password was changed (and their API tokens revoked), with the way
    back if it was not them; None when the account has no address."""
    if not user.email:
        return None
    context = {"user": user, "reset_url": reset_url, "tokens_revoked": tokens_revoked}
    subject, body = _render("password_changed", context)
    return email_create(kind=Email.Kind.SIGNUP, to=user.email, subject=subject, body=body, user=user)


def email_create_email_changed(user, *, old_address: str, undo_link: str) -> Email:
    """The note to `old_address` that `user`'s address is now another, with the link that undoes it."""
    context = {"user": user, "undo_link": undo_link, "undo_days": EMAIL_UNDO_DAYS}
    subject, body = _render("email_changed", context)
    return email_create(kind=Email.Kind.SIGNUP, to=old_address, subject=subject, body=body, user=user)


def email_create_welcome(user) -> Email | None:
    """The welcome email for a new user, once per user; None when the user gave no address."""
    if not user.email:
        return None
    context = {"user": user}
    return email_create(
        kind=Email.Kind.WELCOME,
        to=user.email,
        subject=render_to_string("tasks_app/email/welcome_subject.txt", context),
        body=render_to_string("tasks_app/email/welcome_body.txt", context),
        user=user,
        dedup_key=f"welcome:{user.pk}",
    )


def email_unsent(email_id: int) -> bool:
    """Whether the email may still be sent: not sent, and not a one-time link that failed."""
    return _sendable(email_id).exclude(status=Email.Status.SENT).exists()


def _sendable(email_id: int):
    return Email.objects.filter(pk=email_id).exclude(kind__in=SENSITIVE_KINDS, status=Email.Status.FAILED)


def mail_slot(budget: str, per_minute: int) -> datetime.datetime:
    """When the next mail of `budget` may go: now while this clock minute has sends left, else the
    start of the first minute that has (the minutes after a flood fill up in order). At most
    `per_minute` sends a clock minute, as a mail provider counts them."""
    now = timezone.now()
    this_minute = now.replace(second=0, microsecond=0)
    with transaction.atomic():
        MailSlot.objects.bulk_create([MailSlot(name=budget, minute=this_minute)], ignore_conflicts=True)
        slot = MailSlot.objects.select_for_update().get(name=budget)
        if slot.minute < this_minute:
            slot.minute, slot.used = this_minute, 0
        if slot.used >= per_minute:
            slot.minute, slot.used = slot.minute + datetime.timedelta(minutes=1), 0
        slot.used += 1
        slot.save()
    return max(now, slot.minute)


def email_send(email_id: int, *, final_attempt: bool = True, body: str | None = None) -> bool:
    """Send an unsent email once; return False when it is gone, sent or being sent. `body`: the
    text to send instead of the row's (a password reset's, made as it is sent).

    A transient failure puts the row back in the queue for the next attempt, unless this is the
    last one; any other failure marks it failed. Either way it re-raises for the job to decide.
    """
    # A failed email was never sent, so a person retrying its job may send it: claim it too. One
    # left `sending` by a run that died is sent by the next: if that run died after the SMTP
    # server accepted the mail and before this row said so, the mail goes out twice.
    if not claims.claim(_sendable(email_id), open=UNSENT, claimed=Email.Status.SENDING):
        return False
    email = Email.objects.get(pk=email_id)
    try:
        send_mail(email.subject, body or email.body, settings.DEFAULT_FROM_EMAIL, [email.to])
    except Exception as exc:
        retryable = isinstance(exc, TRANSIENT_ERRORS) and not final_attempt
        email.status = Email.Status.QUEUED if retryable else Email.Status.FAILED
        email.error = f"{type(exc).__name__}: {exc}"
        if email.status == Email.Status.FAILED and email.kind in SENSITIVE_KINDS:
            email.body = BODY_NOT_KEPT
        email.save(update_fields=["status", "error", "body"])
        raise
    email.status = Email.Status.SENT
    email.sent_at = timezone.now()
    email.error = ""
    if email.kind in SENSITIVE_KINDS:
        email.body = BODY_NOT_KEPT
    email.save(update_fields=["status", "sent_at", "error", "body"])
    logger.info("email sent id=%s kind=%s", email.pk, email.kind)
    return True


def password_reset_users(address: str):
    """The accounts a reset for `address` goes to: Django's rule (active, a usable password, the
    address whatever its case)."""
    return PasswordResetForm().get_users(address)


def email_create_password_reset(user, *, dedup_key: str) -> Email:
    """A password reset mail, written without its link: the link is made as it is sent
    (`password_reset_body`), so it never sits in the database or its backups."""
    return email_create(
        kind=Email.Kind.PASSWORD_RESET,
        to=user.email,
        subject=" ".join(render_to_string("registration/password_reset_subject.txt").split()),
        body=BODY_MADE_WHEN_SENT,
        user=user,
        dedup_key=dedup_key,
    )


def password_reset_body(user, base_url: str) -> str:
    """The reset mail's text with a fresh one-time link on the site at `base_url`."""
    site = urlsplit(base_url)
    context = {
        "email": user.email,
        "domain": site.netloc,
        "site_name": site.netloc,
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "user": user,
        "token": default_token_generator.make_token(user),
        "protocol": site.scheme,
    }
    return render_to_string("registration/password_reset_email.html", context)


def _render(name: str, context: dict) -> tuple[str, str]:
    """A mail's subject and body, its times in the zone of its `user` (the recipient) when it has one."""
    user = context.get("user")
    with timezone.override(people.time_zone_of(user) if user else None):
        subject = render_to_string(f"tasks_app/email/{name}_subject.txt", context)
        return " ".join(subject.split()), render_to_string(f"tasks_app/email/{name}_body.txt", context)


def email_create_task(task: Task, user, *, base_url: str, job_id: str) -> Email:
    """ "Email me this task": a copy of the task's details, with the link to its page on the site
    at `base_url`, to the user who asked; one per job (`job_id`, the job that sends it)."""
    if not user.email:
        raise ValueError("You have no email address on your account.")
    link = urljoin(base_url, task.get_absolute_url())
    subject, body = _render("task", {"task": task, "user": user, "link": link})
    return email_create(
        kind=Email.Kind.TASK,
        to=user.email,
        subject=subject,
        body=body,
        user=user,
        dedup_key=f"task-email:{task.pk}:{job_id}",
        task=task,
    )


def email_create_task_completed(task: Task) -> Email | None:
    """Tell a task's owner it was completed, at most once a day per task (completed, reopened and
    completed again is one mail); None without an address."""
    if not task.owner.email or task.completed_at is None:
        return None
    subject, body = _render("task_completed", {"task": task, "user": task.owner})
    return email_create(
        kind=Email.Kind.TASK_COMPLETED,
        to=task.owner.email,
        subject=subject,
        body=body,
        user=task.owner,
        dedup_key=f"task-completed:{task.pk}:{timezone.localdate(task.completed_at).isoformat()}",
        task=task,
    )


def digest_recipients(today: datetime.date):
    """Who gets today's digest: active users with an address and an open task, not yet sent one today."""
    sent_today = Email.objects.filter(
        kind=Email.Kind.DIGEST, status=Email.Status.SENT, dedup_key__endswith=f":{today.isoformat()}"
    )
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    users = users.exclude(pk__in=sent_today.values("user_id"))
    return users.filter(tasks__in=Task.objects.open()).distinct().order_by("username").select_related("profile")


def email_create_digests(today: datetime.date) -> list[Email]:
    """Today's digest for each of `digest_recipients(today)`, written once per user per day."""
    digests = []
    for user in digest_recipients(today):
        open_tasks = Task.objects.open().filter(owner=user).order_by("due_date", "id")
        context = {"user": user, "tasks": open_tasks, "today": today, "overdue": open_tasks.overdue(today).count()}
        subject, body = _render("digest", context)
        digests.append(
            email_create(
                kind=Email.Kind.DIGEST,
                to=user.email,
                subject=subject,
                body=body,
                user=user,
                dedup_key=f"digest:{user.pk}:{today.isoformat()}",
            )
        )
    return digests
