"""Models, one module per topic; import them from here."""

from tasks_app.models.tasks import Email, Notification, Task

__all__ = ["Email", "Notification", "Task"]
