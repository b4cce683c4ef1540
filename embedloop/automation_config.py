"""The ``automation`` section of ``embedloop.yaml``: when sources are refreshed.

A schedule re-ingests every source on ``refresh_cron`` (daily by default) and a sensor
looks every ``source_poll_interval_s`` for a cheap sign of change (a git ref that moved,
files changed under a local path) and then materializes only what is stale. Kept apart
from ``embedloop.config`` so that module stays readable; re-exported from it.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator, Field

from embedloop.source_config import Strict


def _cron(expression: str) -> str:
    if not croniter.is_valid(expression) or len(expression.split()) != 5:
        raise ValueError(f"{expression!r} is not a five-field cron expression (e.g. '0 3 * * *')")
    return expression


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. 'UTC')") from None
    return name


class AutomationSettings(Strict):
    refresh_cron: Annotated[str, AfterValidator(_cron)] = Field(
        default="0 3 * * *",
        description="When source_refresh_schedule re-ingests every source (cron, in timezone).",
    )
    timezone: Annotated[str, AfterValidator(_timezone)] = Field(
        default="UTC", description="IANA time zone of refresh_cron."
    )
    source_poll_interval_s: Annotated[int, Field(ge=30)] = Field(
        default=300,
        description="How often source_change_sensor fingerprints the sources (git ls-remote, "
        "file mtimes).",
    )
