"""Claiming a work row (an email to send, a report to build) for the running job.

A job claims its row with a conditional UPDATE, so two runs never do the same work at once. The
claim names the job that holds it (`claimed_by`). When that job is over without having finished
the work, the row can be claimed again: by the same job delivered again after its consumer died,
or by the new job a person started with Retry after the first one failed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from tasks_app.models import JobRun
from tasks_app.queue.context import current_job_id


def claim(rows: QuerySet, *, open: Iterable[str], claimed: str, reopen: Iterable[str] = (), **changes) -> bool:
    """Move the row in `rows` from an `open` status to `claimed`, held by the running job.

    A row in `claimed` (or a `reopen` status, such as failed) is taken over when it is held by
    this very job (a redelivery) or by a job that has ended (failed, revoked: a retry).
    `changes` are further columns set with the claim (clearing a previous error, say).
    """
    job_id = current_job_id() or ""
    held = Q(status__in=[claimed, *reopen])
    ended = JobRun.objects.filter(state__in=JobRun.FINISHED_STATES).values("id")
    takeover = held & (Q(claimed_by=job_id) | Q(claimed_by__in=ended)) if job_id else Q(pk__in=[])
    return bool(rows.filter(Q(status__in=list(open)) | takeover).update(status=claimed, claimed_by=job_id, **changes))
