"""Task writes that start jobs (the owner's notice, the completion email), emails and broadcasts."""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from tasks_app import jobs, queue
from tasks_app.client import mail_sender_allows
from tasks_app.models import Email, Task
from tasks_app.services import emails, job_runs, tasks


def task_create(*, created_by, **fields) -> Task:
    """Create a task; its owner, if someone else, is notified by `task_assigned_notify` after the commit."""
    task = tasks.task_build(created_by=created_by, **fields)  # checked before the write lock is taken
    with transaction.atomic():
        tasks.task_save_new(task)
        if task.owner_id != created_by.pk:
            job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk, user=created_by)
            job_runs.job_run_about(job_id, task)  # the task's page lists it
    return task


def task_update(task: Task, *, by, **fields) -> Task:
    """Change a task; when someone else completes it, its owner is emailed by `task_completed_notify`;
    when someone gives it to another owner, that owner is notified by `task_assigned_notify`."""
    tasks.task_change(task, **fields)  # checked before the write lock is taken
    may_mail = _may_mail_about(task, by)  # counted before it too
    with transaction.atomic():
        # The state it replaces, read in the transaction (a ModelForm has already copied the new
        # status onto `task`): of two completions at once, one emails.
        before = tasks.task_save(task, by=by)
        given = before is not None and before[0] != task.owner_id
        if given and by is not None and by.pk != task.owner_id:
            job_id = queue.enqueue_on_commit(jobs.task_assigned_notify, task.pk, user=by)
            job_runs.job_run_about(job_id, task)
        was_done = before is not None and before[1] == Task.Status.DONE
        if task.status == Task.Status.DONE and not was_done and may_mail:
            job_id = queue.enqueue_on_commit(jobs.task_completed_notify, task.pk, user=by)
            job_runs.job_run_about(job_id, task)
    return task


def _may_mail_about(task: Task, by) -> bool:
    """Whether `by`'s completion of `task` may mail its owner: never one's own action, and at most
    MAIL_SENDER_RATE mails caused by one person (a flood of completions mails no one much). A
    completion of a task already done counts against the person's budget too."""
    if task.status != Task.Status.DONE or by is None or by.pk == task.owner_id:
        return False
    return mail_sender_allows(by)


def task_complete(task: Task, *, by) -> Task:
    """Mark a task done (and email its owner, once per completion)."""
    return task_update(task, by=by, status=Task.Status.DONE)


# "Email me this task" twice within this long is a double click: one email.
SAME_TASK_EMAIL_WINDOW = datetime.timedelta(minutes=1)


def task_email(task: Task, user, *, base_url: str) -> tuple[Email | None, str]:
    """ "Email me this task": write the email (linking to the task on the site at `base_url`) now;
    `email_send` sends it. Returns it and the job id, or None and the earlier job's id when the
    user asked for this task less than a minute ago.

    Raises ValueError when the user has no address."""
    with transaction.atomic():
        claimed = queue.claim_unique(f"task-email:{task.pk}:{user.pk}", window=SAME_TASK_EMAIL_WINDOW, user=user)
        if not claimed.created:
            return None, claimed.job_id
        email = emails.email_create_task(task, user, base_url=base_url, job_id=claimed.job_id)
        job_id = queue.enqueue_on_commit(jobs.email_send, email.pk, user=user, id=claimed.job_id)
    return email, job_id


def welcome_email_start(user) -> Email | None:
    """Write a new user's welcome email and send it in the background; None without an address."""
    with transaction.atomic():
        email = emails.email_create_welcome(user)
        if email is not None:
            queue.enqueue_on_commit(jobs.email_send, email.pk, user=user)
    return email


def password_reset_start(address: str, *, base_url: str) -> str:
    """Send a password reset for `address` ahead of everything else in the emails lane; the same
    work whether or not an account has the address (the job looks). Returns the job id."""
    with transaction.atomic():
        return queue.enqueue_on_commit(jobs.password_reset_send, address, base_url, priority=jobs.PRIORITY_URGENT)


def broadcast_start(message: str, *, by) -> str:
    """Announce `message` to every active user (`broadcast_send` fans it out); returns the job id."""
    message = message.strip()
    if not message:
        raise ValidationError({"message": "A broadcast needs a message."})
    with transaction.atomic():
        return queue.enqueue_on_commit(jobs.broadcast_send, message, user=by)
