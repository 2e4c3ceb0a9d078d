"""The production environment of the deploy kit (deploy/tasks.env.example) and Django's deployment checks.

The example file starts HSTS short (an hour, this host only, no preload), as docs/security.md
advises, and its comments say what to raise the three to after a trial period. As shipped, the
deploy check raises those two HSTS warnings and nothing else; with the values the comments name,
it passes clean.
"""

import os
import re
import secrets
import subprocess
import sys

from tests.live_stack import ROOT
from tests.test_deploy_kit import DEPLOY, read_env_file

# The environment file of the deploy kit, as an operator fills it in.
AS_SHIPPED = {**read_env_file()[0], "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
# The same after the HSTS trial period: the values the file's comments say to raise to.
HSTS_AFTER_TRIAL = {
    "DJANGO_HSTS_SECONDS": "31536000",
    "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_HSTS_PRELOAD": "1",
}
PRODUCTION = {**AS_SHIPPED, **HSTS_AFTER_TRIAL}


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


def _issues(result: subprocess.CompletedProcess) -> set[str]:
    """The check ids (e.g. security.W005) the deploy check reported."""
    return set(re.findall(r"\(([a-z_]+\.[EW]\d+)\)", result.stdout + result.stderr))


def test_the_example_starts_hsts_short_and_names_the_values_to_raise_it_to():
    assert AS_SHIPPED["DJANGO_HSTS_SECONDS"] == "3600"
    assert AS_SHIPPED["DJANGO_HSTS_INCLUDE_SUBDOMAINS"] == "0"
    assert AS_SHIPPED["DJANGO_HSTS_PRELOAD"] == "0"
    text = (DEPLOY / "tasks.env.example").read_text()
    for name, value in HSTS_AFTER_TRIAL.items():
        assert re.search(rf"^#.*\b{name}={value}\b", text, flags=re.MULTILINE), f"no comment raising {name} to {value}"


def test_the_example_as_shipped_raises_only_the_short_hsts_warnings(tmp_path):
    result = _deploy_check(tmp_path, **AS_SHIPPED)
    assert result.returncode != 0
    assert _issues(result) == {"security.W005", "security.W021"}, result.stderr


def test_the_production_environment_after_the_hsts_trial_passes_the_deploy_check(tmp_path):
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
