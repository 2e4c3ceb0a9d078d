"""Every background job, one module per topic. Jobs are thin: they take ids and JSON-friendly
values, look the row up, call one service, log. A row deleted meanwhile ends the job quietly.

A job's registered name (module path + function name, e.g. `tasks_app.jobs.emails.email_send`)
is part of the queue's wire format: renaming or moving one strands messages already queued.
"""

from tasks_app.jobs.emails import (
    PRIORITY_BULK,
    PRIORITY_URGENT,
    digest_send,
    email_send,
    password_reset_send,
    task_completed_notify,
)
from tasks_app.jobs.files import (
    export_chord,
    export_combine,
    export_part,
    import_export_cleanup,
    import_notify,
    import_pipeline,
    import_run,
    report_build,
    report_cleanup,
)
from tasks_app.jobs.maintenance import db_backup, done_tasks_cleanup, job_history_prune, stats_snapshot
from tasks_app.jobs.notifications import (
    broadcast_deliver,
    broadcast_send,
    broadcast_summarize,
    overdue_check,
    task_assigned_notify,
)

__all__ = [
    "PRIORITY_BULK",
    "PRIORITY_URGENT",
    "broadcast_deliver",
    "broadcast_send",
    "broadcast_summarize",
    "db_backup",
    "digest_send",
    "done_tasks_cleanup",
    "email_send",
    "password_reset_send",
    "export_chord",
    "export_combine",
    "export_part",
    "import_export_cleanup",
    "import_notify",
    "import_pipeline",
    "import_run",
    "report_build",
    "report_cleanup",
    "job_history_prune",
    "overdue_check",
    "stats_snapshot",
    "task_assigned_notify",
    "task_completed_notify",
]
