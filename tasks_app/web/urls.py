from django.urls import path

from tasks_app.web import signup, views

app_name = "tasks"
urlpatterns = [
    path("", views.task_list, name="task-list"),
    path("tasks/new/", views.task_create, name="task-create"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/edit/", views.task_edit, name="task-edit"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task-complete"),
    path("tasks/<int:pk>/delete/", views.task_delete, name="task-delete"),
    path("tasks/<int:pk>/email/", views.task_email, name="task-email"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/<int:pk>/", views.notification_open, name="notification-open"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("notifications/read-all/", views.notification_read_all, name="notification-read-all"),
    path("notifications/badge/", views.notification_badge, name="notification-badge"),
    path("signup/", signup.signup, name="signup"),
    path("signup/verify/<str:token>/", signup.signup_verify, name="signup-verify"),
]
