"""Lanes keep slow work from delaying urgent work: every job runs in one lane, and a consumer runs
at most a lane's limit of its jobs at once, so two big reports never hold every worker while a
password reset waits. The route table (job -> lane) and the limits are settings; this module
reads them. No Django import: Huey loads it while Django's apps are loading.
"""

from __future__ import annotations

import re

DEFAULT = "default"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class LaneError(ValueError):
    """A lane setting that cannot be used; the message says which and why."""


def parse_limits(text: str, *, setting: str, need_default: bool = True) -> dict[str, int]:
    """'default=2,emails=2,reports=1' -> {'default': 2, 'emails': 2, 'reports': 1}."""
    limits: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if not _NAME.match(name):
            raise LaneError(f"{setting}: {name!r} is not a lane name (lower-case letters, digits, _)")
        if name in limits:
            raise LaneError(f"{setting}: lane {name!r} is listed twice")
        try:
            limits[name] = int(value)
        except ValueError:
            raise LaneError(f"{setting}: the value of lane {name!r} must be a whole number; got {value!r}") from None
        if limits[name] < 1:
            raise LaneError(f"{setting}: the value of lane {name!r} must be at least 1; got {limits[name]}")
    if need_default and DEFAULT not in limits:
        raise LaneError(f"{setting}: the {DEFAULT!r} lane is missing (jobs without a route run there)")
    return limits


def check_names(names, limits: dict[str, int], *, setting: str) -> None:
    """Every lane named in `setting` must be one HUEY_LANES defines."""
    for lane in names:
        if lane not in limits:
            raise LaneError(f"{setting}: lane {lane!r} is not defined in HUEY_LANES ({', '.join(limits)})")


def lane_of(job_name: str, routes: dict[str, str]) -> str:
    return routes.get(job_name, DEFAULT)
