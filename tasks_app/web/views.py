"""The web UI: tasks and notifications (sign-up and passwords: web/signup.py; the account page: web/account.py).
Views validate, call a workflow or a service, then redirect."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_POST

from tasks_app import charts, jobs, permissions, queue, workflows
from tasks_app.models import Notification, Task
from tasks_app.services import notifications, task_trends, tasks, user_stats
from tasks_app.shortcuts import own_or_permitted, visible_or_404
from tasks_app.web import lists
from tasks_app.web.forms import TaskFilterForm, TaskForm

PAGE_SIZE = 25


def _get_task_for_user(request: HttpRequest, pk: int) -> Task:
    """The task if this user may see it (owner, creator, or `change_task`); 404 otherwise."""
    return visible_or_404(Task, request.user, pk)


# The task list's sortable columns, each with the order a first click asks for.
SORT_COLUMNS = {"due": "due", "priority": "-priority", "created": "-created"}


@require_GET
def task_list(request: HttpRequest) -> HttpResponse:
    filters = TaskFilterForm(request.GET)
    # Only the columns a row shows (web/lists.py): whole rows of tasks and users were a fifth of the page.
    shown = Task.objects.visible_to(request.user).select_related("owner").only(*lists.TASK_ROW_FIELDS)
    queryset = filters.tasks(shown, user=request.user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "rows": lists.task_rows(page),
        "filters": filters,
        "query": query.urlencode(),
        "sorting": _sort_headers(request.GET, filters.ordering()),
        "my_stats": user_stats.user_stats_for(request.user),
        # Drawn only when the chart kept for this version is gone (_trend_chart.html): the version
        # is read first, so what is drawn is at least as new.
        "trend_version": task_trends.trend_version(),
        "trend": SimpleLazyObject(lambda: charts.trend_chart(task_trends.daily_trend())),
    }
    return render(request, "tasks_app/task_list.html", context)


def _sort_headers(query: QueryDict, current: str) -> dict[str, dict]:
    """Each sortable column's header: its link (the same search, filters and page, sorted by this
    column, or the other way when it already is) and its aria-sort and arrow."""
    headers = {}
    for column, first in SORT_COLUMNS.items():
        linked = query.copy()
        if current.removeprefix("-") == column:  # sorted by it already: the other way
            linked["sort"] = column if current.startswith("-") else f"-{column}"
        else:
            linked["sort"] = first
        direction = {column: "ascending", f"-{column}": "descending"}.get(current, "none")
        arrow = {"ascending": " ▲", "descending": " ▼"}.get(direction, "")
        headers[column] = {"url": f"?{linked.urlencode()}", "aria_sort": direction, "arrow": arrow}
    return headers


# The jobs about one task (each takes the task's id as its one argument), as the task's page names them.
TASK_JOBS = {
    queue.job_name(jobs.task_assigned_notify): "Tell the owner it was given to them",
    queue.job_name(jobs.task_completed_notify): "Email the owner it was completed",
}


@require_GET
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A task, read-only, with its history: the emails about it and the jobs it started."""
    # Its owner and creator read with it: the page names both.
    task = get_object_or_404(
        Task.objects.visible_to(request.user).select_related("owner", "created_by", "given_by"), pk=pk
    )
    # Each read from its `task` index: two queries however long the history (set where they are
    # written: services.emails, workflows.tasks; rows from before migration 0019 were filled in).
    emails = task.emails.select_related("user")
    runs = task.job_runs.select_related("triggered_by")
    context = {
        "task": task,
        "emails": emails,
        "job_runs": [(TASK_JOBS.get(run.name, run.short_name), run) for run in runs],
        "may_delete": _may_delete(request.user, task),
    }
    return render(request, "tasks_app/task_detail.html", context)


def _may_delete(user, task: Task) -> bool:
    try:
        own_or_permitted(user, task, permissions.DELETE_OTHERS_TASKS)
    except PermissionDenied:
        return False
    return True


def task_create(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST or None, initial={"owner": request.user})
    if request.method == "POST" and form.is_valid():
        task = workflows.task_create(created_by=request.user, **form.cleaned_data)
        messages.success(request, f"Created “{task.title}”.")
        return redirect("tasks:task-list")
    return render(request, "tasks_app/task_form.html", {"form": form})


def task_edit(request: HttpRequest, pk: int) -> HttpResponse:
    task = _get_task_for_user(request, pk)
    form = TaskForm(request.POST or None, instance=task)
    if request.method == "POST" and form.is_valid():
        workflows.task_update(task, by=request.user, **form.cleaned_data)
        if not Task.objects.visible_to(request.user).filter(pk=task.pk).exists():  # given away
            owner = task.owner.get_full_name() or task.owner.get_username()
            messages.success(request, f"Saved “{task.title}”: it is now owned by {owner}, who is told.")
            return redirect("tasks:task-list")
        messages.success(request, f"Saved “{task.title}”.")
        return redirect(task)
    return render(request, "tasks_app/task_form.html", {"form": form, "task": task})


@require_POST
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    task = _get_task_for_user(request, pk)
    try:
        workflows.task_complete(task, by=request.user)
    except ValidationError as error:  # a row saved around validation (a script, a raw import)
        messages.error(request, f"Cannot complete “{task.title}”: {' '.join(error.messages)} Edit it first.")
        return redirect("tasks:task-edit", pk=task.pk)
    messages.success(request, f"Completed “{task.title}”.")
    return redirect("tasks:task-list")


@require_POST
def task_email(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Email me this task": the email is written now and sent by a job."""
    task = _get_task_for_user(request, pk)
    try:
        email, _ = workflows.task_email(task, request.user, base_url=request.build_absolute_uri("/"))
    except ValueError as error:
        messages.error(request, str(error))
    else:
        if email is None:
            messages.info(request, "Already on its way: you asked for this task less than a minute ago.")
        else:
            messages.success(request, f"On its way to {email.to}.")
    return redirect(task)


def task_delete(request: HttpRequest, pk: int) -> HttpResponse:
    task = _get_task_for_user(request, pk)
    own_or_permitted(request.user, task, permissions.DELETE_OTHERS_TASKS)
    if request.method == "POST":
        tasks.task_delete(task)
        messages.success(request, f"Deleted “{task.title}”.")
        return redirect("tasks:task-list")
    return render(request, "tasks_app/task_confirm_delete.html", {"task": task})


@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    queryset = Notification.objects.filter(user=request.user)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tasks_app/notification_list.html", {"page": page, "rows": lists.notification_rows(page)})


@require_GET
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Open what a notification is about, marking it read."""
    notification = get_object_or_404(Notification, pk=pk, user=request.user)
    notifications.mark_read(request.user, [notification.pk])
    return redirect(notification.target_url() or "tasks:notification-list")


@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    notification = get_object_or_404(Notification, pk=pk, user=request.user)
    notifications.mark_read(request.user, [notification.pk])
    return redirect("tasks:notification-list")


@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = notifications.mark_read(request.user)
    messages.success(request, f"Marked {count} notification{'s' if count != 1 else ''} read.")
    return redirect("tasks:notification-list")


@require_GET
def notification_badge(request: HttpRequest) -> JsonResponse:
    """The unread count, polled by every page so new notifications show without a reload."""
    return JsonResponse({"unread": notifications.unread_count(request.user)})
