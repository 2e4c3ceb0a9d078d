"""The app's management commands (`commands/`), and how a person runs one here."""

from django.conf import settings


def command_line(arguments: str) -> str:
    """The line that runs `manage.py <arguments>` with the tool's own settings and data, as the
    tool's hints print it: `make manage ARGS="…"` in a checkout, `tasks-manage …` on a server
    set up with the deploy kit (MANAGE_COMMAND)."""
    if settings.MANAGE_COMMAND == "make":
        return f'make manage ARGS="{arguments}"'
    return f"{settings.MANAGE_COMMAND} {arguments}"
