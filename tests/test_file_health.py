"""The files' health in /healthz and on /ops/: backups' age, free disk, WAL sizes, on real files."""

import datetime
import os
import shutil
import sqlite3

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from tasks_app.services import backups
from tests.factories import make_user

pytestmark = pytest.mark.django_db
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's files")


@pytest.fixture(autouse=True)
def queue_file(settings, data_dir):
    """The queue's SQLite file in the test's DATA_DIR (immediate mode never opens it)."""
    settings.HUEY = {**settings.HUEY, "filename": str(data_dir / "huey.sqlite3")}
    return data_dir / "huey.sqlite3"


def make_backup(hours_old: float):
    """A backup file as backups.py names it, last written `hours_old` ago."""
    made = timezone.now() - datetime.timedelta(hours=hours_old)
    suffix = ".dump" if connection.vendor == "postgresql" else ".sqlite3"
    path = backups.backups_dir() / f"app-{made:%Y%m%d-%H%M%S-%f}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a verified copy")
    os.utime(path, (made.timestamp(), made.timestamp()))
    return path


def healthz(client) -> tuple[int, list[str], dict]:
    response = client.get("/healthz")
    body = response.json()
    return response.status_code, body["problems"], body["checks"]["files"]


def test_healthz_reports_the_files_figures_and_stays_ok_when_they_are_within_limits(client):
    backup = make_backup(hours_old=2)
    status, problems, files = healthz(client)
    assert (status, problems) == (200, [])
    assert files["backup"] == {"name": backup.name, "age_hours": 2.0, "mb": 0.0}
    assert files["disk_free_mb"] > 0


def test_healthz_fails_when_the_newest_backup_is_older_than_the_limit_and_recovers_with_a_new_one(client, settings):
    settings.HEALTH_BACKUP_MAX_AGE_HOURS = 26
    make_backup(hours_old=30)
    make_backup(hours_old=27)
    status, problems, files = healthz(client)
    assert (status, problems) == (503, ["backup older than 26 h"])
    assert files["backup"]["age_hours"] == 27.0

    make_backup(hours_old=0)
    assert healthz(client)[:2] == (200, [])


def test_a_fresh_install_without_a_backup_is_ok_until_the_first_backup_is_overdue(client, settings):
    settings.HEALTH_BACKUP_MAX_AGE_HOURS = 26
    assert healthz(client)[:2] == (200, [])
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=27)):
        assert healthz(client)[:2] == (503, ["no backup yet, 26 h after install"])


def test_healthz_fails_when_free_disk_is_under_the_limit_and_recovers_when_there_is_room(client, settings, data_dir):
    free_mb = shutil.disk_usage(data_dir).free / 1024 / 1024
    settings.HEALTH_DISK_FREE_MIN_MB = round(free_mb) + 100_000
    status, problems, files = healthz(client)
    assert (status, problems) == (503, [f"free disk under {settings.HEALTH_DISK_FREE_MIN_MB} MB"])
    assert files["disk_free_mb"] == pytest.approx(free_mb, abs=500)

    settings.HEALTH_DISK_FREE_MIN_MB = 1
    assert healthz(client)[:2] == (200, [])


@sqlite_only
def test_healthz_fails_while_a_wal_is_over_the_limit_and_recovers_once_it_checkpoints(client, settings, queue_file):
    settings.HEALTH_WAL_MAX_MB = 1
    writer = sqlite3.connect(queue_file, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE blobs (data BLOB)")
    reader = sqlite3.connect(queue_file, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM blobs").fetchone()  # holds its snapshot: no checkpoint past it
    for _ in range(30):
        writer.execute("INSERT INTO blobs VALUES (zeroblob(100000))")
    wal_mb = (queue_file.parent / "huey.sqlite3-wal").stat().st_size / 1024 / 1024
    assert wal_mb > 2

    status, problems, files = healthz(client)
    assert (status, problems) == (503, [f"huey.sqlite3's WAL is {wal_mb:.1f} MB, over 1 MB"])
    assert files["sqlite_files"]["huey.sqlite3"]["wal_mb"] == round(wal_mb, 1)

    reader.close()
    writer.close()  # the last connection checkpoints and removes the WAL
    status, problems, files = healthz(client)
    assert (status, problems) == (200, [])
    assert files["sqlite_files"]["huey.sqlite3"]["wal_mb"] == 0.0


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's figures")
def test_on_postgresql_it_reports_the_database_size_and_connections_and_no_sqlite_files(client):
    files = healthz(client)[2]
    assert files["postgres"]["database_mb"] > 0 and files["postgres"]["connections"] >= 1
    assert files["sqlite_files"] == {}


def test_ops_shows_the_files_section_with_its_problems(client, settings):
    client.force_login(make_user(staff=True))
    make_backup(hours_old=30)
    page = client.get("/ops/?panel=1").content.decode()
    assert '<section id="files">' in page
    assert "backup older than 26 h" in page
    assert "30.0 h old (verified when made)" in page


class TestWhatTheAnonymousAreTold:
    """A load balancer needs the status and what fails; the figures are for staff and the
    metrics' callers (issue 29)."""

    def test_a_caller_from_elsewhere_gets_the_status_and_the_failing_checks_names_only(self, settings):
        settings.HEALTH_DISK_FREE_MIN_MB = 10**12  # more than any disk: the files' check fails
        response = Client(REMOTE_ADDR="203.0.113.5").get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "fail", "failing": ["files"]}

    def test_staff_and_the_metrics_networks_and_token_get_every_figure(self, settings):
        settings.METRICS_TOKEN = "s3cret"
        staff = Client(REMOTE_ADDR="203.0.113.5")
        staff.force_login(make_user("root", staff=True))
        callers = [
            Client(),  # this machine: in METRICS_ALLOWED_NETWORKS by default
            staff,
            Client(REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer s3cret"),
        ]
        for caller in callers:
            body = caller.get("/healthz").json()
            assert body["status"] == "ok" and "disk_free_mb" in body["checks"]["files"] and body["problems"] == []
        person = Client(REMOTE_ADDR="203.0.113.5")
        person.force_login(make_user("bob"))
        assert person.get("/healthz").json() == {"status": "ok", "failing": []}
