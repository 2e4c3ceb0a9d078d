from django.urls import path

from tasks_app.dashboard import views

app_name = "dashboard"
urlpatterns = [
    # The tabs, each its own page (`?fragment=1`: only the part its page refreshes)
    path("", views.overview, name="overview"),
    path("running/", views.running, name="running"),
    path("lanes/", views.lane_list, name="lane-list"),
    path("schedule/", views.periodic_list, name="periodic-list"),
    path("failed/", views.failed_list, name="failed-list"),
    path("consumers/", views.consumer_list, name="consumer-list"),
    path("stats/", views.stats, name="stats"),
    path("jobs/", views.job_list, name="job-list"),
    # Pages and actions
    path("failed/retry/", views.failed_retry_all, name="failed-retry-all"),
    path("jobs/pause/", views.job_pause, name="job-pause"),
    path("jobs/<str:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/retry/", views.job_retry, name="job-retry"),
    path("jobs/<str:job_id>/dismiss/", views.job_dismiss, name="job-dismiss"),
    path("jobs/<str:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("lanes/<str:lane>/pause/", views.lane_pause, name="lane-pause"),
    path("schedule/<str:name>/", views.periodic_detail, name="periodic-detail"),
    path("schedule/<str:name>/run/", views.periodic_run, name="periodic-run"),
]
