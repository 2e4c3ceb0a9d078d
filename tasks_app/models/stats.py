from django.db import models


class TaskStatsSnapshot(models.Model):
    """Tasks created, completed and overdue in one hour; the 30-day trend chart sums them per day."""

    hour = models.DateTimeField(unique=True)  # the start of the hour
    created = models.PositiveIntegerField()
    completed = models.PositiveIntegerField()
    overdue = models.PositiveIntegerField()  # open tasks past their due date at the end of the hour

    class Meta:
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00}"
