from django.conf import settings
from django.core.management.base import BaseCommand

from tasks_app.services import reports


class Command(BaseCommand):
    help = "Delete reports older than REPORT_RETENTION_DAYS, files included (the daily 03:00 job does this)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.REPORT_RETENTION_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="only count them")

    def handle(self, *args, days: int, dry_run: bool = False, **options) -> None:
        count = reports.reports_delete_old(older_than_days=days, dry_run=dry_run)
        self.stdout.write(f"{'Would delete' if dry_run else 'Deleted'} {count} report(s) older than {days} days.")
