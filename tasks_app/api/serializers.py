"""The API's serializers: tasks, notifications, users, broadcasts, reports, imports, exports, jobs."""

from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tasks_app.models import JobRun, Notification, Report, Task, TaskImport, UserTaskStats, WorkspaceExport
from tasks_app.services import imports, job_stats

# Some character that str.strip() keeps (DRF trims text), for the schema's `pattern`: spelled out, since
# `\s` differs between Python and the ECMA regexes of JSON Schema (\x1c-\x1f, \x85, \ufeff).
NOT_BLANK = RegexValidator(
    r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]",
    "Enter more than whitespace.",
)


class StrictCharField(serializers.CharField):
    """Text only, as the schema says: DRF's CharField also takes a number (`"title": 5` becomes "5")."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class TaskSerializer(serializers.ModelSerializer):
    # The schema says what the field checks: 1 to 200 characters, not whitespace alone (`pattern`).
    title = StrictCharField(min_length=1, max_length=200, validators=[NOT_BLANK])
    description = StrictCharField(required=False, allow_blank=True)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="User id of the owner; defaults to you.",
    )
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "owner",
            "created_by",
            "status",
            "priority",
            "due_date",
            "completed_at",
            "is_overdue",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["completed_at", "created_at", "updated_at"]


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "data", "read_at", "created_at"]
        read_only_fields = fields


class UserTaskStatsSerializer(serializers.ModelSerializer):
    class Meta:
        model = UserTaskStats
        fields = ["open", "done", "overdue", "updated_at"]
        read_only_fields = fields


class OptionalEmailField(serializers.EmailField):
    """An address, or null for none: Django stores "" there, which `format: email` cannot hold."""

    def to_representation(self, value: str) -> str | None:
        return value or None


class UserSerializer(serializers.ModelSerializer):
    email = OptionalEmailField(allow_null=True, read_only=True, help_text="Your address; null when you have none.")
    task_stats = UserTaskStatsSerializer(
        read_only=True, help_text="Your task counts: open, done, overdue (as of today)."
    )

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "is_staff", "task_stats"]
        read_only_fields = fields


class BroadcastSerializer(serializers.Serializer):
    message = StrictCharField(max_length=500, validators=[NOT_BLANK], help_text="The announcement.")


def job_progress(job_id: str) -> dict:
    """A job's progress from its history row, for the rows that follow one (reports, imports)."""
    run = JobRun.objects.filter(pk=job_id).first() if job_id else None
    if run is None:
        return {"current": None, "total": None, "percent": None}
    return {"current": run.progress_current, "total": run.progress_total, "percent": run.progress_percent}


class PausedField(serializers.BooleanField):
    """Whether the work waits because an operator paused its job (its status stays "pending")."""

    def __init__(self):
        help_text = "True while its job is paused by an operator: it waits until resumed."
        super().__init__(source="*", read_only=True, help_text=help_text)

    def to_representation(self, row) -> bool:
        return row.status == row.Status.PENDING and job_stats.waits_paused(row.job_id)


class StartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job_id = serializers.CharField()
    status_url = serializers.CharField()
    created = serializers.BooleanField(
        help_text="False (with 200) when the same work was already in progress: its ids."
    )
    detail = serializers.CharField(required=False, help_text="Why no new job was started.")


class ReportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=Report.Format.choices)
    status = serializers.ChoiceField(
        choices=Task.Status.choices, required=False, allow_blank=True, help_text="Only tasks in this status."
    )
    date_from = serializers.DateField(required=False, allow_null=True)
    date_to = serializers.DateField(required=False, allow_null=True)


class ReportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    paused = PausedField()
    download_url = serializers.SerializerMethodField()
    status_filter = serializers.CharField(source="task_status")

    class Meta:
        model = Report
        fields = ["id", "format", "status", "paused", "progress", "download_url", "job_id", "error", "rows"]
        fields += ["status_filter", "date_from", "date_to", "created_at", "finished_at"]

    def get_progress(self, report: Report) -> dict:
        if report.status == Report.Status.SUCCEEDED:  # the job's last progress write may still be buffered
            return {"current": report.rows, "total": report.rows, "percent": 100}
        return job_progress(report.job_id)

    def get_download_url(self, report: Report) -> str | None:
        if report.status != Report.Status.SUCCEEDED:
            return None
        return reverse("api-report-download", args=[report.pk])


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class UploadField(serializers.FileField):
    """A file of at least one byte: an empty one is refused (the schema's `minLength`)."""


class ImportUploadSerializer(serializers.Serializer):
    file = UploadField(
        help_text=f"{imports.FILES_ACCEPTED}. The first row names the columns: title (required); description; "
        f"status: {imports.accepted('status')}; priority: {imports.accepted('priority')}; due_date: YYYY-MM-DD, "
        "or a date cell (others as `date_order` says). Names and values are read regardless of case, in English "
        "or German (Titel, Beschreibung, Priorität, Fällig); other columns are ignored. Rows of tasks you already "
        "have (the same title and due date) are skipped."
    )
    date_order = serializers.ChoiceField(
        choices=TaskImport.DateOrder.choices,
        default=TaskImport.DateOrder.ISO,
        help_text="How the file writes dates other than YYYY-MM-DD: iso (none), dmy (22.12.2026, 22/12/2026) "
        "or mdy (12/22/2026).",
    )


class TaskImportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    paused = PausedField()

    class Meta:
        model = TaskImport
        fields = ["id", "status", "paused", "date_order", "created", "skipped", "failed", "errors", "error"]
        fields += ["progress", "job_id", "created_at", "finished_at", "undone_at"]

    def get_progress(self, task_import: TaskImport) -> dict:
        return job_progress(task_import.job_id)


class WorkspaceExportSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()
    paused = PausedField()

    class Meta:
        model = WorkspaceExport
        fields = ["id", "status", "paused", "download_url", "job_id", "error", "created_at", "finished_at"]

    def get_download_url(self, export: WorkspaceExport) -> str | None:
        if export.status != WorkspaceExport.Status.SUCCEEDED:
            return None
        return reverse("api-export-download", args=[export.pk])


class JobProgressSerializer(serializers.Serializer):
    current = serializers.IntegerField(source="progress_current", allow_null=True)
    total = serializers.IntegerField(source="progress_total", allow_null=True)
    percent = serializers.IntegerField(source="progress_percent", allow_null=True)
    message = serializers.CharField(source="progress_message")


class JobRunSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="short_name")
    state = serializers.SerializerMethodField(help_text='As stored, or "paused" while it waits and its job is paused.')
    progress = JobProgressSerializer(source="*")
    result = serializers.CharField(source="result_summary")

    class Meta:
        model = JobRun
        fields = [
            "id",
            "name",
            "state",
            "progress",
            "result",
            "error",
            "attempts",
            "deliveries",
            "retries_left",
            "enqueued_at",
            "eta",
            "started_at",
            "finished_at",
            "duration",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=job_stats.SHOWN_STATES))
    def get_state(self, run: JobRun) -> str:
        return job_stats.shown_state(run)


class JobAccepted(serializers.Serializer):
    job_id = serializers.CharField()
    status_url = serializers.CharField()


class JobAlready(JobAccepted):
    """200: the same work was asked for moments ago; its job, not a new one."""

    created = serializers.BooleanField()
    detail = serializers.CharField()
