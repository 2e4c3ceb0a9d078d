"""The queue core: Huey on a leased queue (SQLite or PostgreSQL), and the history of every job.

One module per concern:

- `storage`: the tables and their transitions (claim, ack, release, beat, orphans), SQLite's storage;
  `postgres`: the same on PostgreSQL (SKIP LOCKED claims, LISTEN/NOTIFY wake-ups).
- `leased`: `LeasedSqliteHuey`, `LeasedPostgresHuey` and their consumer: claim instead of delete, ack when done.
- `wakeup`: an enqueue wakes an idle consumer at once.
- `holding`: holding a paused job back without failing its chord, on any backend.
- `signals`: Huey's signals become history events; `history`: events become JobRun rows;
  `writer`: batching in the consumer, acks after history, the heartbeat.
- `recovery`: jobs whose message never reached the queue; `claims`: work rows a job holds.
- `periodic`: the ledger of periodic ticks, missed runs and their policy; `unique`: uniqueness keys.
- `progress`, `pause`, `context`: what a running job reports, paused jobs, thread state.
- `public`: the functions the rest of the app calls, available here as `queue.<name>`.

Huey imports `storage` and `leased` while Django's apps are still loading, so this package
imports nothing at first: the public functions load on first use.
"""

_PUBLIC = {
    "enqueue_on_commit",
    "enqueue_message_on_commit",
    "claim_unique",
    "cancel",
    "retry",
    "dismiss",
    "pause_job",
    "resume_job",
    "pending_count",
    "scheduled_count",
    "claimed_count",
    "job_name",
    "acting_person",
    "run_now",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        from tasks_app.queue import public

        return getattr(public, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
