from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from tasks_app import jobs, queue
from tasks_app.services import emails


class Command(BaseCommand):
    help = "Write today's digest emails (once per user per day) and queue them, as the 08:00 job does."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="only say who would get one")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        if dry_run:
            names = list(emails.digest_recipients(timezone.localdate()).values_list("username", flat=True))
            self.stdout.write(f"Would send {len(names)} digest(s): {', '.join(names) or 'nobody'}")
            return
        with transaction.atomic():
            digests = emails.email_create_digests(timezone.localdate())
            for email in digests:
                queue.enqueue_on_commit(jobs.email_send, email.pk, priority=jobs.PRIORITY_BULK)
        self.stdout.write(f"Queued {len(digests)} digest(s).")
