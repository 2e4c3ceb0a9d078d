from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from tasks_app.api import jobs, views

router = DefaultRouter()
router.register("tasks", views.TaskViewSet, basename="task")
router.register("notifications", views.NotificationViewSet, basename="notification")

urlpatterns = [
    path("me/", views.me, name="api-me"),
    path("broadcasts/", views.broadcast, name="api-broadcast"),
    path("jobs/<str:job_id>/", jobs.job_detail, name="api-job-detail"),
    path("jobs/<str:job_id>/cancel/", jobs.job_cancel, name="api-job-cancel"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include(router.urls)),
]
