from django.contrib import admin
from django.urls import include, path

from tasks_app.health import healthz
from tasks_app.metrics import metrics
from tasks_app.web.signup import PasswordChange, PasswordReset, PasswordResetConfirm

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("ops/", include("tasks_app.dashboard.urls")),
    path(
        "accounts/password_reset/",
        PasswordReset.as_view(),
        name="password_reset",
    ),
    path("accounts/password_change/", PasswordChange.as_view(), name="password_change"),
    path("accounts/reset/<uidb64>/<token>/", PasswordResetConfirm.as_view(), name="password_reset_confirm"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("tasks_app.api.urls")),
    path("account/", include("tasks_app.web.account_urls")),
    path("", include("tasks_app.web.urls_files")),
    path("", include("tasks_app.web.urls")),
]
