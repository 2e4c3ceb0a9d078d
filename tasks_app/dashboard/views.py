"""Staff-only pages about background jobs. Non-staff users get 403.

Any staff user sees the counts and charts; the jobs themselves take `view_all_jobs`, and acting
on them (retry, discard, cancel, pause, resume, run a periodic job now) `manage_jobs`
(tasks_app/permissions.py).
"""

from __future__ import annotations

import datetime
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from tasks_app import charts, permissions, queue
from tasks_app.management import command_line
from tasks_app.models import JobRun, PausedJob
from tasks_app.services import file_health, job_stats, periodic_ledger, task_trends

PAGE_SIZE = 50


def staff_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("The operations dashboard is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


may_view_jobs = permission_required(permissions.VIEW_ALL_JOBS, raise_exception=True)
may_manage_jobs = permission_required(permissions.MANAGE_JOBS, raise_exception=True)


def _chart(bars: list[job_stats.MinuteBar], width: int = 600, height: int = 120) -> dict:
    """Coordinates for a server-rendered SVG bar chart of jobs finished per minute."""
    peak = max((bar.succeeded + bar.failed for bar in bars), default=0) or 1
    step = width / len(bars)
    columns = []
    for n, bar in enumerate(bars):
        ok_h = height * bar.succeeded / peak
        fail_h = height * bar.failed / peak
        columns.append(
            {
                "x": round(n * step, 1),
                "w": round(max(step - 1, 1), 1),
                "ok_y": round(height - ok_h, 1),
                "ok_h": round(ok_h, 1),
                "fail_y": round(height - ok_h - fail_h, 1),
                "fail_h": round(fail_h, 1),
                "bar": bar,
            }
        )
    return {"columns": columns, "width": width, "height": height, "peak": peak}


@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    """The dashboard; `?panel=1` returns only the live panel, which the page refreshes every few seconds."""
    now = timezone.now()
    context = {
        "now": now,
        "pending": queue.pending_count(),
        "scheduled": queue.scheduled_count(),
        "claimed": queue.claimed_count(),
        "requeued": job_stats.requeued_jobs(now - datetime.timedelta(days=1)),
        "lanes": job_stats.lanes(now),
        "running": JobRun.objects.filter(state=JobRun.State.RUNNING).order_by("started_at"),
        "last_hour": job_stats.counts_by_state(now - datetime.timedelta(hours=1)),
        "last_day": job_stats.counts_by_state(now - datetime.timedelta(days=1)),
        "chart": _chart(job_stats.throughput_per_minute(60, now)),
        "trend": charts.trend_chart(task_trends.daily_trend(30, now)),
        "failure_rates": job_stats.failure_rates(now - datetime.timedelta(days=1)),
        "failed": JobRun.objects.filter(state=JobRun.State.FAILED, dismissed_at=None)[:20],
        "consumers": job_stats.consumers(now),
        "periodic": job_stats.periodic_jobs(now),
        "paused_jobs": job_stats.paused_jobs(),
        "on_demand_jobs": [job for job in job_stats.job_names() if not job["periodic"]],
        "start_consumer": command_line("run_huey"),
        "files": file_health.measure(),
    }
    template = "tasks_app/dashboard/_panel.html" if request.GET.get("panel") else "tasks_app/dashboard/overview.html"
    return render(request, template, context)


@staff_required
@may_view_jobs
def job_list(request: HttpRequest) -> HttpResponse:
    runs = job_stats.with_shown_state(JobRun.objects.select_related("triggered_by"))
    name, state, search = request.GET.get("name", ""), request.GET.get("state", ""), request.GET.get("q", "").strip()
    since, lane = request.GET.get("since", ""), request.GET.get("lane", "")
    if name:
        runs = runs.filter(name=name)
    if lane in settings.HUEY_LANES:
        runs = runs.filter(lane=lane)
    if state in dict(job_stats.SHOWN_STATES):
        runs = runs.filter(shown_state=state)
    if search:
        runs = runs.filter(Q(id__icontains=search) | Q(name__icontains=search) | Q(error__icontains=search))
    hours = {"1h": 1, "24h": 24, "7d": 24 * 7}.get(since)
    if hours:
        runs = runs.filter(enqueued_at__gte=timezone.now() - datetime.timedelta(hours=hours))
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": {"name": name, "state": state, "q": search, "since": since, "lane": lane},
        "states": job_stats.SHOWN_STATES,
        "lanes": list(settings.HUEY_LANES),
        "job_names": job_stats.job_names(),
    }
    return render(request, "tasks_app/dashboard/job_list.html", context)


@staff_required
@may_view_jobs
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    runs = job_stats.with_shown_state(JobRun.objects.select_related("triggered_by", "retry_of"))
    run = get_object_or_404(runs, pk=job_id)
    context = {"run": run, "events": run.events.all(), "retried_as": run.retried_as.all()}
    return render(request, "tasks_app/dashboard/job_detail.html", context)


@require_POST
@staff_required
@may_manage_jobs
def job_retry(request: HttpRequest, job_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=job_id)
    if run.state != JobRun.State.FAILED or not run.message:
        messages.error(request, "Only a failed job can be retried.")
        return redirect("dashboard:job-detail", job_id=run.pk)
    new_id = queue.retry(run, user=request.user, note=f"from /ops/ by {request.user.get_username()}")
    messages.success(request, f"Retrying {run.short_name} as job {new_id}.")
    return redirect("dashboard:job-detail", job_id=new_id)


@require_POST
@staff_required
@may_manage_jobs
def job_dismiss(request: HttpRequest, job_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=job_id)
    queue.dismiss(run)
    messages.success(request, f"Dismissed failed job {run.short_name}.")
    return redirect("dashboard:overview")


@require_POST
@staff_required
@may_manage_jobs
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=job_id)
    if queue.cancel(run, note=f"from /ops/ by {request.user.get_username()}"):
        messages.success(request, f"Canceled {run.short_name}.")
    else:
        messages.error(request, f"Only a waiting job can be canceled; this one is {run.get_state_display().lower()}.")
    return redirect("dashboard:job-detail", job_id=run.pk)


@require_POST
@staff_required
@may_manage_jobs
def job_pause(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    known = {job["name"] for job in job_stats.job_names()}
    if name not in known:
        messages.error(request, "Unknown job name.")
    elif request.POST.get("action") == "resume":
        queue.resume_job(name)
        messages.success(request, f"Resumed {name}.")
    else:
        queue.pause_job(name, user=request.user)
        messages.success(request, f"Paused {name}: its runs wait until resumed.")
    return redirect("dashboard:overview")


@require_POST
@staff_required
@may_manage_jobs
def lane_pause(request: HttpRequest, lane: str) -> HttpResponse:
    """Pause (or resume) a lane: there is no pause of a lane as such, so each job that runs in it."""
    if lane not in settings.HUEY_LANES:
        raise Http404("No lane of that name.")
    jobs = [job for job in job_stats.job_names() if job["lane"] == lane]
    listed = ", ".join(job["short_name"] for job in jobs)
    if request.POST.get("action") == "resume":
        for job in jobs:
            queue.resume_job(job["name"])
        messages.success(request, f"Resumed every job of the {lane} lane: {listed}.")
    else:
        for job in jobs:
            queue.pause_job(job["name"], user=request.user)
        messages.success(request, f"Paused every job of the {lane} lane ({listed}): their runs wait until resumed.")
    return redirect("dashboard:overview")


def _periodic_task_class(name: str):
    task_class = periodic_ledger.periodic_task_class(name)
    if task_class is None:
        raise Http404("No periodic job of that name.")
    return task_class


@staff_required
def periodic_detail(request: HttpRequest, name: str) -> HttpResponse:
    """One periodic job's ledger: each tick of the last 7 days and what became of it."""
    task_class = _periodic_task_class(name)
    now = timezone.now()
    schedule = task_class.periodic_schedule
    page = Paginator(periodic_ledger.ticks(name, schedule, now), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "name": name,
        "short_name": task_class.__name__,
        "description": periodic_ledger.description(task_class),
        "schedule": schedule.label,
        "missed_runs": task_class.missed_runs.label,
        "next_run": schedule.next_run(now),
        "paused": PausedJob.objects.filter(name=name).exists(),
        "page": page,
    }
    return render(request, "tasks_app/dashboard/periodic_detail.html", context)


@require_POST
@staff_required
@may_manage_jobs
def periodic_run(request: HttpRequest, name: str) -> HttpResponse:
    """Run a periodic job once now, outside its schedule, recorded as started by the requester."""
    short_name = _periodic_task_class(name).__name__
    job_id = queue.run_now(name, user=request.user)
    if PausedJob.objects.filter(name=name).exists():
        messages.warning(request, f"Enqueued {short_name} as job {job_id}; its job is paused: it waits until resumed.")
    else:
        messages.success(request, f"Started {short_name} now as job {job_id}.")
    return redirect("dashboard:periodic-detail", name=name)
