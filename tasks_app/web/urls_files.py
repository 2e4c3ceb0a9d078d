from django.urls import path

from tasks_app.web import files as views

app_name = "files"
urlpatterns = [
    path("reports/", views.report_list, name="report-list"),
    path("reports/<int:pk>/download/", views.report_download, name="report-download"),
    path("reports/<int:pk>/cancel/", views.report_cancel, name="report-cancel"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/undo/", views.import_undo, name="import-undo"),
    path("exports/", views.export_list, name="export-list"),
    path("exports/<int:pk>/download/", views.export_download, name="export-download"),
]
