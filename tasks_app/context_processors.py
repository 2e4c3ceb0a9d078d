from django.conf import settings
from django.http import HttpRequest

from tasks_app.services import people
from tasks_app.services.notifications import unread_count


def navigation(request: HttpRequest) -> dict:
    """What every page's header needs: the unread-notification count, whether sign-up is open,
    whether the person has a time zone yet (else the page saves the browser's)."""
    context = {"signup_enabled": settings.SIGNUP_ENABLED}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["unread_notifications"] = unread_count(user)
        context["time_zone_unset"] = not request.session.get(people.SESSION_KEY)
    return context
