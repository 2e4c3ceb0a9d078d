"""Periodic housekeeping. Each also runs by hand as a management command (see docs/operations.md)."""

import datetime
import logging

from django.conf import settings
from django.utils import timezone
from huey.contrib.djhuey import lock_task

from tasks_app import rate_limits
from tasks_app.jobs.schedule import daily, every_hours, hourly, periodic_job, run_once_within, weekly
from tasks_app.services import backups, job_runs, maintenance

logger = logging.getLogger(__name__)


@periodic_job(weekly("sunday", "02:00"), missed=run_once_within(days=6))
@lock_task("done-tasks-cleanup")
def done_tasks_cleanup() -> int:
    """Delete tasks done longer ago than DONE_TASK_RETENTION_DAYS."""
    count = maintenance.done_tasks_delete(older_than_days=settings.DONE_TASK_RETENTION_DAYS)
    logger.info("done_tasks_cleanup deleted=%d", count)
    return count


# Not run late: it records the hour before it runs, so a late run would record the wrong hour.
@periodic_job(hourly(minute=0))
@lock_task("stats-snapshot")
def stats_snapshot() -> str:
    """Record the hour that just ended (tasks created, completed, overdue)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - datetime.timedelta(hours=1)
    snapshot = maintenance.stats_snapshot(hour)
    return f"{snapshot.hour:%Y-%m-%d %H:00} created={snapshot.created} completed={snapshot.completed}"


@periodic_job(every_hours(6, minute=30), missed=run_once_within(hours=6))
@lock_task("db-backup")
def db_backup() -> str:
    """Back up the app database, check it, keep the newest BACKUP_KEEP."""
    return backups.backup_create(keep=settings.BACKUP_KEEP).name


@periodic_job(daily("04:15"), missed=run_once_within(hours=20))
@lock_task("job-history-prune")
def job_history_prune() -> str:
    """Delete finished jobs older than JOB_HISTORY_DAYS, silent consumers, and rate-limit counts no request reads any more."""
    runs, beats = job_runs.job_history_prune(older_than_days=settings.JOB_HISTORY_DAYS)
    rate_limits.forget_expired()
    logger.info("job_history_prune runs=%d heartbeats=%d", runs, beats)
    return f"runs={runs} heartbeats={beats}"
