from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tasks_app.services import backups


class Command(BaseCommand):
    help = "Back up the app database into DATA_DIR/backups/ (the 6-hourly job does this), or restore one."

    def add_arguments(self, parser):
        parser.add_argument("--keep", type=int, default=settings.BACKUP_KEEP)
        parser.add_argument("--restore", metavar="BACKUP", help="restore this backup file instead ...")
        parser.add_argument("--into", metavar="PATH", help="... into this new file (stop the site to restore in place)")

    def handle(self, *args, keep: int, restore: str | None, into: str | None, **options) -> None:
        try:
            if restore:
                if not into:
                    raise CommandError("--restore needs --into PATH")
                backups.backup_restore(Path(restore), Path(into))
                self.stdout.write(f"Restored {restore} into {into}.")
            else:
                self.stdout.write(f"Wrote {backups.backup_create(keep=keep)}")
        except (backups.BackupError, OSError) as error:
            raise CommandError(str(error)) from error
