"""In-app notification jobs."""

import logging

from django.contrib.auth import get_user_model
from huey.api import group
from huey.contrib.djhuey import HUEY, db_task, lock_task

from tasks_app.jobs.schedule import every_minutes, periodic_job
from tasks_app.models import Task
from tasks_app.services import notifications

logger = logging.getLogger(__name__)


@db_task()
def task_assigned_notify(task_id: int) -> bool:
    """Notify a task's owner that someone made or gave it to them, once; a task deleted meanwhile,
    or made by its owner, is skipped."""
    task = Task.objects.select_related("owner", "created_by", "given_by").filter(pk=task_id).first()
    if task is None:
        return False
    return notifications.notify_task_assigned(task) is not None


@periodic_job(every_minutes(10))
@lock_task("overdue-check")
def overdue_check() -> int:
    """Notify owners of overdue tasks, once per task per day."""
    count = notifications.notify_overdue()
    logger.info("overdue_check notified=%d", count)
    return count


@db_task(context=True)
def broadcast_send(message: str, task=None) -> dict:
    """Fan an announcement out as a chord: one broadcast_deliver job per active user, then a count."""
    message = message.strip()
    if not message:  # the API refuses one; a job enqueued by hand must not announce nothing
        raise ValueError("A broadcast needs a message.")
    user_ids = list(get_user_model().objects.filter(is_active=True).values_list("pk", flat=True))
    deliveries = [broadcast_deliver.s(user_id, message, task.id) for user_id in user_ids]
    fan_out = group(deliveries).then(broadcast_summarize, task.id)
    HUEY.enqueue(fan_out)
    return {"users": len(user_ids), "summary_job_id": fan_out.callback.id}


@db_task()
def broadcast_deliver(user_id: int, message: str, broadcast_id: str) -> bool:
    """Give one user the announcement, once; a user deleted meanwhile is skipped."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    notifications.notify_broadcast(user=user, message=message, broadcast_id=broadcast_id)
    return True


@db_task()
def broadcast_summarize(broadcast_id: str, delivered: list) -> dict:
    """The chord's callback: how many users the announcement reached."""
    count = sum(1 for outcome in delivered if outcome is True)
    logger.info("broadcast id=%s delivered=%d of %d", broadcast_id, count, len(delivered))
    return {"delivered": count, "users": len(delivered)}
