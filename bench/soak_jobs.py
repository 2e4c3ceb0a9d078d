"""Jobs only the kill soak (bench/kill_soak.py) registers: pipeline steps, chord members and
callbacks, and a job that fails on purpose, each writing one row per run to the `soak_run` table.

The soak's consumers import this module before `run_huey` starts (`CONSUMER`), as
tests/consumer_with_test_jobs.py does for the tests' jobs. A run's row names the step it did
(`key`), its job id, and the queue message it ran from: two rows of one key from two messages
mean a follow-up enqueued twice; two from one message, a message delivered again.
"""

import time

from django.db import connection
from huey.contrib.djhuey import db_task

RETRIES = 2  # soak_flaky's retries: at most RETRIES + 1 runs

# The command the soak runs as its consumer: `manage.py run_huey` with these jobs registered.
CONSUMER = (
    "import django; django.setup(); import bench.soak_jobs; "
    "from django.core.management import call_command; call_command('run_huey')"
)

RUN_TABLE = (
    "create table soak_run (id integer primary key, key text not null, job_id text not null, "
    "message_id integer, delivery integer, detail text not null default '', at real not null)"
)


class DeliberateFailure(Exception):
    """soak_flaky failing on purpose; its one argument is the attempt (0 first)."""


def create_run_table() -> None:
    """The `soak_run` table in the app database (the soak's own, not a migration)."""
    with connection.cursor() as cursor:
        cursor.execute(RUN_TABLE)
        cursor.execute("create index soak_run_key on soak_run (key)")


def _record_run(key: str, task, detail: str = "") -> None:
    """One row for this run, committed at once (before the job's message is marked done)."""
    claim = getattr(task, "claim", None)  # set by the leased queue on the message it ran from
    with connection.cursor() as cursor:
        cursor.execute(
            "insert into soak_run (key, job_id, message_id, delivery, detail, at) values (%s, %s, %s, %s, %s, %s)",
            [key, task.id, claim and claim.message_id, claim and claim.deliveries, detail, time.time()],
        )


@db_task(context=True)
def soak_step(pipeline: int, step: int, previous: str | None = None, task=None) -> str:
    """One step of a pipeline; records the step before it (`previous`, its return value)."""
    _record_run(f"step:{pipeline}:{step}", task, previous or "")
    return f"{pipeline}:{step}"


@db_task(context=True)
def soak_member(chord: int, index: int, task=None) -> str:
    """One member of a chord; its return value is what the callback should receive."""
    _record_run(f"member:{chord}:{index}", task)
    return f"{chord}:{index}"


@db_task(context=True)
def soak_callback(chord: int, results: list, task=None) -> None:
    """A chord's callback; records the members' results it was given."""
    _record_run(f"callback:{chord}", task, repr(results))


@db_task(retries=RETRIES, retry_delay=1, context=True)
def soak_flaky(job: int, failures: int, task=None) -> int:
    """Fail on purpose on the first `failures` attempts, then succeed (more than RETRIES: fail for good)."""
    attempt = RETRIES - task.retries
    _record_run(f"flaky:{job}:{attempt}", task)
    if attempt < failures:
        raise DeliberateFailure(attempt)
    return attempt


@db_task(context=True)
def soak_on_error(job: int, error: Exception, task=None) -> None:
    """soak_flaky's on_error handler: Huey enqueues one per failed attempt."""
    _record_run(f"on-error:{job}:{error.args[0]}", task)
