from django.urls import path

from tasks_app.web import account as views

app_name = "account"
urlpatterns = [
    path("", views.account_detail, name="account-detail"),
    path("name/", views.name_change, name="name-change"),
    path("time-zone/", views.time_zone_change, name="time-zone-change"),
    path("email/", views.email_change, name="email-change"),
    path("email/confirm/<int:mail_id>/<str:token>/", views.email_confirm, name="email-confirm"),
    path("email/undo/<str:token>/", views.email_undo, name="email-undo"),
    path("tokens/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
