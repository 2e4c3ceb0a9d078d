"""Long lists, cheaply: what a row shows, worked out in Python once per row.

In a template, `{% url %}`, `|date` and `get_…_display` cost tens of microseconds each; a task
list's 25 rows spent about 10 ms in them, most of the page's time. The rows' templates read
these plain values instead and print exactly what they printed before.
"""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from tasks_app.models import Notification, Task

MARKER = "2147483647"  # stands for the id in a URL reversed once for every row


def url_for_each(name: str) -> Callable[[int], str]:
    """`lambda pk: reverse(name, args=[pk])` at the cost of one reverse, for the rows of a list."""
    before, *after = reverse(name, args=[MARKER]).split(MARKER)
    if len(after) != 1:  # the marker elsewhere in the URL too (a script prefix of those digits)
        return lambda pk: reverse(name, args=[pk])
    return lambda pk: f"{before}{pk}{after[0]}"


STATUS_LABELS = dict(Task.Status.choices)
PRIORITY_LABELS = dict(Task.Priority.choices)


# What task_rows reads of a task and its owner (the list's query loads only these).
TASK_ROW_FIELDS = ["title", "status", "priority", "due_date", "created_at", "owner__username"]


def task_rows(tasks) -> list[dict]:
    """The task list's rows: each task with its links, labels and dates as the page prints them."""
    detail = url_for_each("tasks:task-detail")
    complete = url_for_each("tasks:task-complete")
    delete = url_for_each("tasks:task-delete")
    today = timezone.localdate()
    rows = []
    for task in tasks:
        is_open = task.status != Task.Status.DONE
        rows.append(
            {
                "task": task,
                "url": detail(task.pk),
                "complete_url": complete(task.pk) if is_open else "",
                "delete_url": delete(task.pk),
                "owner": task.owner.get_username(),
                "status": STATUS_LABELS.get(task.status, task.status),  # as get_status_display()
                "priority": PRIORITY_LABELS.get(task.priority, task.priority),
                "due": task.due_date.isoformat() if task.due_date else "",  # |date:"Y-m-d"
                "overdue": is_open and task.due_date is not None and task.due_date < today,  # task.is_overdue
                "created": timezone.localdate(task.created_at).isoformat(),
            }
        )
    return rows


def notification_rows(notifications) -> list[dict]:
    """The notification list's rows: each notice with its links, kind and age as the page prints them."""
    open_url = url_for_each("tasks:notification-open")
    read_url = url_for_each("tasks:notification-read")
    kinds = dict(Notification.Kind.choices)
    now = timezone.now()
    return [
        {
            "notification": notification,
            # Opened through the notice, which marks it read, when it leads somewhere.
            "open_url": open_url(notification.pk) if notification.target_url() else "",
            "read_url": "" if notification.read_at else read_url(notification.pk),
            "kind": kinds.get(notification.kind, notification.kind),  # as get_kind_display()
            "age": timesince(notification.created_at, now),  # |timesince
        }
        for notification in notifications
    ]
