from django.contrib import admin

from tasks_app.models import Email, Notification, Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "status", "priority", "due_date", "created_at"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "description", "owner__username"]
    raw_id_fields = ["owner", "created_by"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "message", "read_at", "created_at"]
    list_filter = ["kind"]
    search_fields = ["message", "user__username"]
    raw_id_fields = ["user"]


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    list_display = ["to", "kind", "subject", "status", "created_at", "sent_at"]
    list_filter = ["kind", "status"]
    search_fields = ["to", "subject"]
    raw_id_fields = ["user"]
    readonly_fields = ["dedup_key"]
