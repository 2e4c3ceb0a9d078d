"""`manage.py run_huey` on a clock that starts at the moment given first: a consumer that comes back
at 08:20, whatever time it is. time-machine moves the clocks the process reads (datetime, time.time)
and lets them run on from there; time.monotonic, which paces Huey's loops, is left alone.

    python tests/fixed_clock_consumer.py 2026-06-01T08:20:00+02:00 [run_huey options]
"""

import datetime
import os
import sys
from pathlib import Path

import django
import time_machine
from django.core.management import call_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

with time_machine.travel(datetime.datetime.fromisoformat(sys.argv[1]), tick=True):
    django.setup()
    call_command("run_huey", *sys.argv[2:])
