"""Starting background work: write the rows, then enqueue their job once the transaction commits.

One function per workflow, shared by the web UI, the API and the admin, so a "start" is written
once. Imports flow one way: models <- services <- jobs <- workflows <- views, api, admin, forms.
Services never import jobs; workflows are the one layer that may call both (through `queue`).
"""

from tasks_app.workflows.accounts import email_change_start, email_changed, password_changed, signup_start
from tasks_app.workflows.files import TooMuchInProgress, export_start, import_start, report_cancel, report_start
from tasks_app.workflows.tasks import (
    broadcast_start,
    password_reset_start,
    task_complete,
    task_create,
    task_email,
    task_update,
    welcome_email_start,
)

__all__ = [
    "TooMuchInProgress",
    "broadcast_start",
    "email_change_start",
    "email_changed",
    "export_start",
    "import_start",
    "password_changed",
    "password_reset_start",
    "report_cancel",
    "report_start",
    "signup_start",
    "task_complete",
    "task_create",
    "task_email",
    "task_update",
    "welcome_email_start",
]
