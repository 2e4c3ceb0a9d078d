"""Jobs that only tests register: they misbehave the way real jobs sometimes do."""

import os
import signal

from huey.contrib.djhuey import db_task


@db_task(name="tests.crash_consumer")
def crash_consumer() -> None:
    """Kill the consumer running this job, as a segfault or the OOM killer would."""
    os.kill(os.getpid(), signal.SIGKILL)
