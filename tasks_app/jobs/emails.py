"""Email jobs: the request writes an Email row, the job sends it."""

from huey.contrib.djhuey import db_task

from tasks_app.jobs.backoff import retry_later
from tasks_app.services import emails

# Huey runs higher priorities first: a password reset must not wait behind a digest.
PRIORITY_URGENT = 10
PRIORITY_BULK = -10


# Huey hands the running job to `context=True` functions as the keyword argument `task`.
@db_task(retries=5, context=True)
def email_send(email_id: int, task=None) -> bool:
    """Send one email written by a request (welcome, password reset); SMTP errors are retried with backoff."""
    try:
        return emails.email_send(email_id, final_attempt=task.retries == 0)
    except OSError as exc:  # smtplib's errors, refused connections and timeouts are all OSErrors
        retry_later(task, exc, base=30, cap=1800)
        raise
