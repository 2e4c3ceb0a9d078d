"""Unit tests run Huey in immediate mode: each job runs inline, in memory, when enqueued."""

import os

import pytest

# Read by site_config.settings, which pytest-django imports after this file (its pytest_configure).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("HUEY_IMMEDIATE", "1")


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Keep files a test writes out of the real db/ folder."""
    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path
