"""Jobs that only tests register: they misbehave the way real jobs sometimes do."""

import os
import signal
import time

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(name="tests.crash_consumer")
def crash_consumer() -> None:
    """Kill the consumer running this job, as a segfault or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)


@db_task()
def nap(seconds: float) -> None:
    """Take a little time, as real work does: with several consumers, each gets some."""
    time.sleep(seconds)


@db_periodic_task(crontab())
def every_minute() -> None:
    """A periodic job due every minute: each consumer's scheduler offers it as it starts."""


@db_task()
def echo(value):
    """Return what it was given: a chord member or a pipeline step whose result is checked."""
    return value


@db_task()
def collect(results: list) -> list:
    """A chord's callback: the members' results, in order."""
    return results
