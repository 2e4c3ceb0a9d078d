import mimetypes

from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Tasks"

    def ready(self) -> None:
        # Python's own table has no .xlsx (it reads /etc/mime.types where there is one): reports
        # are downloaded with the media type the API schema promises on every machine.
        mimetypes.add_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx")
        # run_huey autodiscovers only modules named `tasks`: register our jobs explicitly,
        # and the signal handlers that record every job's history.
        from tasks_app import checks, jobs  # noqa: F401
        from tasks_app.queue import signals  # noqa: F401
