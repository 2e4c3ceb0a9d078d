"""`manage.py run_huey` with the bench's job (bench/leased_jobs.py) registered as well.

    DJANGO_SETTINGS_MODULE=site_config.settings DATA_DIR=... .venv/bin/python bench/leased_consumer.py [run_huey options]

BENCH_PROFILE=<file>: the consumer's CPU by stage of a job (bench/consumer_profile.py), written
to that file as it exits.
"""

import os
import sys
import time
from pathlib import Path

import django
from django.core.management import call_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
django.setup()

import bench.leased_jobs  # noqa: E402, F401 (registers the job)

if os.environ.get("BENCH_PROFILE"):
    from bench import consumer_profile

    consumer_profile.install(os.environ["BENCH_PROFILE"], startup_cpu=time.process_time())

call_command("run_huey", *sys.argv[1:])
