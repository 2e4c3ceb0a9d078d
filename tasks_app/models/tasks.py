"""The domain: tasks (to-do items), in-app notifications and outgoing emails."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from tasks_app import permissions


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user) -> TaskQuerySet:
        """Every task for those who may change anyone's (`change_task`); else the ones they own or created."""
        if user.has_perm(permissions.CHANGE_OTHERS_TASKS):
            return self
        return self.filter(Q(owner=user) | Q(created_by=user))

    def open(self) -> TaskQuerySet:
        return self.exclude(status=Task.Status.DONE)

    def overdue(self, today: datetime.date | None = None) -> TaskQuerySet:
        return self.open().filter(due_date__lt=today or timezone.localdate())


class Task(models.Model):
    class Status(models.TextChoices):
        TODO = "todo", "To do"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="created_tasks"
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.TODO)
    priority = models.CharField(max_length=10, choices=Priority, default=Priority.NORMAL)
    due_date = models.DateField(null=True, blank=True)
    # Who last gave the task to its owner, and when (a change of owner by someone else than the new owner).
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="given_tasks",
    )
    given_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The import that made the task: its undo removes what it made.
    source_import = models.ForeignKey(
        "tasks_app.TaskImport", on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="tasks"
    )
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["status", "due_date"]),
            # The trend chart's last 30 days, the list's newest first, the old done tasks' cleanup.
            models.Index(fields=["created_at"], name="task_created_at"),
            models.Index(fields=["completed_at"], name="task_completed_at"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("tasks:task-detail", args=[self.pk])

    @property
    def is_overdue(self) -> bool:
        return self.status != self.Status.DONE and self.due_date is not None and self.due_date < timezone.localdate()


class Notification(models.Model):
    class Kind(models.TextChoices):
        TASK_ASSIGNED = "task_assigned", "Task assigned"
        TASK_OVERDUE = "task_overdue", "Task overdue"
        JOB_FAILED = "job_failed", "Background job failed"
        BROADCAST = "broadcast", "Announcement"
        REPORT_READY = "report_ready", "Report ready"
        IMPORT_DONE = "import_done", "Import finished"
        EXPORT_READY = "export_ready", "Export ready"
        EXPORT_FAILED = "export_failed", "Export failed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=30, choices=Kind)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Makes a job that notifies safe to run twice: the second insert finds the first.
    dedup_key = models.CharField(max_length=200, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message

    def target_url(self) -> str | None:
        """Where opening it leads: its task, its job's page (staff), or the file it announces."""
        if self.data.get("task_id"):
            return reverse("tasks:task-detail", args=[self.data["task_id"]])
        if self.data.get("job_id"):
            return reverse("dashboard:job-detail", args=[self.data["job_id"]])
        return self.data.get("url")


class MailSlot(models.Model):
    """One mail budget's current minute and how many of its sends it has handed out
    (`services.emails.mail_slot`)."""

    name = models.CharField(max_length=50, primary_key=True)
    minute = models.DateTimeField()
    used = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.used} at {self.minute:%H:%M}"


class RateCount(models.Model):
    """Hits of one rate limit's key in one bucket (`tasks_app.rate_limits`, on PostgreSQL)."""

    key = models.CharField(max_length=200)
    bucket = models.BigIntegerField()  # its start (a Unix time) over its length, a tenth of the limit's period
    hits = models.PositiveIntegerField()
    expires_at = models.FloatField(db_index=True)  # a Unix time: no hit reads it after

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "bucket"], name="rate_count_key_bucket")]

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} in bucket {self.bucket}"


class Email(models.Model):
    """An outgoing email: written in the request, sent by a job, kept as a log."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        WELCOME = "welcome", "Welcome"
        SIGNUP = "signup", "Sign-up: confirm the address"
        PASSWORD_RESET = "password_reset", "Password reset"
        TASK = "task", "A task, on request"
        TASK_COMPLETED = "task_completed", "Task completed"
        DIGEST = "digest", "Daily digest"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    kind = models.CharField(max_length=30, choices=Kind)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True, editable=False)  # the job sending it (queue.claims)
    dedup_key = models.CharField(max_length=200, unique=True, null=True, blank=True, editable=False)
    # The task the mail is about (its page reads them from this index); kept, as JobRun.task is,
    # when the task is deleted: the log says what was mailed about which task.
    task = models.ForeignKey(
        Task,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        editable=False,
        related_name="emails",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} to {self.to}"
