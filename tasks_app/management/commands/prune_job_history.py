from django.conf import settings
from django.core.management.base import BaseCommand

from tasks_app.services import job_runs


class Command(BaseCommand):
    help = "Delete finished jobs older than JOB_HISTORY_DAYS and consumers silent for a day (the daily job does this)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.JOB_HISTORY_DAYS)
        parser.add_argument("--dry-run", action="store_true", help="only count them")

    def handle(self, *args, days: int, dry_run: bool = False, **options) -> None:
        runs, beats = job_runs.job_history_prune(older_than_days=days, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {runs} job(s) finished over {days} days ago and {beats} silent consumer(s).")
