from django.urls import path

from tasks_app.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/pause/", views.job_pause, name="job-pause"),
    path("jobs/<str:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<str:job_id>/dismiss/", views.job_dismiss, name="job-dismiss"),
    path("jobs/<str:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("lanes/<str:lane>/pause/", views.lane_pause, name="lane-pause"),
    path("schedule/<str:name>/", views.periodic_detail, name="periodic-detail"),
    path("schedule/<str:name>/run/", views.periodic_run, name="periodic-run"),
]
