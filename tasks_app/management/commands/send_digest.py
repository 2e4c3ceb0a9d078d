from django.core.management.base import BaseCommand
from django.utils import timezone

from tasks_app import jobs
from tasks_app.services import emails


class Command(BaseCommand):
    help = "Write today's digest emails (once per user per day) and queue them: the 08:00 job, run here."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only say who would get one")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        if dry_run:
            names = list(emails.digest_recipients(timezone.localdate()).values_list("username", flat=True))
            self.stdout.write(f"Would send {len(names)} digest(s): {', '.join(names) or 'nobody'}")
            return
        count = jobs.digest_send.call_local()  # the job's own code, in this process
        self.stdout.write(f"Queued {count} digest(s).")
