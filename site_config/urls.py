from django.contrib import admin
from django.contrib.auth.views import PasswordResetView
from django.urls import include, path

from tasks_app.forms import QueuedPasswordResetForm
from tasks_app.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("ops/", include("tasks_app.dashboard.urls")),
    path(
        "accounts/password_reset/",
        PasswordResetView.as_view(form_class=QueuedPasswordResetForm),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("tasks_app.api.urls")),
    path("", include("tasks_app.urls_files")),
    path("", include("tasks_app.urls")),
]
