from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from tasks_app.api import files, jobs, views

router = DefaultRouter()
router.register("tasks", views.TaskViewSet, basename="task")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("me/", views.me, name="api-me"),
    path("broadcasts/", views.broadcast, name="api-broadcast"),
    path("reports/", files.report_list, name="api-report-list"),
    path("reports/<int:pk>/", files.report_detail, name="api-report-detail"),
    path("reports/<int:pk>/download/", files.report_download, name="api-report-download"),
    path("reports/<int:pk>/cancel/", files.report_cancel, name="api-report-cancel"),
    path("imports/", files.import_create, name="api-import-create"),
    path("imports/<int:pk>/", files.import_detail, name="api-import-detail"),
    path("exports/", files.export_create, name="api-export-create"),
    path("exports/<int:pk>/", files.export_detail, name="api-export-detail"),
    path("exports/<int:pk>/download/", files.export_download, name="api-export-download"),
    path("jobs/<str:job_id>/", jobs.job_detail, name="api-job-detail"),
    path("jobs/<str:job_id>/cancel/", jobs.job_cancel, name="api-job-cancel"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="tasks_app/api_redoc.html"),
        name="api-redoc",
    ),
    path("", include(router.urls)),
    # Past the routes (a path like /api/tasks/abc/ that no route takes): the API's JSON 404.
    re_path(r"[\s\S]*/$", views.not_found),
]
