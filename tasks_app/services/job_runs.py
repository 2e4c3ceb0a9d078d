"""Housekeeping of the job history, and what a job's history row says it is about."""

import datetime

from django.utils import timezone

from tasks_app.models import ConsumerHeartbeat, JobRun, PeriodicTick, Task, UniqueJob


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


def job_run_about(job_id: str, task: Task) -> None:
    """Record on the history row of the job `job_id` (written by `queue.enqueue_on_commit` in the
    open transaction) that it is about `task`: the task's page reads its jobs by that index."""
    JobRun.objects.filter(pk=job_id).update(task=task)
