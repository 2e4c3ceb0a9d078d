"""Staff-only pages about background jobs, in tabs as Sidekiq and Mission Control lay them out:
the overview, what runs, the lanes, the schedule, the failed jobs, the consumers and the figures.

Each tab is a page of its own (linkable, complete without JavaScript). `?fragment=1` answers only
the part of it that changes, which dashboard.js asks for again and again with the ETag it last got:
an unchanged part costs a 304 and no body. `/ops/?panel=1` still answers every section at once, as
the page refreshed itself before the tabs (for scripts). Non-staff users get 403.

Any staff user sees the counts and charts; the jobs themselves take `view_all_jobs`, and acting
on them (retry, discard, cancel, pause, resume, run a periodic job now) `manage_jobs`
(tasks_app/permissions.py).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections import Counter
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.context_processors import PermWrapper
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import dateparse, timezone
from django.utils.cache import patch_cache_control
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.http import parse_etags, url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from tasks_app import charts, permissions, queue
from tasks_app.management import command_line
from tasks_app.models import JobRun, PausedJob
from tasks_app.services import file_health, job_stats, periodic_ledger, task_trends

PAGE_SIZE = 50
FAILED_PAGE_SIZE = 15
OVERVIEW_FAILED = 5  # the newest failed jobs the overview shows; the Failed tab has them all
RECENT_RUNS = 5  # a periodic job's latest runs, on its page
RETRY_ALL_LIMIT = 1000  # failed jobs one "Retry all" retries (about 2 s on SQLite), oldest first
State = JobRun.State


def staff_required(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("The operations dashboard is for staff.")
        return view(request, *args, **kwargs)

    return wrapper


may_view_jobs = permission_required(permissions.VIEW_ALL_JOBS, raise_exception=True)
may_manage_jobs = permission_required(permissions.MANAGE_JOBS, raise_exception=True)


# Times, relative to now ("3 min ago"), the exact time in their title


_UNITS = [(2 * 86400, 86400, "d"), (3600, 3600, "h"), (60, 60, "min"), (1, 1, "s")]  # from, size, word


def relative(seconds: float) -> str:
    """`seconds` ago (ahead when negative) in a few characters: "12 s ago", "3 min ago", "in 5 h".
    dashboard.js words them the same when it brings them up to date."""
    size = abs(seconds)
    for start, unit, word in _UNITS:
        if size >= start:
            text = f"{int(size // unit)} {word}"
            return f"{text} ago" if seconds >= 0 else f"in {text}"
    return "just now" if seconds >= 0 else "now"


def ago(moment: datetime.datetime | None, now: datetime.datetime) -> str:
    """`moment` as a <time> saying how long ago (or how soon) it is, the exact time in its title."""
    if moment is None:
        return "–"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(timespec="seconds"),
        timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z"),  # as |date:"Y-m-d H:i:s T", 10x cheaper
        relative((now - moment).total_seconds()),
    )


def _timed(runs, now: datetime.datetime, **fields: str) -> list:
    """`runs` as a list, each with `ago`: its times relative to now, by the names given (`ago.failed`)."""
    runs = list(runs)
    for run in runs:
        run.ago = {name: ago(getattr(run, field), now) for name, field in fields.items()}
    return runs


# Tabs: a page, or its live fragment


_TIME_WORDS = re.compile(r"(<time [^>]*>)[^<]*(</time>)")


def _etag(fragment: str) -> str:
    """A fragment's version: its hash, leaving out the words of its relative times, which the page
    keeps current itself (their moments, in `datetime`, count)."""
    return '"{}"'.format(hashlib.blake2b(_TIME_WORDS.sub(r"\1\2", fragment).encode(), digest_size=12).hexdigest())


def _render_live(request: HttpRequest, fragment: str, context: dict) -> str:
    """A live part, rendered alike for its page and for `?fragment=1`, so that the page's ETag is
    the fragment's: without context processors (it needs only `perms`), so rendering it into the
    page costs no second run of them."""
    return render_to_string(fragment, {**context, "perms": PermWrapper(request.user)})


def _live(request: HttpRequest, fragment: str, page: str, context: dict) -> HttpResponse:
    """The page, its live part `fragment` in it; or with `?fragment=1` only that part: a 304 while
    it still matches the ETag the page holds (If-None-Match), else its few KB."""
    body = _render_live(request, fragment, context)
    etag = _etag(body)
    if request.GET.get("fragment"):
        fresh = etag in parse_etags(request.headers.get("If-None-Match", ""))
        response = HttpResponseNotModified() if fresh else HttpResponse(body)
        response["ETag"] = etag
        patch_cache_control(response, private=True, no_cache=True)
        return response
    query = request.GET.copy()
    query["fragment"] = "1"
    context |= {
        "live": mark_safe(body),  # a template's output, escaped by it
        "etag": etag,
        "refresh_url": f"{request.path}?{query.urlencode()}",
        "now_ms": int(context["now"].timestamp() * 1000),
    }
    return render(request, page, context)


def _tab(request: HttpRequest, tab: str, title: str, context: dict, page: str = "tab.html") -> HttpResponse:
    """One tab of /ops/: the paused banner and the tab's `_<tab>.html` are its live part."""
    context |= {"tab": tab, "title": title, "tab_fragment": f"tasks_app/dashboard/_{tab}.html"}
    if "paused_jobs" not in context:
        context["paused_jobs"] = _paused(context["now"])
    return _live(request, "tasks_app/dashboard/_live.html", f"tasks_app/dashboard/{page}", context)


def _back(request: HttpRequest, default: str = "dashboard:overview") -> HttpResponse:
    """Back to the /ops/ page a form was sent from (its `next`), else to `default`."""
    target = request.POST.get("next", "")
    if target.startswith("/ops/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(default)


# What each tab shows


def _may_view_jobs(request: HttpRequest) -> bool:
    return request.user.has_perm(permissions.VIEW_ALL_JOBS)


def _failed_runs() -> QuerySet[JobRun]:
    """Failed jobs waiting for a decision (retried ones are dismissed), newest first, without their
    message and traceback (`retryable`: whether the message was kept)."""
    return (
        JobRun.objects.filter(state=State.FAILED, dismissed_at=None)
        .defer("message", "traceback", "args", "kwargs")
        .annotate(retryable=ExpressionWrapper(Q(message__isnull=False), output_field=BooleanField()))
    )


def _with_retry(runs: QuerySet[JobRun]) -> QuerySet[JobRun]:
    """`runs` with `retry_id` and `retry_state`: the job a failed one was retried as (one, see queue.retry)."""
    retries = JobRun.objects.filter(retry_of=OuterRef("pk")).order_by("enqueued_at")
    return runs.annotate(retry_id=Subquery(retries.values("id")[:1]), retry_state=Subquery(retries.values("state")[:1]))


def _paused(now: datetime.datetime) -> list[dict]:
    """The paused jobs (`job_stats.paused_jobs`), each with `ago`: since when."""
    paused = job_stats.paused_jobs()
    for row in paused:
        row["ago"] = ago(row["job"].paused_at, now)
    return paused


def _consumers(now: datetime.datetime) -> list[dict]:
    """The consumers with their times relative to now, and `late`: no heartbeat for HEALTH_CONSUMER_MAX_AGE."""
    rows = job_stats.consumers(now)
    for row in rows:
        beat = row["beat"]
        row["late"] = row["age"] > settings.HEALTH_CONSUMER_MAX_AGE
        row["ago"] = {
            "started": ago(beat.started_at, now),
            "beat": ago(beat.beat_at, now),
            "history": ago(beat.history_flushed_at, now) if beat.history_flushed_at else "–",
        }
    return rows


def _cards(now: datetime.datetime) -> dict:
    return {
        "pending": queue.pending_count(),
        "scheduled": queue.scheduled_count(),
        "claimed": queue.claimed_count(),
        "running_count": JobRun.objects.filter(state=State.RUNNING).count(),
        "failed_count": JobRun.objects.filter(state=State.FAILED, dismissed_at=None).count(),
        "consumers": _consumers(now),
        "start_consumer": command_line("run_huey"),
    }


def _running(now: datetime.datetime) -> dict:
    running = JobRun.objects.filter(state=State.RUNNING).defer("message", "traceback").order_by("started_at")
    requeued = job_stats.requeued_jobs(now - datetime.timedelta(days=1)).defer("message", "traceback")
    return {
        "running": _timed(running, now, started="started_at"),
        "claimed": queue.claimed_count(),
        "requeued": _timed(requeued, now, enqueued="enqueued_at"),
    }


def _lanes(now: datetime.datetime) -> dict:
    lanes = job_stats.lanes(now)
    for lane in lanes:
        waited = lane.oldest_wait
        lane.oldest = ago(now - datetime.timedelta(seconds=waited), now) if waited is not None else "–"
    return {"lanes": lanes}


def _on_demand() -> dict:
    return {"on_demand_jobs": [job for job in job_stats.job_names() if not job["periodic"]]}


def _schedule(now: datetime.datetime) -> dict:
    periodic = job_stats.periodic_jobs(now)
    for job in periodic:
        job.ago = {
            "next": ago(job.next_run, now) if job.next_run else "–",
            "last_run": ago(job.last_run.started_at, now) if job.last_run else "–",
        }
    return {"periodic": periodic}


def _failed(request: HttpRequest, now: datetime.datetime) -> dict:
    runs = _failed_runs()
    page = Paginator(runs, FAILED_PAGE_SIZE).get_page(request.GET.get("page"))
    _timed(page, now, failed="finished_at")  # on the page's own runs (a Page keeps the list it made)
    return {"page": page, "failed": page, "retryable": runs.filter(message__isnull=False).count()}


def _stats(now: datetime.datetime) -> dict:
    return {
        "last_hour": job_stats.counts_by_state(now - datetime.timedelta(hours=1)),
        "last_day": job_stats.counts_by_state(now - datetime.timedelta(days=1)),
        "chart": _chart(job_stats.throughput_per_minute(60, now)),
        "failure_rates": job_stats.failure_rates(now - datetime.timedelta(days=1)),
    }


def _trend(now: datetime.datetime) -> dict:
    return {
        "trend_version": task_trends.trend_version(now),  # read first: the chart drawn after it is as new
        "trend": SimpleLazyObject(lambda: charts.trend_chart(task_trends.daily_trend(30, now))),
    }


def _chart(bars: list[job_stats.MinuteBar], width: int = 600, height: int = 120) -> dict:
    """Coordinates for a server-rendered SVG chart of jobs finished per minute: each minute with
    jobs is a bar drawn as a vertical stroke (`x`, its middle), succeeded from the bottom to `ok_y`,
    failed above it up to `fail_y`; empty minutes are left out."""
    peak = max((bar.succeeded + bar.failed for bar in bars), default=0) or 1
    step = width / len(bars)
    columns = []
    for n, bar in enumerate(bars):
        if not bar.succeeded and not bar.failed:
            continue
        ok_y = height - height * bar.succeeded / peak
        columns.append(
            {
                "x": round((n + 0.5) * step, 1),
                "ok_y": round(ok_y, 1),
                "fail_y": round(ok_y - height * bar.failed / peak, 1),
                "bar": bar,
            }
        )
    return {"columns": columns, "width": width, "height": height, "bar_width": round(max(step - 1, 1), 1), "peak": peak}


# The tabs


@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    """The overview: counts, the newest failed jobs, the consumers (live); the schedule and the
    tasks' trend. `?panel=1`: every section of every tab at once, as before the tabs."""
    now = timezone.now()
    if request.GET.get("panel"):
        return _whole_panel(request, now)
    failed = _failed_runs()[:OVERVIEW_FAILED] if _may_view_jobs(request) else []
    context = {"now": now, **_cards(now), "failed": _timed(failed, now, failed="finished_at")}
    if not request.GET.get("fragment"):
        context |= _schedule(now) | _trend(now)
    return _tab(request, "overview", "Overview", context, page="overview.html")


def _whole_panel(request: HttpRequest, now: datetime.datetime) -> HttpResponse:
    context = {"now": now, "paused_jobs": _paused(now), **_cards(now), **_lanes(now), **_on_demand()}
    context |= _schedule(now) | _stats(now) | _trend(now) | {"files": file_health.measure()}
    if _may_view_jobs(request):
        context |= _running(now) | {"failed": _timed(_failed_runs()[:20], now, failed="finished_at")}
    return render(request, "tasks_app/dashboard/_panel.html", context)


@staff_required
@may_view_jobs
def running(request: HttpRequest) -> HttpResponse:
    """What runs now, with progress, and the jobs requeued after their consumer died."""
    now = timezone.now()
    return _tab(request, "running", "Running", {"now": now, **_running(now)})


@staff_required
def lane_list(request: HttpRequest) -> HttpResponse:
    """Each lane: what runs and waits (live); the on-demand jobs with their pause buttons."""
    now = timezone.now()
    context = {"now": now, **_lanes(now)}
    if not request.GET.get("fragment") and request.user.has_perm(permissions.MANAGE_JOBS):
        context |= _on_demand()
    return _tab(request, "lanes", "Lanes", context, page="lanes.html")


@staff_required
def periodic_list(request: HttpRequest) -> HttpResponse:
    """Every periodic job: its schedule in words, next run, last expected run and its verdict, misses."""
    now = timezone.now()
    return _tab(request, "schedule", "Schedule", {"now": now, **_schedule(now)})


@staff_required
@may_view_jobs
def failed_list(request: HttpRequest) -> HttpResponse:
    """Failed jobs waiting for a decision (retry, discard), newest first, paginated; Retry all."""
    now = timezone.now()
    return _tab(request, "failed", "Failed", {"now": now, **_failed(request, now)})


@staff_required
def consumer_list(request: HttpRequest) -> HttpResponse:
    """The consumers and their heartbeats (live); the files' health."""
    now = timezone.now()
    context = {"now": now, "consumers": _consumers(now), "start_consumer": command_line("run_huey")}
    if not request.GET.get("fragment"):
        context["files"] = file_health.measure()
    return _tab(request, "consumers", "Consumers", context, page="consumers.html")


@staff_required
def stats(request: HttpRequest) -> HttpResponse:
    """Jobs finished per minute, counts by state, failure rate per job."""
    now = timezone.now()
    return _tab(request, "stats", "Stats", {"now": now, **_stats(now)})


# Jobs


@staff_required
@may_view_jobs
def job_list(request: HttpRequest) -> HttpResponse:
    runs = job_stats.with_shown_state(JobRun.objects.select_related("triggered_by").defer("message", "traceback"))
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
    page = Paginator(_with_retry(runs), PAGE_SIZE).get_page(request.GET.get("page"))
    _timed(page, timezone.now(), enqueued="enqueued_at")  # on the page's own runs
    context = {
        "tab": "jobs",
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
    context = {"tab": "jobs", "run": run, "events": run.events.all(), "retried_as": list(run.retried_as.all())}
    return render(request, "tasks_app/dashboard/job_detail.html", context)


@require_POST
@staff_required
@may_manage_jobs
def job_retry(request: HttpRequest, job_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=job_id)
    if run.state != State.FAILED or not run.message:
        messages.error(request, "Only a failed job can be retried.")
        return redirect("dashboard:job-detail", job_id=run.pk)
    new_id = queue.retry(run, user=request.user, note=f"from /ops/ by {request.user.get_username()}")
    messages.success(request, f"Retrying {run.short_name} as job {new_id}.")
    return redirect("dashboard:job-detail", job_id=new_id)


def _retry_all_selection(until: datetime.datetime) -> QuerySet[JobRun]:
    """What Retry all retries: as `manage.py jobs retry --failed`, the failed jobs not yet retried
    or discarded whose message was kept, here those failed by `until` (what was confirmed)."""
    return job_stats.retryable_failures().filter(finished_at__lte=until).order_by("finished_at")


@staff_required
@may_manage_jobs
def failed_retry_all(request: HttpRequest) -> HttpResponse:
    """GET: how many failed jobs Retry all would retry, and a button; POST: retry them, each once."""
    if request.method == "POST":
        until = dateparse.parse_datetime(request.POST.get("until", ""))
        if until is None or timezone.is_naive(until):
            messages.error(request, "Nothing retried: confirm which failed jobs first.")
            return redirect("dashboard:failed-retry-all")
        return _retry_all(request, until)
    now = timezone.now()
    failed = JobRun.objects.filter(state=State.FAILED, dismissed_at=None)
    by_name = Counter(_retry_all_selection(now).values_list("name", flat=True)[:RETRY_ALL_LIMIT])
    context = {
        "now": now,
        "tab": "failed",
        "until": now.isoformat(),
        "count": sum(by_name.values()),
        "by_name": sorted((name.rsplit(".", 1)[-1], n) for name, n in by_name.items()),
        "more": max(_retry_all_selection(now).count() - RETRY_ALL_LIMIT, 0),
        "not_retryable": failed.filter(message__isnull=True).count(),
        "limit": RETRY_ALL_LIMIT,
    }
    return render(request, "tasks_app/dashboard/failed_retry_all.html", context)


def _retry_all(request: HttpRequest, until: datetime.datetime) -> HttpResponse:
    retried: Counter[str] = Counter()
    note = f"from /ops/ (Retry all) by {request.user.get_username()}"
    for run in _retry_all_selection(until)[:RETRY_ALL_LIMIT]:
        try:
            queue.retry(run, user=request.user, note=note)
        except ValueError:  # retried, discarded or pruned meanwhile: nothing to do
            continue
        retried[run.short_name] += 1
    if retried:
        listed = ", ".join(f"{name} × {n}" for name, n in sorted(retried.items()))
        messages.success(
            request, f"Retrying {retried.total()} failed job{'s' if retried.total() > 1 else ''}: {listed}."
        )
    else:
        messages.info(request, "No failed job to retry.")
    return redirect("dashboard:failed-list")


@require_POST
@staff_required
@may_manage_jobs
def job_dismiss(request: HttpRequest, job_id: str) -> HttpResponse:
    run = get_object_or_404(JobRun, pk=job_id)
    queue.dismiss(run)
    messages.success(request, f"Dismissed failed job {run.short_name}.")
    return _back(request)


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
    short_names = {job["name"]: job["short_name"] for job in job_stats.job_names()}
    if name not in short_names:
        messages.error(request, "Unknown job name.")
    elif request.POST.get("action") == "resume":
        queue.resume_job(name)
        messages.success(request, f"Resumed {short_names[name]}.")
    else:
        queue.pause_job(name, user=request.user)
        messages.success(request, f"Paused {short_names[name]}: its runs wait until resumed.")
    return _back(request)


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
    return _back(request)


# Periodic jobs


def _periodic_task_class(name: str):
    task_class = periodic_ledger.periodic_task_class(name)
    if task_class is None:
        raise Http404("No periodic job of that name.")
    return task_class


@staff_required
def periodic_detail(request: HttpRequest, name: str) -> HttpResponse:
    """One periodic job's ledger: each tick of the last 7 days and what became of it; its latest
    runs, live (so a run started with Run now is followed here)."""
    task_class = _periodic_task_class(name)
    now = timezone.now()
    runs = _with_retry(job_stats.with_shown_state(JobRun.objects.filter(name=name).select_related("triggered_by")))
    context = {
        "now": now,
        "tab": "schedule",
        "name": name,
        "short_name": task_class.__name__,
        "runs": _timed(runs.defer("message", "traceback")[:RECENT_RUNS], now, enqueued="enqueued_at"),
    }
    if not request.GET.get("fragment"):
        schedule = task_class.periodic_schedule
        context |= {
            "description": periodic_ledger.description(task_class),
            "schedule": schedule.label,
            "missed_runs": task_class.missed_runs.label,
            "next_run": schedule.next_run(now),
            "paused": PausedJob.objects.filter(name=name).exists(),
            "page": Paginator(periodic_ledger.ticks(name, schedule, now), PAGE_SIZE).get_page(request.GET.get("page")),
        }
    return _live(
        request, "tasks_app/dashboard/_periodic_runs.html", "tasks_app/dashboard/periodic_detail.html", context
    )


@require_POST
@staff_required
@may_manage_jobs
def periodic_run(request: HttpRequest, name: str) -> HttpResponse:
    """Run a periodic job once now, outside its schedule, recorded as started by the requester;
    back on its page, the run heads its latest runs."""
    short_name = _periodic_task_class(name).__name__
    job_id = queue.run_now(name, user=request.user)
    if PausedJob.objects.filter(name=name).exists():
        messages.warning(request, f"Enqueued {short_name} as job {job_id}; its job is paused: it waits until resumed.")
    else:
        messages.success(request, f"Started {short_name} now as job {job_id}.")
    return redirect("dashboard:periodic-detail", name=name)
