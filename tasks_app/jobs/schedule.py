"""Crontabs read in the team's time zone.

Huey's scheduler runs with utc=True and hands periodic jobs naive UTC times, so a plain
`crontab(hour="8")` means 08:00 UTC. `local_crontab` means 08:00 in settings.TIME_ZONE,
daylight saving included: when the clocks go back, a repeated local time fires only the first
time; when they go forward, a local time that does not exist that night does not fire.
"""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from huey import crontab


def local_crontab(minute="*", hour="*", day="*", month="*", day_of_week="*"):
    """Like Huey's `crontab`, read in settings.TIME_ZONE (looked up at each check)."""
    matches = crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)

    def validate(utc_timestamp: datetime.datetime) -> bool:
        local = utc_timestamp.replace(tzinfo=datetime.UTC).astimezone(ZoneInfo(settings.TIME_ZONE))
        return local.fold == 0 and matches(local.replace(tzinfo=None))

    return validate
