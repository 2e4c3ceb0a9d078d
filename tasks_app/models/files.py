"""Long work a user asks for and later downloads: reports, CSV imports, workspace exports.

The row holds what the UI reads (status, counts, the file); the JobRun named by `job_id`
holds the job's progress and history.
"""

from django.conf import settings
from django.db import models

from tasks_app import permissions


class FileJobQuerySet(models.QuerySet):
    def visible_to(self, user) -> "FileJobQuerySet":
        """Everyone's for a holder of `view_others_files`; else one's own."""
        return self if user.has_perm(permissions.VIEW_OTHERS_FILES) else self.filter(owner=user)


class FileJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINISHED = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    job_id = models.CharField(max_length=64, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)  # the job working on it (queue.claims)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = FileJobQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
        # A person's files in progress, counted at every start (FILE_JOBS_PER_PERSON): a few index
        # probes, not a scan of the person's files of the last days.
        indexes = [models.Index(fields=["owner", "status"], name="%(class)s_owner_status")]

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class Report(FileJob):
    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"
        PDF = "pdf", "PDF"

    format = models.CharField(max_length=4, choices=Format)
    task_status = models.CharField(max_length=20, blank=True)  # a Task.Status value, or all
    date_from = models.DateField(null=True, blank=True)  # on the tasks' creation date
    date_to = models.DateField(null=True, blank=True)
    file = models.FileField(upload_to="reports/", blank=True)
    rows = models.PositiveIntegerField(default=0)

    class Meta(FileJob.Meta):
        # Here once for all three kinds of file (one permission to grant, not three).
        permissions = [("view_others_files", "Can see and download other people's reports, imports and exports")]

    def __str__(self) -> str:
        return f"{self.get_format_display()} report #{self.pk}"


class TaskImport(FileJob):
    class DateOrder(models.TextChoices):
        """How the file writes dates that are not YYYY-MM-DD (those are always read): chosen by
        the person, since 03/04/2026 is either, and guessing row by row would mix them."""

        ISO = "iso", "YYYY-MM-DD only"
        DAY_FIRST = "dmy", "Day first: 22.12.2026, 22/12/2026"
        MONTH_FIRST = "mdy", "Month first: 12/22/2026"

    file = models.FileField(upload_to="imports/")
    date_order = models.CharField(max_length=3, choices=DateOrder, default=DateOrder.ISO)
    created = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)  # rows of tasks the person already has
    errors = models.JSONField(default=list, blank=True)  # [{"line": 3, "title": "...", "reason": "..."}]
    rows_done = models.PositiveIntegerField(default=0)  # rows handled: a rerun resumes after them
    undone_at = models.DateTimeField(null=True, blank=True)  # its tasks removed by its owner

    class Meta(FileJob.Meta):
        pass

    def __str__(self) -> str:
        return f"Import #{self.pk}"


class WorkspaceExport(FileJob):
    file = models.FileField(upload_to="exports/", blank=True)

    class Meta(FileJob.Meta):
        pass

    def __str__(self) -> str:
        return f"Export #{self.pk}"


class UserTaskStats(models.Model):
    """A user's task counts, changed by each task write and recounted once a day (services/user_stats.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="task_stats")
    open = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    counted_on = models.DateField(null=True, blank=True)  # the day "overdue" was counted for; None: never counted
    version = models.PositiveBigIntegerField(default=0)  # one more at each change: a recount checks it did not move
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.open} open, {self.overdue} overdue"
