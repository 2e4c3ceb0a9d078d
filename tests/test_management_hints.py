"""One way to run a management command with the tool's own settings and data, and the hints that name it."""

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import make_user
from tests.live_stack import ROOT


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("manage_command", "hint"),
    [("make", 'make manage ARGS="changepassword admin"'), ("tasks-manage", "tasks-manage changepassword admin")],
)
def test_the_admin_password_hint_names_the_way_to_run_a_command_here(settings, manage_command, hint):
    settings.MANAGE_COMMAND = manage_command
    make_user("admin", staff=True)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert f"forgotten? run: {hint}" in out.getvalue()


def _without_the_key(tmp_path) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    return {**env, "DJANGO_SETTINGS_MODULE": "site_config.settings", "DATA_DIR": str(tmp_path)}


def test_a_command_from_the_checkout_uses_the_key_make_run_generated(tmp_path):
    (tmp_path / "secret_key").write_text("a-generated-key-" + "x" * 50 + "\n")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=_without_the_key(tmp_path), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_without_any_key_the_error_names_the_file_make_run_writes(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=_without_the_key(tmp_path), capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"`make run` generates one for you in {tmp_path / 'secret_key'}" in result.stderr


def test_make_manage_runs_a_command_with_the_tools_settings_and_data(tmp_path):
    result = subprocess.run(
        ["make", "--no-print-directory", "manage", "ARGS=showmigrations tasks_app", f"DATA_DIR={tmp_path}"],
        cwd=ROOT,
        env=_without_the_key(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "[ ] 0001_initial" in result.stdout  # this DATA_DIR's database, not yet migrated
    assert (tmp_path / "secret_key").stat().st_size > 50
