from django.conf import settings
from django.core.management.base import BaseCommand

from tasks_app.services import maintenance


class Command(BaseCommand):
    help = "Delete tasks completed more than DONE_TASK_RETENTION_DAYS ago (the weekly job does this)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.DONE_TASK_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="only count them")

    def handle(self, *args, days: int, dry_run: bool = False, **options) -> None:
        count = maintenance.done_tasks_delete(older_than_days=days, dry_run=dry_run)
        self.stdout.write(f"{'Would delete' if dry_run else 'Deleted'} {count} task(s) done over {days} days ago.")
