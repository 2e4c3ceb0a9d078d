"""Every background job, one module per topic. Jobs are thin: they take ids and JSON-friendly
values, look the row up, call one service, log. A row deleted meanwhile ends the job quietly.

A job's registered name (module path + function name, e.g. `tasks_app.jobs.emails.email_send`)
is part of the queue's wire format: renaming or moving one strands messages already queued.
"""

from tasks_app.jobs.emails import PRIORITY_BULK, PRIORITY_URGENT, email_send
from tasks_app.jobs.notifications import overdue_check, task_assigned_notify

__all__ = ["PRIORITY_BULK", "PRIORITY_URGENT", "email_send", "overdue_check", "task_assigned_notify"]
