from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from tasks_app import permissions, queue, workflows
from tasks_app.models import (
    ConsumerHeartbeat,
    Email,
    JobEvent,
    JobRun,
    Notification,
    PausedJob,
    PersonalToken,
    Report,
    Task,
    TaskImport,
    WorkspaceExport,
)
from tasks_app.services import emails, tasks, user_stats


class GatedAdmin(admin.ModelAdmin):
    """A list of everyone's rows that only a holder of `gate`, a named permission, opens (seeing
    them in the admin is seeing them anywhere); the model's own permissions still apply on top."""

    gate: str

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(self.gate)

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm(self.gate) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(self.gate) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(self.gate) and super().has_delete_permission(request, obj)


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "status", "priority", "due_date", "created_at"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "description", "owner__username"]
    raw_id_fields = ["owner", "created_by"]
    date_hierarchy = "created_at"
    actions = ["complete"]

    # Through the workflows, so a task written here starts the same jobs as in the UI and the API.
    def save_model(self, request, obj: Task, form, change: bool) -> None:
        if change:
            workflows.task_update(obj, by=request.user)
            return
        fields = {name: value for name, value in form.cleaned_data.items() if name != "created_by"}
        created = workflows.task_create(created_by=form.cleaned_data.get("created_by") or request.user, **fields)
        obj.pk = created.pk

    def delete_model(self, request, obj: Task) -> None:
        tasks.task_delete(obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            owners = set(queryset.values_list("owner_id", flat=True).distinct())
            super().delete_queryset(request, queryset)
            user_stats.counts_outdated(owners)

    @admin.action(description="Complete the selected tasks (their owners are emailed)", permissions=["change"])
    def complete(self, request, queryset) -> None:
        completed = 0
        for task in queryset.exclude(status=Task.Status.DONE):
            workflows.task_complete(task, by=request.user)
            completed += 1
        self.message_user(request, f"Completed {completed} task(s).")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "message", "read_at", "created_at"]
    list_filter = ["kind"]
    search_fields = ["message", "user__username"]
    raw_id_fields = ["user"]


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    """The mail log. Who a mail goes to and what it says cannot be changed here: else staff could
    send themselves anyone's reset link. Bodies holding a one-time link are never shown."""

    list_display = ["to", "kind", "subject", "status", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    search_fields = ["to", "subject"]
    exclude = ["body"]
    readonly_fields = ["kind", "to", "subject", "message", "user", "dedup_key"]

    @admin.display(description="body")
    def message(self, email: Email) -> str:
        return "(hidden: it holds a one-time link)" if email.kind in emails.SENSITIVE_KINDS else email.body


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "at", "detail"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JobRun)
class JobRunAdmin(GatedAdmin):
    """Every background job (`view_all_jobs`); failed ones (dead letters) can be retried or dismissed
    from here (`manage_jobs`)."""

    gate = permissions.VIEW_ALL_JOBS

    list_display = ["short_name", "id", "state", "triggered_by", "enqueued_at", "duration", "attempts", "error"]
    list_filter = ["state", "name", "periodic"]
    search_fields = ["id", "name", "error"]
    date_hierarchy = "enqueued_at"
    inlines = [JobEventInline]
    actions = ["retry_failed", "dismiss_failed"]
    exclude = ["message"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        return [f.name for f in JobRun._meta.fields if f.name != "message"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_manage_jobs_permission(self, request) -> bool:
        return request.user.has_perm(permissions.MANAGE_JOBS)

    @admin.action(description="Retry the selected failed jobs", permissions=["manage_jobs"])
    def retry_failed(self, request, queryset) -> None:
        retried = 0
        for run in queryset.filter(state=JobRun.State.FAILED).exclude(message=None):
            queue.retry(run, user=request.user, note=f"from the admin by {request.user.get_username()}")
            retried += 1
        self.message_user(request, f"Re-enqueued {retried} failed job(s); others were not failed or had no message.")

    @admin.action(description="Dismiss the selected failed jobs", permissions=["manage_jobs"])
    def dismiss_failed(self, request, queryset) -> None:
        for run in queryset.filter(state=JobRun.State.FAILED):
            queue.dismiss(run)
        self.message_user(request, "Dismissed.")


@admin.register(ConsumerHeartbeat)
class ConsumerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["consumer_id", "pid", "workers", "started_at", "beat_at"]


@admin.register(PausedJob)
class PausedJobAdmin(admin.ModelAdmin):
    """Read-only: pause and resume on /ops/ (`manage_jobs`), which also tells the running consumers."""

    list_display = ["name", "paused_by", "paused_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PersonalToken)
class PersonalTokenAdmin(admin.ModelAdmin):
    """Read-only: people make their tokens on their account page. Deleting one revokes it."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at"]
    search_fields = ["name", "user__username"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Report, TaskImport, WorkspaceExport)
class FileJobAdmin(GatedAdmin):
    gate = permissions.VIEW_OTHERS_FILES
    list_display = ["__str__", "owner", "status", "job_id", "created_at", "finished_at"]
    list_filter = ["status"]
    raw_id_fields = ["owner"]
    readonly_fields = ["job_id"]


class UserAdmin(auth_admin.UserAdmin):
    """Django's, but a password set here revokes the person's API tokens and mails them so, as a
    change or reset on the site does."""

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            user = self.get_object(request, unquote(id))
            workflows.password_changed(user, reset_url=request.build_absolute_uri(reverse("password_reset")))
        return response


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserAdmin)
