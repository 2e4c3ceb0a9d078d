"""The app's settings with django-tasks-db added, for bench/stock_vs_leased.py's peer: its
`db_worker` consumes a `DatabaseBackend` in the app database (the same SQLite file, engine and
options as the app's), beside this queue's figures in the same run.

Needs requirements-bench.txt (django-tasks, django-tasks-db); never used by the app or its tests.
"""

from site_config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks", "django_tasks_db"]  # noqa: F405
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
