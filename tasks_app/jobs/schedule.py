"""Crontabs read in the team's time zone.

Huey's scheduler runs with utc=True and hands periodic jobs naive UTC times, so a plain
`crontab(hour="8")` means 08:00 UTC. `local_crontab` means 08:00 in settings.TIME_ZONE,
daylight saving included.
"""

import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from huey import crontab


def local_crontab(minute="*", hour="*", day="*", month="*", day_of_week="*"):
    matches = crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)

    def validate(utc_timestamp: datetime.datetime) -> bool:
        aware = utc_timestamp.replace(tzinfo=datetime.UTC).astimezone(ZoneInfo(settings.TIME_ZONE))
        return matches(aware.replace(tzinfo=None))

    return validate
