"""Unique jobs: a key stays with one job while it waits or runs, and for a window after it finished.

`claim_unique` takes the key in the caller's transaction, so the key, the work's row and the
job's history commit together. It inserts the key's row, or, when the key exists, locks that
row (`SELECT ... FOR UPDATE`; SQLite has one writer anyway) and only then reads whether its job
still holds it: two web processes asking at once are serialized on the row, and the second
sees the first's job. A key whose job has no history (never enqueued, or pruned) is free.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from tasks_app.models import JobEvent, JobRun, UniqueJob


@dataclass(frozen=True)
class Claimed:
    job_id: str  # enqueue the work with this id when `created`; else it is the job already doing it
    created: bool


def _insert_sql() -> str:
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(UniqueJob._meta.db_table)} ({quote('key')}, job_id, after_finish, claimed_at) "
        f"VALUES (%s, %s, %s, %s) ON CONFLICT ({quote('key')}) DO NOTHING RETURNING job_id"
    )


def claim_unique(key: str, *, window: datetime.timedelta = datetime.timedelta(0), user=None) -> Claimed:
    """Take `key` for a new job, or learn which job holds it (recorded on that job: "asked again").

    Call it in the transaction that enqueues the work, and enqueue it with `id=claimed.job_id`.
    Needs the job history (JOB_HISTORY_ENABLED): without it every claim is new.
    """
    if len(key) > UniqueJob._meta.pk.max_length:
        raise ValueError(f"a uniqueness key is at most {UniqueJob._meta.pk.max_length} characters")
    now, job_id = timezone.now(), str(uuid.uuid4())  # as Huey makes its job ids
    with transaction.atomic():
        with connection.cursor() as cursor:
            after_finish = UniqueJob._meta.get_field("after_finish").get_db_prep_value(window, connection)
            claimed_at = UniqueJob._meta.get_field("claimed_at").get_db_prep_value(now, connection)
            cursor.execute(_insert_sql(), [key, job_id, after_finish, claimed_at])
            if cursor.fetchone() is not None:
                return Claimed(job_id, created=True)
        held = UniqueJob.objects.select_for_update().get(key=key)
        run = JobRun.objects.filter(pk=held.job_id).values("state", "finished_at").first()  # read after the lock
        if not _holds(run, since=now - window):
            UniqueJob.objects.filter(key=key).update(job_id=job_id, after_finish=window, claimed_at=now)
            return Claimed(job_id, created=True)
        who = f" by {user}" if user is not None else ""
        detail = f"asked again{who}: same as job {held.job_id}, so no second job"
        JobEvent.objects.create(job_id=held.job_id, kind="asked-again", at=now, detail=detail)
    return Claimed(held.job_id, created=False)


def _holds(run: dict | None, *, since: datetime.datetime) -> bool:
    """Whether a job (its state and finished_at) still holds its key: waiting, running, or finished after `since`."""
    if run is None:
        return False  # never recorded, or pruned
    if run["state"] not in JobRun.FINISHED_STATES:
        return True
    return run["finished_at"] is not None and run["finished_at"] > since
