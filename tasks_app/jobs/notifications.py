"""In-app notification jobs."""

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from tasks_app.models import Task
from tasks_app.services import notifications

logger = logging.getLogger(__name__)


@db_task()
def task_assigned_notify(task_id: int) -> bool:
    """Notify a new task's owner, once; a task deleted meanwhile is skipped."""
    task = Task.objects.select_related("owner").filter(pk=task_id).first()
    if task is None:
        return False
    notifications.notify_task_assigned(task)
    return True


@db_periodic_task(crontab(minute="*/10"))
@lock_task("overdue-check")
def overdue_check() -> int:
    """Every 10 minutes: notify owners of overdue tasks, once per task per day."""
    count = notifications.notify_overdue()
    logger.info("overdue_check notified=%d", count)
    return count
