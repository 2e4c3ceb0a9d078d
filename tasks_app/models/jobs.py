"""The history of background jobs: one row per job, its events, consumer heartbeats, paused jobs.

Huey keeps no history (its results are popped when read); these rows are the one source of
truth that the job-status API, the operations dashboard and /healthz read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobRun(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    FINISHED_STATES = {State.SUCCEEDED, State.FAILED, State.REVOKED, State.EXPIRED}
    WAITING_STATES = {State.PENDING, State.SCHEDULED, State.RETRYING}

    id = models.CharField(primary_key=True, max_length=64)  # Huey's job id
    name = models.CharField(
        max_length=200, db_index=True
    )  # Huey's registered name, e.g. tasks_app.jobs.emails.email_send
    queue = models.CharField(max_length=100)
    lane = models.CharField(max_length=50, default="default", db_index=True)  # settings.HUEY_LANE_ROUTES
    priority = models.IntegerField(null=True, blank=True)
    args = models.JSONField(default=list, blank=True)  # as shown to people: secrets redacted
    kwargs = models.JSONField(default=dict, blank=True)
    # The serialized Huey message, kept until the job succeeds, so a failed job can be retried.
    message = models.BinaryField(null=True, blank=True, editable=False)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="job_runs"
    )
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retried_as")
    # The task the job is about (the task's page reads its jobs from this index), set where such a
    # job is enqueued (`services.job_runs.job_run_about`). Kept as it is when the task is deleted:
    # no constraint (the history writer writes rows whatever became of the task) and nothing done
    # on delete, so deleting a task never rewrites the history; task ids are never reused.
    task = models.ForeignKey(
        "tasks_app.Task",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        editable=False,
        related_name="job_runs",
    )
    periodic = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State, default=State.PENDING, db_index=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    eta = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    duration = models.FloatField(null=True, blank=True)  # seconds of the last attempt
    attempts = models.PositiveIntegerField(default=0)  # runs, Huey's retries included
    # How many times the queue handed the job's current message to a consumer: more than one
    # means a consumer died while holding it (the history shows `orphaned` and `requeued`).
    deliveries = models.PositiveIntegerField(default=0)
    retries_left = models.IntegerField(default=0)
    progress_current = models.PositiveIntegerField(null=True, blank=True)
    progress_total = models.PositiveIntegerField(null=True, blank=True)
    progress_message = models.CharField(max_length=300, blank=True)
    result_summary = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    dismissed_at = models.DateTimeField(null=True, blank=True)  # a failed job an operator discarded
    state_changed_at = models.DateTimeField(null=True, blank=True)  # when the event that set `state` happened
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-enqueued_at", "-id"]
        indexes = [models.Index(fields=["state", "enqueued_at"]), models.Index(fields=["name", "finished_at"])]
        permissions = [
            ("view_all_jobs", "Can see every background job, not only their own"),
            ("manage_jobs", "Can retry, discard, cancel, pause and resume background jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.short_name} {self.id} ({self.state})"

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def progress_percent(self) -> int | None:
        if self.progress_total:
            return min(100, round(100 * (self.progress_current or 0) / self.progress_total))
        return None


class JobEvent(models.Model):
    """One transition of a job, as Huey or the leased queue signalled it (orphaned, requeued, recovered...)."""

    job = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    at = models.DateTimeField(db_index=True)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%Y-%m-%d %H:%M:%S}"


class JobTotal(models.Model):
    """A running total of the finished jobs of one lane and job name (/metrics' counters and
    histograms), added to by the history writer as each job finishes (`queue.history.totals`).

    `series`: "finished:<state>", "retried", "requeued", "wait_le"/"run_le" (the jobs that waited
    or ran at most `le` seconds), "wait_count"/"run_count", "wait_sum"/"run_sum" (seconds)."""

    lane = models.CharField(max_length=50)
    name = models.CharField(max_length=200)
    series = models.CharField(max_length=40)
    le = models.FloatField(default=0)
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lane", "name", "series", "le"], name="job_total_key")]

    def __str__(self) -> str:
        return f"{self.name} {self.series} {self.le}: {self.value}"


class ConsumerHeartbeat(models.Model):
    """A running `manage.py run_huey` process, beating every few seconds."""

    consumer_id = models.CharField(max_length=200, unique=True)  # hostname:pid
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    workers = models.PositiveIntegerField()
    lanes = models.CharField(max_length=300, blank=True)  # the lanes it serves, "default, emails, maintenance"
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)
    # The last time its history writer had written (and acked) everything it was given.
    history_flushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-beat_at"]

    def __str__(self) -> str:
        return self.consumer_id


class PausedJob(models.Model):
    """A job name whose runs wait in the schedule instead of executing, until resumed."""

    name = models.CharField(max_length=200, unique=True)
    paused_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    paused_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class PeriodicTick(models.Model):
    """The ledger of periodic jobs: each time one was due, and what became of it.

    The scheduler that first records a tick is the one that runs it (the unique pair of name and
    time), so with several consumers each tick runs once; ticks missed while no consumer ran are
    recorded by the first consumer back, with its missed-run policy applied once.
    """

    class Outcome(models.TextChoices):
        RAN = "ran", "Ran"
        CAUGHT_UP = "caught_up", "Missed, run late"
        MISSED = "missed", "Missed"
        PAUSED = "paused", "Skipped: paused"

    name = models.CharField(max_length=200)  # the job's registered name, as JobRun.name
    due_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome)
    job_id = models.CharField(max_length=64, blank=True)  # the job it ran as (JobRun.id); pruned separately
    detail = models.CharField(max_length=300, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["name", "due_at"], name="periodic_tick_once")]

    def __str__(self) -> str:
        return f"{self.name} at {self.due_at:%Y-%m-%d %H:%M} ({self.outcome})"


class UniqueJob(models.Model):
    """A uniqueness key and the job that holds it: while that job waits or runs (or finished less
    than `after_finish` ago), enqueueing with the same key returns it instead of a new job."""

    key = models.CharField(primary_key=True, max_length=200)
    job_id = models.CharField(max_length=64)
    after_finish = models.DurationField()  # how long the key stays with its job once it finished
    claimed_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} -> {self.job_id}"
