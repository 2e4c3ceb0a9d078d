"""`manage.py jobs`: the shell's view of what /ops/ shows, and its actions (retry, cancel, pause, resume).

Reads go through the dashboard's own figures (`services.job_stats`), changes through `tasks_app.queue`,
as the user given with `--as`, who needs what the dashboard requires (staff and `manage_jobs`).
"""

from __future__ import annotations

import datetime
import json
import re
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import dateparse, timezone

from tasks_app import permissions, queue
from tasks_app.models import JobRun
from tasks_app.services import job_stats

USAGE, FAILED = 2, 1  # exit codes besides 0
_DURATION = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


def parse_since(value: str, now: datetime.datetime) -> datetime.datetime:
    """An ISO date or date/time (in TIME_ZONE when it has no offset), or a duration back from now: 30m, 2h, 3d, 1w."""
    if match := _DURATION.fullmatch(value):
        return now - datetime.timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = dateparse.parse_datetime(value)
        if moment is None and (day := dateparse.parse_date(value)):
            moment = datetime.datetime.combine(day, datetime.time())
    except ValueError:
        moment = None
    if moment is None:
        raise usage_error(f"--since {value!r}: give an ISO date or date/time, or a duration such as 30m, 2h, 3d, 1w.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def job_names(name: str) -> list[str]:
    """The registered names `name` stands for: a full dotted name, or a short name (several jobs may share one)."""
    names = [job["name"] for job in job_stats.job_names() if name in (job["name"], job["short_name"])]
    if not names:
        raise usage_error(f"No job named {name!r}: `manage.py jobs lanes` lists them.")
    return names


def when(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else ""


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} s"


class Command(BaseCommand):
    help = "Background jobs from the shell: list, show, retry, cancel, pause, resume, lanes, consumers, schedule."
    stealth_options = ("stdin",)

    def add_arguments(self, parser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)

        def command(name: str, text: str, *, changes: bool = False, as_json: bool = True):
            sub = commands.add_parser(name, help=text)
            if changes:
                sub.add_argument(
                    "--as", dest="username", required=True, help="the user it is done as (staff, manage_jobs)"
                )
            if as_json:
                sub.add_argument("--json", action="store_true")
            return sub

        listing = command("list", "jobs, newest first")
        listing.add_argument("--state", choices=[state for state, _ in job_stats.SHOWN_STATES])
        listing.add_argument("--lane", choices=list(settings.HUEY_LANES))
        listing.add_argument("--job", help="a job's short name (report_build) or full dotted name")
        listing.add_argument("--since", help="enqueued since: an ISO date/time, or a duration (2h, 3d)")
        listing.add_argument("--person", help="started by this username")
        listing.add_argument("--limit", type=int, default=50)
        command("show", "one job: its fields, arguments, events and traceback").add_argument("id")
        retry = command("retry", "retry failed jobs as new jobs", changes=True, as_json=False)
        retry.add_argument("ids", nargs="*", metavar="ID")
        retry.add_argument("--failed", action="store_true", help="every failed job not yet retried or discarded")
        retry.add_argument("--job", help="with --failed: only this job")
        retry.add_argument("--since", help="with --failed: only those that failed since (ISO date/time or 2h, 3d)")
        retry.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        cancel = command("cancel", "cancel jobs that have not started", changes=True, as_json=False)
        cancel.add_argument("ids", nargs="+", metavar="ID")
        cancel.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        command("pause", "hold every run of a job until resumed", changes=True, as_json=False).add_argument("name")
        command("resume", "run a paused job again", changes=True, as_json=False).add_argument("name")
        command("lanes", "each lane: its limit, what runs and waits")
        command("consumers", "the running consumers and their heartbeats")
        command("schedule", "the periodic jobs with their next and last runs")

    def handle(self, *args, command: str, **options) -> None:
        self.stdin = options.get("stdin", sys.stdin)
        self.as_json = options.get("json", False)
        getattr(self, f"handle_{command}")(**options)

    # Reading

    def output(self, rows: list[dict]) -> None:
        """Rows as a plain-text table, or a JSON list (--json)."""
        if self.as_json:
            self.stdout.write(json.dumps(rows, indent=2, default=str))
            return
        if not rows:
            self.stdout.write("None.")
            return
        texts = [[str(value) for value in row.values()] for row in rows]
        headers = [name.upper().replace("_", " ") for name in rows[0]]
        widths = [max(map(len, column)) for column in zip(headers, *texts, strict=True)]
        for line in [headers, *texts]:
            self.stdout.write("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip())

    def handle_list(self, *, state, lane, job, since, person, limit, **options) -> None:
        if limit < 1:
            raise usage_error("--limit takes a number of jobs, 1 or more.")
        runs = job_stats.with_shown_state(JobRun.objects.select_related("triggered_by"))
        if state:
            runs = runs.filter(shown_state=state)
        if lane:
            runs = runs.filter(lane=lane)
        if job:
            runs = runs.filter(name__in=job_names(job))
        if since:
            runs = runs.filter(enqueued_at__gte=parse_since(since, timezone.now()))
        if person:
            runs = runs.filter(triggered_by=self.user(person))
        self.output([self.row(run) for run in runs[:limit]])

    def row(self, run: JobRun) -> dict:
        return {
            "id": run.id,
            "job": run.short_name,
            "state": run.shown_state,
            "lane": run.lane,
            "person": run.triggered_by.username if run.triggered_by else "",
            "enqueued": when(run.enqueued_at),
            "duration": seconds(run.duration),
            "error": run.error.splitlines()[0][:60] if run.error and not self.as_json else run.error,
        }

    def handle_show(self, *, id: str, **options) -> None:
        run = self.runs([id]).get(id)
        if run is None:
            raise CommandError(f"{id}: no such job", returncode=FAILED)
        fields = {
            "id": run.id,
            "job": run.name,
            "state": run.shown_state,
            "lane": run.lane,
            "priority": run.priority,
            "args": run.args,  # as recorded: secrets already redacted
            "kwargs": run.kwargs,
            "started_by": run.triggered_by.username if run.triggered_by else None,
            "periodic": run.periodic,
            "retry_of": run.retry_of_id,
            "retried_as": list(run.retried_as.values_list("id", flat=True)),
            "enqueued_at": run.enqueued_at,
            "eta": run.eta,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "duration": run.duration,
            "attempts": run.attempts,
            "deliveries": run.deliveries,
            "retries_left": run.retries_left,
            "progress": f"{run.progress_current}/{run.progress_total} {run.progress_message}".strip()
            if run.progress_total
            else None,
            "result": run.result_summary,
            "error": run.error,
        }
        events = [{"at": event.at, "kind": event.kind, "detail": event.detail} for event in run.events.all()]
        if self.as_json:
            self.stdout.write(
                json.dumps({**fields, "events": events, "traceback": run.traceback}, indent=2, default=str)
            )
            return
        for name, value in fields.items():
            shown = json.dumps(value) if name in ("args", "kwargs") else value
            self.stdout.write(f"{name.replace('_', ' ')}: {'' if shown is None else shown}")
        self.stdout.write("\nEvents:")
        self.output([{**event, "at": when(event["at"])} for event in events])
        if run.traceback:
            self.stdout.write(f"\nTraceback:\n{run.traceback}")

    def handle_lanes(self, **options) -> None:
        self.output(
            [
                {
                    "lane": lane.name,
                    "limit": lane.limit,
                    "running": lane.running,
                    "waiting": lane.waiting,
                    "paused": lane.paused,
                    "oldest_wait": seconds(lane.oldest_wait),
                    "finished_last_hour": lane.finished_last_hour,
                    "jobs": ", ".join(job["short_name"] + (" (paused)" if job["paused"] else "") for job in lane.jobs),
                }
                for lane in job_stats.lanes(timezone.now())
            ]
        )

    def handle_consumers(self, **options) -> None:
        self.output(
            [
                {
                    "consumer": row["beat"].consumer_id,
                    "workers": row["beat"].workers,
                    "started": when(row["beat"].started_at),
                    "last_beat": f"{row['age']:.0f} s ago",
                    "history_written": f"{row['history_age']:.0f} s ago" if row["history_age"] is not None else "",
                    "history_behind": row["history_behind"],
                }
                for row in job_stats.consumers()
            ]
        )

    def handle_schedule(self, **options) -> None:
        self.output(
            [
                {
                    "job": job.short_name,
                    "schedule": job.schedule,
                    "next_run": when(job.next_run),
                    "last_run": f"{when(job.last_run.started_at)} {job.last_run.state}" if job.last_run else "",
                    "last_due": f"{when(job.last_expected.due_at)} {job.last_expected.verdict}"
                    if job.last_expected
                    else "",
                    "missed_7d": job.misses,
                    "paused": job.paused,
                }
                for job in job_stats.periodic_jobs()
            ]
        )

    # Changing

    def handle_retry(self, *, ids, failed, job, since, username, yes, **options) -> None:
        user = self.manager(username)
        if failed == bool(ids):
            raise usage_error("Give either job ids or --failed.")
        if (job or since) and not failed:
            raise usage_error("--job and --since go with --failed.")
        if failed:
            runs = job_stats.retryable_failures()
            described = "failed jobs"
            if job:
                runs = runs.filter(name__in=job_names(job))
                described += f" of {job}"
            if since:
                moment = parse_since(since, timezone.now())
                runs = runs.filter(finished_at__gte=moment)
                described += f" since {when(moment)}"
            found = {run.pk: run for run in runs.order_by("finished_at")}
            ids = list(found)
            if not ids:
                self.stdout.write(f"No {described} to retry.")
                return
        else:
            found = self.runs(ids)
            described = "jobs"
        self.confirm(f"Retry {len(ids):,} {described}?", yes or (len(ids) == 1 and not failed))
        note = self.note(user)
        problems = []
        for job_id in ids:
            run = found.get(job_id)
            if run is None:
                problems.append(f"{job_id}: no such job")
                continue
            try:
                new_id = queue.retry(run, user=user, note=note)
            except ValueError:
                reason = "its message was not kept" if run.state == JobRun.State.FAILED else f"it is {run.state}"
                problems.append(f"{job_id}: not retryable: {reason}")
            else:
                self.stdout.write(f"Retried {job_id} ({run.short_name}) as {new_id}.")
        self.done(len(ids), problems)

    def handle_cancel(self, *, ids, username, yes, **options) -> None:
        user = self.manager(username)
        found = self.runs(ids)
        self.confirm(f"Cancel {len(ids):,} jobs?", yes or len(ids) == 1)
        note = self.note(user)
        problems = []
        for job_id in ids:
            run = found.get(job_id)
            if run is None:
                problems.append(f"{job_id}: no such job")
            elif queue.cancel(run, note=note):
                self.stdout.write(f"Canceled {job_id} ({run.short_name}).")
            else:
                problems.append(f"{job_id}: not waiting, it is {run.state}: only a waiting job can be canceled")
        self.done(len(ids), problems)

    def handle_pause(self, *, name, username, **options) -> None:
        user = self.manager(username)
        full_name = self.one_job(name)
        queue.pause_job(full_name, user=user)
        self.stdout.write(f"Paused {full_name}: its runs wait until resumed.")

    def handle_resume(self, *, name, username, **options) -> None:
        self.manager(username)
        full_name = self.one_job(name)
        queue.resume_job(full_name)
        self.stdout.write(f"Resumed {full_name}.")

    # Helpers

    def runs(self, ids: list[str]) -> dict[str, JobRun]:
        runs = job_stats.with_shown_state(JobRun.objects.select_related("triggered_by").filter(pk__in=ids))
        return {run.pk: run for run in runs}

    def user(self, username: str):
        try:
            return get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise usage_error(f"No user named {username!r}.") from None

    def manager(self, username: str):
        """The user `--as` names, if they may act on jobs as the dashboard requires."""
        user = self.user(username)
        if not (user.is_active and user.is_staff and user.has_perm(permissions.MANAGE_JOBS)):
            raise usage_error(
                f"{username} may not act on jobs: that takes an active staff user with {permissions.MANAGE_JOBS}."
            )
        return user

    def note(self, user) -> str:
        return f"from the command line as {user.get_username()}"

    def one_job(self, name: str) -> str:
        names = job_names(name)
        if len(names) > 1:
            raise usage_error(f"{name!r} names several jobs; give the full name: {', '.join(names)}.")
        return names[0]

    def confirm(self, question: str, skip: bool) -> None:
        """Ask before a bulk change; without a terminal to ask on, refuse (--yes skips the question)."""
        if skip:
            return
        if not self.stdin.isatty():
            raise usage_error(f"{question} Not asked: stdin is not a terminal. Add --yes to do it.")
        self.stdout.write(f"{question} [y/N] ", ending="")
        self.stdout.flush()
        if self.stdin.readline().strip().lower() not in ("y", "yes"):
            raise usage_error("Nothing done.")

    def done(self, asked: int, problems: list[str]) -> None:
        """Exit 1, with a line per failure on stderr, when some of the asked jobs failed."""
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems):,} of {asked:,} failed.", returncode=FAILED)
