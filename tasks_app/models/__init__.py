"""Models, one module per topic; import them from here."""

from tasks_app.models.files import Report, TaskImport, UserTaskStats, WorkspaceExport
from tasks_app.models.jobs import ConsumerHeartbeat, JobEvent, JobRun, JobTotal, PausedJob, PeriodicTick, UniqueJob
from tasks_app.models.people import Profile
from tasks_app.models.stats import TaskStatsSnapshot
from tasks_app.models.tasks import Email, MailSlot, Notification, RateCount, Task
from tasks_app.models.tokens import PersonalToken

__all__ = [
    "Report",
    "TaskImport",
    "UserTaskStats",
    "WorkspaceExport",
    "ConsumerHeartbeat",
    "Email",
    "MailSlot",
    "RateCount",
    "JobEvent",
    "JobRun",
    "JobTotal",
    "Notification",
    "PausedJob",
    "PersonalToken",
    "PeriodicTick",
    "Profile",
    "Task",
    "TaskStatsSnapshot",
    "UniqueJob",
]
