import datetime

from django.core.management.base import BaseCommand
from django.utils import timezone

from tasks_app.services import maintenance


class Command(BaseCommand):
    help = "Record the task statistics of the last complete hour (the hourly job does this)."

    def handle(self, *args, **options) -> None:
        hour = timezone.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=1)
        snapshot = maintenance.stats_snapshot(hour)
        self.stdout.write(
            f"{snapshot.hour:%Y-%m-%d %H:00}: created {snapshot.created}, completed {snapshot.completed}, "
            f"overdue {snapshot.overdue}"
        )
