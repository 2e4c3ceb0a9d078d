"""The deploy kit (deploy/): what can be checked without a server.

The units run the commands this project has, stop gracefully within their timeout, run
unprivileged and hardened, and find every variable they need in the environment file; the
Caddyfile caps request bodies and proxies to gunicorn; the backup script dumps, checks and
rotates. `systemd-analyze verify` and `caddy validate` run when installed (`make system-deps`).
"""

import os
import re
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
APP = "/opt/tasks"  # where the units expect the checkout
ENV_FILE = "/etc/tasks/tasks.env"
UNITS = sorted(DEPLOY.glob("*.service")) + sorted(DEPLOY.glob("*.timer"))
SERVICES = [unit for unit in UNITS if unit.suffix == ".service"]
# Variables read outside settings.py: by dj-database-url (the lead's issue 9 work), ensure_admin.
OTHER_VARIABLES = {
    "DATABASE_URL",
    "HUEY_DATABASE_URL",
    "DJANGO_ADMIN_USERNAME",
    "DJANGO_ADMIN_EMAIL",
    "DJANGO_ADMIN_PASSWORD",
}


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values]}} (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}:{number}: keep each setting on one line"
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            assert current is not None and _, f"{path.name}:{number}: not a setting: {raw!r}"
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(path: Path) -> dict[str, list[str]]:
    return read_unit(path)["Service"]


def one(unit: dict[str, list[str]], key: str) -> str:
    values = unit.get(key, [])
    assert len(values) == 1, f"expected one {key}=, found {values}"
    return values[0]


def read_env_file() -> tuple[dict[str, str], set[str]]:
    """The example environment file: the values it sets, and every variable it names (set or commented out)."""
    values, named = {}, set()
    for line in (DEPLOY / "tasks.env.example").read_text().splitlines():
        match = re.match(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            named.add(match[2])
            if not match[1]:
                values[match[2]] = match[3]
    return values, named


def unit_environment(unit: dict[str, list[str]]) -> dict[str, str]:
    """Environment= then the environment file, in systemd's order (the file wins)."""
    environment = dict(item.split("=", 1) for value in unit.get("Environment", []) for item in shlex.split(value))
    return environment | read_env_file()[0]


def expand(command: str, environment: dict[str, str]) -> list[str]:
    """ExecStart= as systemd runs it: ${NAME} replaced, then split into words."""

    def value(match: re.Match) -> str:
        assert match[1] in environment, f"{match[1]} is used in {command!r} but set nowhere"
        return environment[match[1]]

    return shlex.split(re.sub(r"\$\{([A-Z_]+)\}", value, command))


def local(path: str) -> Path:
    assert path.startswith(APP + "/"), f"{path} is not in the checkout {APP}"
    return ROOT / path.removeprefix(APP + "/")


def test_the_kit_is_complete():
    names = {unit.name for unit in UNITS}
    assert {
        "tasks-web.service",
        "tasks-consumer.service",
        "tasks-consumer-files.service",
        "tasks-consumer-extra@.service",
    } <= names
    assert (DEPLOY / "tasks-manage").stat().st_mode & stat.S_IXUSR, "deploy/tasks-manage is not executable"


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_exec_start_runs_a_command_of_this_project(path):
    unit = service(path)
    argv = expand(one(unit, "ExecStart"), unit_environment(unit))
    program = local(argv[0])
    assert os.access(program, os.X_OK), f"{program} does not exist or is not executable"
    if program.name == "gunicorn":
        from gunicorn.config import Config

        # gunicorn's own parser: an option it does not know fails here.
        parsed = Config().parser().parse_args(argv[1:])
        assert parsed.args == ["site_config.wsgi"], parsed.args
        assert settings.WSGI_APPLICATION == "site_config.wsgi.application"
        assert parsed.bind == [settings_default_web_bind()]
    elif program.name == "python":
        assert argv[1] == "manage.py" and one(unit, "WorkingDirectory") == APP
        name, options = argv[2], argv[3:]
        commands = get_commands()
        assert name in commands, f"manage.py has no command {name!r}"
        # The command's own parser: an option it does not know exits (SystemExit).
        load_command_class(commands[name], name).create_parser("manage.py", name).parse_args(options)
    else:
        assert program.parent == DEPLOY, f"{program}: not a program the kit knows"


def settings_default_web_bind() -> str:
    # The Procfile's default (`${WEB_BIND:-127.0.0.1:8000}`): the unit and the Caddyfile agree with it.
    match = re.search(r"\$\{WEB_BIND:-([^}]+)\}", (ROOT / "Procfile").read_text())
    return match[1]


def consumers() -> list[Path]:
    return [path for path in SERVICES if "run_huey" in one(service(path), "ExecStart")]


def test_consumers_stop_gracefully_within_their_stop_timeout():
    assert [path.name for path in consumers()] == [
        "tasks-consumer-extra@.service",
        "tasks-consumer-files.service",
        "tasks-consumer.service",
    ]
    source = (ROOT / "site_config" / "settings.py").read_text()
    default = int(re.search(r'env_int\("HUEY_SHUTDOWN_TIMEOUT", (\d+)\)', source)[1])
    # ... or the value the example environment file sets, if it sets one.
    shutdown = max(default, int(read_env_file()[0].get("HUEY_SHUTDOWN_TIMEOUT", 0)))
    assert settings.HUEY["consumer"]["graceful_signal"] == "TERM"
    for path in consumers():
        unit = service(path)
        assert one(unit, "KillSignal") == "SIGTERM", path.name
        assert int(one(unit, "TimeoutStopSec")) > shutdown, f"{path.name}: SIGKILL before the graceful stop ends"


def test_web_server_stops_gracefully_within_its_stop_timeout():
    from gunicorn.config import Config

    unit = service(DEPLOY / "tasks-web.service")
    assert one(unit, "KillSignal") == "SIGTERM"
    assert int(one(unit, "TimeoutStopSec")) > Config().graceful_timeout


def test_only_one_consumer_runs_the_scheduler():
    with_scheduler = [path.name for path in consumers() if "--no-periodic" not in one(service(path), "ExecStart")]
    assert with_scheduler == ["tasks-consumer.service"]


def procfile_consumers() -> dict[str, str]:
    """The Procfile's run_huey processes: name -> command."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: command for name, _, command in (line.partition(": ") for line in lines) if "run_huey" in command}


def lanes_of(environment: str) -> set[str]:
    return set(re.search(r"HUEY_CONSUMER_LANES=([\w,]+)", environment)[1].split(","))


def test_make_run_and_the_units_split_the_lanes_alike_the_file_lanes_niced():
    """One consumer serves the file lanes at a lower CPU priority, the other every other lane and the scheduler."""
    procfile = procfile_consumers()
    assert sorted(procfile) == ["files", "worker"]
    assert lanes_of(procfile["worker"]) | lanes_of(procfile["files"]) == set(settings.HUEY_LANES)
    assert not lanes_of(procfile["worker"]) & lanes_of(procfile["files"])
    assert "nice -n 10" in procfile["files"] and "--no-periodic" in procfile["files"]
    assert "nice" not in procfile["worker"] and "--no-periodic" not in procfile["worker"]
    for name, path in [("worker", "tasks-consumer.service"), ("files", "tasks-consumer-files.service")]:
        unit = service(DEPLOY / path)
        assert lanes_of(" ".join(unit["Environment"])) == lanes_of(procfile[name]), path
    assert one(service(DEPLOY / "tasks-consumer-files.service"), "Nice") == "10"
    assert "Nice" not in service(DEPLOY / "tasks-consumer.service")


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_services_run_unprivileged_hardened_and_write_only_data_dir(path):
    unit = service(path)
    assert one(unit, "User") == "tasks" and one(unit, "Group") == "tasks"
    assert ENV_FILE in unit["EnvironmentFile"]
    if one(unit, "Type") != "oneshot":
        assert one(unit, "Restart") in {"always", "on-failure"}
    assert one(unit, "NoNewPrivileges") == "yes"
    assert one(unit, "ProtectSystem") == "strict"
    assert one(unit, "PrivateTmp") == "yes"
    assert one(unit, "ReadWritePaths") == read_env_file()[0]["DATA_DIR"] == "/var/lib/tasks"


def test_env_file_names_every_variable_and_sets_the_required_ones():
    values, named = read_env_file()
    source = (ROOT / "site_config" / "settings.py").read_text()
    in_settings = set(re.findall(r"env_(?:str|bool|int|float|list)\(\s*\"([A-Z_]+)\"", source))
    assert len(in_settings) > 30, "the pattern no longer finds the settings' variables"
    in_units = {
        name
        for path in SERVICES
        for command in service(path)["ExecStart"]
        for name in re.findall(r"\$\{(\w+)\}", command)
    }
    missing = (in_settings | OTHER_VARIABLES | in_units) - named
    assert not missing, f"deploy/tasks.env.example does not mention {sorted(missing)}"
    assert {"DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS"} <= set(values)
    assert values["DJANGO_SECURE_COOKIES"] == "1" and values["HUEY_IMMEDIATE"] == "0"
    assert "DJANGO_DEBUG" not in values


def caddy_body_limit(text: str) -> int:
    match = re.search(r"request_body\s*\{[^}]*\bmax_size\s+(\d+)(KB|MB|GB)\b", text)
    assert match, "the Caddyfile has no request_body { max_size ... } block"
    return int(match[1]) * {"KB": 10**3, "MB": 10**6, "GB": 10**9}[match[2]]


def test_caddyfile_caps_bodies_and_proxies_to_gunicorn():
    text = (DEPLOY / "Caddyfile").read_text()
    assert settings.IMPORT_MAX_BYTES < caddy_body_limit(text) <= 100 * 10**6
    proxies = re.findall(r"^\s*reverse_proxy\s+(\S+)", text, flags=re.MULTILINE)
    assert proxies == [settings_default_web_bind()]
    # gunicorn takes X-Forwarded-Proto (request.is_secure()) only from the proxy's address.
    from gunicorn.config import Config

    assert proxies[0].rsplit(":", 1)[0] in Config().forwarded_allow_ips
    assert "header_up -X-Forwarded" not in text


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed (make system-deps)")
def test_units_pass_systemd_analyze_verify(tmp_path):
    # verify checks that each command exists: point the units at this checkout instead of /opt/tasks.
    for unit in UNITS:
        name = unit.name.replace("@.", "@1.")  # a template is verified as an instance
        (tmp_path / name).write_text(unit.read_text().replace(APP, str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys and bad values are only warnings (exit 0): any line about our files fails too.
    ours = [line for line in (result.stdout + result.stderr).splitlines() if str(tmp_path) in line or "tasks-" in line]
    assert result.returncode == 0 and not ours, result.stdout + result.stderr


@pytest.mark.skipif(not shutil.which("caddy"), reason="caddy not installed (make system-deps)")
def test_caddyfile_passes_caddy_validate(tmp_path):
    caddyfile = str(DEPLOY / "Caddyfile")
    environment = os.environ | {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}

    def caddy(*args):
        command = ["caddy", *args, "--adapter", "caddyfile", "--config", caddyfile]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment, check=True)

    validated = caddy("validate")
    assert '"level":"warn"' not in validated.stderr, validated.stderr
    # What Caddy made of the file: a body limit in front of the proxy (a limit written in a form
    # Caddy accepts but ignores would be missing here).
    import json

    adapted = json.dumps(json.loads(caddy("adapt").stdout))
    assert f'"handler": "request_body", "max_size": {caddy_body_limit(Path(caddyfile).read_text())}' in adapted
    assert f'"dial": "{settings_default_web_bind()}"' in adapted


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="tasks-manage switches user: needs root")
def test_tasks_manage_runs_manage_py_with_the_env_file(tmp_path):
    # The example file as an operator fills it in, with DATA_DIR here: the settings accept it.
    data_dir = tmp_path / "data"
    env_file = tmp_path / "tasks.env"
    env_file.write_text(
        (DEPLOY / "tasks.env.example").read_text().replace("DATA_DIR=/var/lib/tasks", f"DATA_DIR={data_dir}")
    )
    environment = {"PATH": os.environ["PATH"], "TASKS_USER": "root", "TASKS_ENV_FILE": str(env_file)}
    result = subprocess.run(
        [str(DEPLOY / "tasks-manage"), "check"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert data_dir.is_dir(), "DATA_DIR from the environment file was not used"
