"""Files users asked for or uploaded (reports, imports, exports) are kept for a while, then deleted."""

import datetime

from django.utils import timezone


def file_rows_delete_old(model, *, older_than_days: int, dry_run: bool = False, each=None) -> int:
    """Delete `model`'s rows created more than `older_than_days` ago with their files; `each(row)` runs first
    for what a row leaves besides its file. Return how many (would be) deleted."""
    old = model.objects.filter(created_at__lt=timezone.now() - datetime.timedelta(days=older_than_days))
    if dry_run:
        return old.count()
    count = 0
    for row in old:
        if each:
            each(row)
        if row.file:
            row.file.delete(save=False)
        row.delete()
        count += 1
    return count
