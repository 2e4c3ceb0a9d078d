"""A person's own settings: their time zone, kept in their session for the pages."""

import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from tasks_app.models import Profile

SESSION_KEY = "time_zone"  # the person's chosen zone ("" for none yet), read once per session


# Every zone a person may choose (IANA names, as the browser reports them).
TIME_ZONES = frozenset(zoneinfo.available_timezones())


@functools.cache
def time_zone_list() -> str:
    """The zones as the account page's <datalist id="time-zones">, made once a process."""
    options = format_html_join("", '<option value="{}">', ((zone,) for zone in sorted(TIME_ZONES)))
    return format_html('<datalist id="time-zones">{}</datalist>', options)


def chosen_time_zone(user) -> str:
    """`user`'s chosen zone, or "" (one query, unless `profile` was selected with the user)."""
    profile = getattr(user, "profile", None)  # a missing reverse one-to-one is an AttributeError
    return profile.time_zone if profile is not None else ""


def time_zone_of(user) -> str:
    """The zone `user`'s times are shown in: theirs, else the site's (TIME_ZONE)."""
    return chosen_time_zone(user) or settings.TIME_ZONE


def time_zone_set(user, zone: str) -> str:
    """Save `zone` as `user`'s; ValidationError for a name that is not a time zone."""
    if zone not in TIME_ZONES:
        raise ValidationError({"time_zone": f"“{zone[:64]}” is not a time zone (such as Europe/Berlin)."})
    Profile.objects.update_or_create(user=user, defaults={"time_zone": zone})
    user.__dict__.pop("profile", None)  # a cached row of before
    return zone
