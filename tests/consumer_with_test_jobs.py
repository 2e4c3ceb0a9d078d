"""`manage.py run_huey` with the test-only jobs of tests/crash_jobs.py registered as well.

TEST_KILL_AT="before-done-mark:<job id>" (or "after-done-mark:<job id>"): the consumer kills
itself with SIGKILL just before (or just after) the queue transaction that marks that job's
message done with its follow-ups: the exact windows a kill soak hits only by chance.
"""

import os
import signal
import sys
from pathlib import Path

import django
from django.core.management import call_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
django.setup()

import tests.crash_jobs  # noqa: E402, F401 (registers the jobs)
from tasks_app.queue.leased import LeasedHuey  # noqa: E402


def kill_at_done_mark(where: str, job_id: str) -> None:
    finish = LeasedHuey._finish

    def finish_or_die(self, claim, *args, **kwargs):
        if where == "before-done-mark" and claim.job_id == job_id:
            os.kill(os.getpid(), signal.SIGKILL)
        finish(self, claim, *args, **kwargs)
        if where == "after-done-mark" and claim.job_id == job_id:
            os.kill(os.getpid(), signal.SIGKILL)

    LeasedHuey._finish = finish_or_die


if os.environ.get("TEST_KILL_AT"):
    kill_at_done_mark(*os.environ["TEST_KILL_AT"].split(":", 1))

call_command("run_huey", *sys.argv[1:])
