"""Email jobs: a request (or a periodic job) writes Email rows, `email_send` sends each one."""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from huey.contrib.djhuey import db_task
from huey.exceptions import RetryTask

from tasks_app import queue
from tasks_app.jobs.backoff import retry_later
from tasks_app.jobs.schedule import daily, periodic_job, run_once_within
from tasks_app.models import Task
from tasks_app.services import emails

logger = logging.getLogger(__name__)

# Huey runs higher priorities first: a password reset must not wait behind a digest.
PRIORITY_URGENT = 10
PRIORITY_BULK = -10


def wait_for_mail_slot(task, budget: str) -> None:
    """Take this send's place in its budget: `mail` (EMAIL_RATE_LIMIT_PER_MINUTE), `urgent`
    (account mail such as a sign-up link) or `reset` (password resets), each of the last two with
    EMAIL_URGENT_RATE_LIMIT_PER_MINUTE of its own, so that other mail never delays them and a
    flood of sign-ups never delays a reset. Mail caused by a person first takes a place in that
    person's own budget (MAIL_SENDER_PER_MINUTE, below the shared one): one person's flood leaves
    the shared budget room for everyone else's mail.

    When a place is in a later minute, the job waits for it once, carrying it (`sender_slot`,
    `slot`): at most two waits in its history however long the line, and no retry spent."""
    if task.kwargs.get("slot"):
        return
    sender = None if budget != "mail" else queue.acting_person()
    if sender is not None and not task.kwargs.get("sender_slot"):
        _wait_until(task, "sender_slot", emails.mail_slot(f"sender:{sender}", settings.MAIL_SENDER_PER_MINUTE))
    per_minute = (
        settings.EMAIL_RATE_LIMIT_PER_MINUTE if budget == "mail" else settings.EMAIL_URGENT_RATE_LIMIT_PER_MINUTE
    )
    _wait_until(task, "slot", emails.mail_slot(budget, per_minute))


def _wait_until(task, place: str, at: datetime.datetime) -> None:
    wait = (at - timezone.now()).total_seconds()
    if wait > 0:
        task.kwargs[place] = at.isoformat()
        raise RetryTask(delay=wait)


# Huey hands the running job to `context=True` functions as the keyword argument `task`.
@db_task(retries=5, context=True)
def email_send(email_id: int, slot: str = "", sender_slot: str = "", task=None) -> bool:
    """Send one Email row in its place in the mail budget; SMTP and network errors are retried
    with backoff, jitter and a cap, anything else (bad input, mail misconfigured) fails the job at once."""
    try:
        if not emails.email_unsent(email_id):
            return False  # sent already (a completion asked again): it takes no place in the budget
        wait_for_mail_slot(task, "urgent" if (task.priority or 0) >= PRIORITY_URGENT else "mail")
        return emails.email_send(email_id, final_attempt=task.retries == 0)
    except RetryTask:
        raise  # waiting for its place in the budget
    except emails.TRANSIENT_ERRORS as exc:
        retry_later(task, exc, base=settings.EMAIL_RETRY_BASE_SECONDS, cap=settings.EMAIL_RETRY_MAX_SECONDS)
        raise
    except Exception:
        task.retries = 0  # else Huey retries any error at once: retrying cannot fix this one
        raise


@db_task(retries=5, context=True)
def password_reset_send(address: str, base_url: str, slot: str = "", task=None) -> int:
    """Mail a password reset link to each account with `address` (none: nothing); return how many.

    A request for any address, known or not, costs the same: this job. The link is made here,
    as the mail goes out, and never written down; a retry makes a fresh one."""
    users = list(emails.password_reset_users(address))
    if users:
        wait_for_mail_slot(task, "reset")
    sent = 0
    for user in users:
        email = emails.email_create_password_reset(user, dedup_key=f"password-reset:{task.id}:{user.pk}")
        body = emails.password_reset_body(user, base_url)
        try:
            sent += emails.email_send(email.pk, final_attempt=task.retries == 0, body=body)
        except emails.TRANSIENT_ERRORS as exc:
            retry_later(task, exc, base=settings.EMAIL_RETRY_BASE_SECONDS, cap=settings.EMAIL_RETRY_MAX_SECONDS)
            raise
        except Exception:
            task.retries = 0
            raise
    return sent


@db_task()
def task_completed_notify(task_id: int) -> bool:
    """Email a task's owner that it was completed (once per completion)."""
    task = Task.objects.select_related("owner").filter(pk=task_id).first()
    email = emails.email_create_task_completed(task) if task else None
    if email is None:
        return False
    email_send(email.pk)
    return True


# A digest that could not go out by lunchtime is noise: a consumer back before 12:00 sends it
# late, one back later does not, and a digest left waiting in the queue four hours expires.
@periodic_job(daily("08:00"), missed=run_once_within(hours=4), expires=4 * 3600)
def digest_send() -> int:
    """Email each user with open tasks a list of them, once a day.

    One send job per person per day, however many times this runs (a late run, a run by hand)."""
    digests = emails.email_create_digests(timezone.localdate())
    queued = 0
    for email in digests:
        with transaction.atomic():
            claimed = queue.claim_unique(f"email-send:{email.pk}", window=datetime.timedelta(days=1))
            if claimed.created:
                queue.enqueue_on_commit(email_send, email.pk, priority=PRIORITY_BULK, id=claimed.job_id)
                queued += 1
    logger.info("digest_send digests=%d queued=%d", len(digests), queued)
    return queued
