"""The production environment of the deploy kit (deploy/tasks.env.example) passes Django's deployment checks."""

import os
import secrets
import subprocess
import sys

from tests.live_stack import ROOT
from tests.test_deploy_kit import read_env_file

# The environment file of the deploy kit, as an operator fills it in.
PRODUCTION = {**read_env_file()[0], "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}


def _deploy_check(tmp_path, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "site_config.settings", **env, "DATA_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_documented_production_environment_passes_the_deploy_check(tmp_path):
    result = _deploy_check(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_fails_without_hsts_and_the_ssl_redirect(tmp_path):
    """HSTS and the redirect are off unless asked: the check says so."""
    env = {**PRODUCTION, "DJANGO_SSL_REDIRECT": "0", "DJANGO_HSTS_SECONDS": "0"}
    result = _deploy_check(tmp_path, **env)
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


def test_the_deploy_check_warns_of_a_sign_up_open_to_any_address(tmp_path):
    result = _deploy_check(tmp_path, **{**PRODUCTION, "SIGNUP_ALLOWED_DOMAINS": ""})
    assert result.returncode != 0
    assert "tasks_app.W001" in result.stderr
    assert (
        _deploy_check(tmp_path, **{**PRODUCTION, "SIGNUP_ALLOWED_DOMAINS": "", "SIGNUP_ENABLED": "0"}).returncode == 0
    )
