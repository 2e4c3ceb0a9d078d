"""`manage.py run_huey` with the test-only jobs of tests/crash_jobs.py registered as well."""

import os
import sys
from pathlib import Path

import django
from django.core.management import call_command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
django.setup()

import tests.crash_jobs  # noqa: E402, F401 (registers the jobs)

call_command("run_huey", *sys.argv[1:])
