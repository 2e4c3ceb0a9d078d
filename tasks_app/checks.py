"""Checks of this app's settings that `manage.py check --deploy` runs."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def signup_is_limited(app_configs, **kwargs) -> list[Warning]:
    """A site that may face the internet lets strangers sign up only from the team's domains, if at all."""
    if settings.SIGNUP_ENABLED and not settings.SIGNUP_ALLOWED_DOMAINS:
        return [
            Warning(
                "Sign-up is open to any e-mail address.",
                hint="Set SIGNUP_ALLOWED_DOMAINS to your team's domain, or SIGNUP_ENABLED=0.",
                id="tasks_app.W001",
            )
        ]
    return []
