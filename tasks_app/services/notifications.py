"""In-app notifications."""

import datetime

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from tasks_app import permissions
from tasks_app.models import Notification, Task

# with_perm() needs the backend by name when several are configured (django-axes' comes first).
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def notify(*, user, kind: str, message: str, data: dict | None = None, dedup_key: str | None = None) -> Notification:
    """Create a notification once per dedup_key: a second call returns the first one."""
    if dedup_key:
        existing = Notification.objects.filter(dedup_key=dedup_key).first()
        if existing:
            return existing
    try:
        with transaction.atomic():
            return Notification.objects.create(
                user=user, kind=kind, message=message[:500], data=data or {}, dedup_key=dedup_key
            )
    except IntegrityError:  # A concurrent run won the race for the same dedup_key.
        return Notification.objects.get(dedup_key=dedup_key)


# Tasks one person gives another within this long, while the notice is unread, make one notice.
BURST_WINDOW = datetime.timedelta(minutes=10)


def notify_task_assigned(task: Task) -> Notification | None:
    """Tell a task's owner who gave them the task (who made it, or who last gave it to them), once
    per giving; none for a task one made or took for oneself.

    A burst (one person's tasks for the same owner within BURST_WINDOW, one after the other, the
    notice still unread) is one notice that counts them and links to the last."""
    giver = task.given_by if task.given_at else task.created_by
    if giver is None or giver.pk == task.owner_id:
        return None
    with transaction.atomic():
        # The owner's row locked first: two of a burst's jobs at once (PostgreSQL) fold one after
        # the other instead of both starting a notice. SQLite has one writer anyway.
        get_user_model().objects.select_for_update().get(pk=task.owner_id)
        # The owner's latest notice of a given task, by id (the user_id index walked backwards:
        # one row however many notices the owner has); it folds in this one if it is a burst's.
        latest = (
            Notification.objects.filter(user_id=task.owner_id, kind=Notification.Kind.TASK_ASSIGNED)
            .order_by("-id")
            .first()
        )
        if _is_burst_of(latest, giver):
            return _fold(latest, task, giver)
        return notify(
            user=task.owner,
            kind=Notification.Kind.TASK_ASSIGNED,
            message=f"{_name(giver)} gave you a task: {task.title}",
            data={"task_id": task.pk, "task_ids": [task.pk], "giver_id": giver.pk},
            dedup_key=f"task-assigned:{task.pk}" + (f":{task.given_at.isoformat()}" if task.given_at else ""),
        )


def _is_burst_of(notice: Notification | None, giver) -> bool:
    return (
        notice is not None
        and notice.read_at is None
        and notice.data.get("giver_id") == giver.pk
        and notice.created_at >= timezone.now() - BURST_WINDOW
    )


def _fold(burst: Notification, task: Task, giver) -> Notification:
    """Count one more task of a burst into its notice (a second run for the same task counts none)."""
    if task.pk not in burst.data["task_ids"]:
        task_ids = [*burst.data["task_ids"], task.pk]
        burst.data = {**burst.data, "task_id": task.pk, "task_ids": task_ids}
        burst.message = f"{_name(giver)} gave you {len(task_ids)} tasks, the last: {task.title}"[:500]
        burst.save(update_fields=["data", "message"])
    return burst


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def notify_overdue(*, today: datetime.date | None = None) -> int:
    """Notify each owner of each overdue task, once per task per day; return how many were new.

    (Their overdue counts follow on their own: counts counted on an earlier day are recounted when read.)"""
    today = today or timezone.localdate()
    created = 0
    for task in Task.objects.overdue(today).select_related("owner"):
        key = f"task-overdue:{task.pk}:{today.isoformat()}"
        if Notification.objects.filter(dedup_key=key).exists():
            continue
        notify(
            user=task.owner,
            kind=Notification.Kind.TASK_OVERDUE,
            message=f"Overdue since {task.due_date:%Y-%m-%d}: {task.title}",
            data={"task_id": task.pk},
            dedup_key=key,
        )
        created += 1
    return created


def notify_staff_job_failed(*, job_id: str, job_name: str, error: str) -> int:
    """Tell the active staff who may see every job (`view_all_jobs`) that a job failed for good; return how many.

    A burst (failures within BURST_WINDOW of the first, its notice unread and still the staff
    member's latest) is one notice that counts them and links to the failed jobs list: a bulk
    retry of 1,000 jobs that fail again tells each of them once, not 1,000 times."""
    staff = list(
        get_user_model()
        .objects.with_perm(permissions.VIEW_ALL_JOBS, backend=MODEL_BACKEND)
        .filter(is_staff=True)
        .order_by("pk")
    )
    if not staff:
        return 0
    with transaction.atomic():
        # Their rows locked first, in one order: failures in several consumers at once (PostgreSQL)
        # fold one after the other instead of each starting a notice. SQLite has one writer anyway.
        locked = get_user_model().objects.select_for_update().filter(pk__in=[user.pk for user in staff])
        list(locked.order_by("pk").values_list("pk", flat=True))
        for user in staff:
            # The person's latest notice, whatever its kind (the user_id index walked backwards: one
            # row however many notices they have); a burst's folds this failure in.
            latest = Notification.objects.filter(user_id=user.pk).order_by("-id").first()
            if _is_failure_burst(latest):
                _fold_failure(latest, job_id=job_id, job_name=job_name, error=error)
                continue
            notify(
                user=user,
                kind=Notification.Kind.JOB_FAILED,
                message=f"Job {job_name} failed: {error}",
                data={"job_id": job_id},
                dedup_key=f"job-failed:{job_id}:{user.pk}",
            )
    return len(staff)


def _is_failure_burst(notice: Notification | None) -> bool:
    return (
        notice is not None
        and notice.kind == Notification.Kind.JOB_FAILED
        and notice.read_at is None
        and notice.created_at >= timezone.now() - BURST_WINDOW
    )


def _fold_failure(burst: Notification, *, job_id: str, job_name: str, error: str) -> None:
    """Count one more failure into a burst's notice, which then leads to the failed jobs list.
    The failure it counted last, told again (a job run again after its consumer died), counts none."""
    if job_id in (burst.data.get("job_id"), burst.data.get("last_job_id")):
        return
    count = burst.data.get("count", 1) + 1
    burst.data = {"count": count, "last_job_id": job_id, "url": reverse("dashboard:failed-list")}
    burst.message = f"{count} jobs failed, the last: {job_name}: {error}"[:500]
    burst.save(update_fields=["data", "message"])


def notify_broadcast(*, user, message: str, broadcast_id: str) -> Notification:
    """One user's copy of a staff announcement, once per announcement."""
    return notify(
        user=user,
        kind=Notification.Kind.BROADCAST,
        message=message,
        data={"broadcast_id": broadcast_id},
        dedup_key=f"broadcast:{broadcast_id}:{user.pk}",
    )


def mark_read(user, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when ids is None); return how many changed."""
    unread = Notification.objects.filter(user=user, read_at=None)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at=None).count()
