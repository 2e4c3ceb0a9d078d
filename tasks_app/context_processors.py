from django.http import HttpRequest

from tasks_app.services.notifications import unread_count


def navigation(request: HttpRequest) -> dict:
    """The unread-notification count shown in every page's header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(user)}
