"""The periodic ledger: every time a periodic job is due is recorded, with what became of it.

Each consumer's scheduler asks every minute which periodic jobs are due. Here it records each
due tick in the ledger (`PeriodicTick`) before enqueueing the job, and the unique (name, time)
row is the claim: of several consumers, the first to record a tick runs it.

On start, and after a gap in its own checks, a scheduler also looks back from each job's last
recorded tick: the ticks no consumer recorded were missed while none ran. It records them and
applies the job's missed-run policy (`jobs.schedule.MissedRuns`) once: skip, or run the latest
missed tick late if it is still within the catch-up window. The late run is claimed like any
tick, so consumers coming back together run it once.
"""

from __future__ import annotations

import datetime
import logging

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Max
from django.utils import timezone

logger = logging.getLogger("huey")

GRACE = datetime.timedelta(minutes=2)  # a younger unrecorded tick is on time: a live scheduler may still take it
GAP = datetime.timedelta(minutes=5)  # a scheduler silent this long (or just started) looks for missed ticks
LOOKBACK = datetime.timedelta(days=7)  # how far back missed ticks are looked for
MINUTE = datetime.timedelta(minutes=1)


class LedgerMixin:
    """Huey's `read_periodic` through the ledger, for any Huey (leased queue or Redis)."""

    _ledger_checked: datetime.datetime | None = None  # the minute this scheduler last checked
    _looking_back_until: datetime.datetime | None = None

    def read_periodic(self, timestamp):
        if self._immediate:
            return super().read_periodic(timestamp)
        minute = (timestamp or self._get_timestamp()).replace(second=0, microsecond=0, tzinfo=datetime.UTC)
        if not connection.in_atomic_block:  # (never drop a connection in the middle of a transaction)
            close_old_connections()  # the scheduler's thread holds its connection for the consumer's life
        checked = self._ledger_checked
        if checked is None or minute - checked > GAP:  # started, or back from a gap
            self._looking_back_until = minute + GRACE
        looking_back = minute <= self._looking_back_until
        try:
            due = due_jobs(self._registry.periodic_tasks, minute, None if looking_back else checked)
        except Exception:
            logger.exception("could not read the periodic ledger; trying again next minute")
            return []
        self._ledger_checked = minute
        return due


def due_jobs(tasks, now: datetime.datetime, checked: datetime.datetime | None) -> list:
    """The periodic jobs (Huey task instances) this scheduler runs at the minute `now` (aware, UTC).

    `checked`: the minute this scheduler last checked, every tick since then is on time. None:
    it looks back from each job's last recorded tick. A tick older than GRACE that no one
    recorded was missed; a younger one is left to the scheduler that may be about to take it
    (the next checks look back again, `LedgerMixin`); this minute's is on time.
    """
    from tasks_app.models import PeriodicTick

    last_recorded = {}
    if checked is None:
        rows = PeriodicTick.objects.values("name").annotate(last=Max("due_at"))  # on the (name, due_at) index
        last_recorded = {row["name"]: max(row["last"], now - LOOKBACK) for row in rows}
    due = []
    for task in tasks:
        ledger = _JobLedger(task, now)
        if checked is None:
            ticks = ledger.ticks(last_recorded.get(ledger.name, now - MINUTE))  # a new job: from now on
            missed = [tick for tick in ticks if tick < now - GRACE]
            on_time = [tick for tick in ticks if tick == now]
        else:
            missed, on_time = [], ledger.ticks(checked)
        due += ledger.record_missed(missed, covered=bool(on_time))
        due += [job for tick in on_time for job in ledger.claim(tick, PeriodicTick.Outcome.RAN)]
    return due


class _JobLedger:
    """One periodic job's ticks at one check."""

    def __init__(self, task, now: datetime.datetime):
        from tasks_app.jobs.schedule import SKIP
        from tasks_app.queue.history import job_name

        self.task_class = type(task)
        self.name = job_name(self.task_class)
        self.schedule = getattr(self.task_class, "periodic_schedule", None)
        self.policy = getattr(self.task_class, "missed_runs", SKIP)
        self.now = now

    def ticks(self, after: datetime.datetime) -> list[datetime.datetime]:
        """Its ticks later than `after`, up to this minute."""
        if self.schedule is not None:
            return self.schedule.ticks(after, self.now)
        # A plain crontab (no Schedule): minute by minute, only over a short span.
        task, minute, found = self.task_class(), max(after, self.now - GAP), []
        while (minute := minute + datetime.timedelta(minutes=1)) <= self.now:
            if task.validate_datetime(minute.replace(tzinfo=None)):
                found.append(minute)
        return found

    def claim(self, tick: datetime.datetime, outcome: str, detail: str = "") -> list:
        """Record the tick; when this scheduler is the first to, the job to enqueue for it (unless paused)."""
        from tasks_app.models import PeriodicTick
        from tasks_app.queue import pause

        task = self.task_class()
        paused = self.name in pause.paused_names()
        if paused:
            outcome = PeriodicTick.Outcome.PAUSED
            detail = "; ".join(filter(None, [detail, "skipped: the job is paused"]))
        row = PeriodicTick(
            name=self.name,
            due_at=tick,
            outcome=outcome,
            job_id="" if paused else task.id,
            detail=detail,
            recorded_at=timezone.now(),
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            return []  # another consumer's scheduler recorded it first
        return [] if paused else [task]

    def record_missed(self, missed: list[datetime.datetime], *, covered: bool) -> list:
        """Record ticks no consumer ran; run the latest once if the policy says so. `covered`: the
        job runs on time now anyway, so a late run would only repeat it."""
        from tasks_app.models import PeriodicTick

        if not missed:
            return []
        catch_up = self.policy.catch_up
        late = missed[-1] if catch_up is not None and not covered and self.now - missed[-1] <= catch_up else None
        rows = [
            PeriodicTick(
                name=self.name,
                due_at=tick,
                outcome=PeriodicTick.Outcome.MISSED,
                detail=self._why_not_caught_up(tick, late, covered),
                recorded_at=timezone.now(),
            )
            for tick in missed
            if tick != late
        ]
        PeriodicTick.objects.bulk_create(rows, ignore_conflicts=True)  # another consumer may have recorded some
        if late is None:
            return []
        detail = f"no consumer was running at {_local(late)}; run late at {_local(self.now)} ({self.policy.label})"
        return self.claim(late, PeriodicTick.Outcome.CAUGHT_UP, detail)

    def _why_not_caught_up(self, tick, late, covered: bool) -> str:
        why = f"no consumer was running at {_local(tick)}"
        if self.policy.catch_up is None:
            return f"{why}; not run late ({self.policy.label})"
        if late is not None:
            return f"{why}; the later missed run at {_local(late)} was run instead"
        if covered:
            return f"{why}; not run late: it runs on time at {_local(self.now)}"
        return f"{why}; too late at {_local(self.now)} to run it ({self.policy.label})"


def _local(moment: datetime.datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
