"""Unique jobs: a key stays with one job while it waits or runs, and for a window after it finished.

`claim_unique` is one statement, an upsert on the key: two web processes asking at once get the
same job, as the database serializes them on the key's row. The row changes hands only when the
job holding it has finished longer ago than its window, or has no history any more. It runs in
the caller's transaction, so the key, the work's row and the job's history commit together; a
key whose job was never recorded (the caller rolled back, or never enqueued) is free again.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from tasks_app.models import JobRun, UniqueJob
from tasks_app.queue.history import Event, insert_events

_HOLDING_STATES = sorted(set(JobRun.State.values) - JobRun.FINISHED_STATES)


@dataclass(frozen=True)
class Claimed:
    job_id: str  # enqueue the work with this id when `created`; else it is the job already doing it
    created: bool


def _claim_sql() -> str:
    quote = connection.ops.quote_name
    keys, runs = quote(UniqueJob._meta.db_table), quote(JobRun._meta.db_table)
    holding = ", ".join(["%s"] * len(_HOLDING_STATES))
    return (
        f"INSERT INTO {keys} ({quote('key')}, job_id, after_finish, claimed_at) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT ({quote('key')}) DO UPDATE SET job_id = excluded.job_id, "
        "after_finish = excluded.after_finish, claimed_at = excluded.claimed_at "
        f"WHERE NOT EXISTS (SELECT 1 FROM {runs} r WHERE r.id = {keys}.job_id "
        f"AND (r.state IN ({holding}) OR r.finished_at > %s)) "
        "RETURNING job_id"
    )


def claim_unique(key: str, *, window: datetime.timedelta = datetime.timedelta(0), user=None) -> Claimed:
    """Take `key` for a new job, or learn which job holds it (recorded on that job: "asked again").

    Call it in the transaction that enqueues the work, and enqueue it with `id=claimed.job_id`.
    Needs the job history (JOB_HISTORY_ENABLED): without it every claim is new.
    """
    if len(key) > UniqueJob._meta.pk.max_length:
        raise ValueError(f"a uniqueness key is at most {UniqueJob._meta.pk.max_length} characters")
    now = timezone.now()
    job_id = str(uuid.uuid4())  # as Huey makes its job ids
    prep = {name: UniqueJob._meta.get_field(name) for name in ("after_finish", "claimed_at")}
    params = [
        key,
        job_id,
        prep["after_finish"].get_db_prep_value(window, connection),
        prep["claimed_at"].get_db_prep_value(now, connection),
        *_HOLDING_STATES,
        JobRun._meta.get_field("finished_at").get_db_prep_value(now - window, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), params)
        if cursor.fetchone() is not None:
            return Claimed(job_id, created=True)
        holder = UniqueJob.objects.values_list("job_id", flat=True).get(key=key)
        who = f" by {user}" if user is not None else ""
        detail = f"asked again{who}: same as job {holder}, so no second job"
        insert_events(cursor, [Event(holder, "asked-again", now, {}, detail=detail)])
    return Claimed(holder, created=False)
