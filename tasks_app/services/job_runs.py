"""Housekeeping of the job history."""

import datetime

from django.utils import timezone

from tasks_app.models import ConsumerHeartbeat, JobRun, PeriodicTick, UniqueJob


def job_history_prune(*, older_than_days: int, dry_run: bool = False) -> tuple[int, int]:
    """Delete finished jobs older than the retention and consumers silent for a day, with the
    periodic ledger's ticks and the uniqueness keys of the same age.

    Returns (job runs, heartbeats) deleted, or that would be deleted with dry_run.
    """
    now = timezone.now()
    cutoff = now - datetime.timedelta(days=older_than_days)
    runs = JobRun.objects.filter(state__in=JobRun.FINISHED_STATES, finished_at__lt=cutoff)
    beats = ConsumerHeartbeat.objects.filter(beat_at__lt=now - datetime.timedelta(days=1))
    if dry_run:
        return runs.count(), beats.count()
    PeriodicTick.objects.filter(due_at__lt=cutoff).delete()
    UniqueJob.objects.filter(claimed_at__lt=cutoff).delete()
    return runs.delete()[1].get("tasks_app.JobRun", 0), beats.delete()[0]
