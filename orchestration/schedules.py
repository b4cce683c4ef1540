"""source_refresh_schedule: re-ingest every source on a fixed rhythm (daily by default).

The source sensor catches most changes within minutes, but only what its fingerprints can
see; the schedule is the safety net: it runs ``source_refresh_job`` whole (re-fetching git
remotes, re-hashing files, generating pairs only for new chunks, publishing only changed
records), so a missed change is picked up within a day. ``automation.refresh_cron`` and
``automation.timezone`` in ``embedloop.yaml`` set when.
"""

from __future__ import annotations

import dagster as dg

from embedloop.config import Settings
from orchestration.jobs import source_refresh_job


def build_refresh_schedule(settings: Settings) -> dg.ScheduleDefinition:
    auto = settings.automation
    return dg.ScheduleDefinition(
        name="source_refresh_schedule",
        job=source_refresh_job,
        cron_schedule=auto.refresh_cron,
        execution_timezone=auto.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={"embedloop/trigger": "schedule"},
        description=f"Refreshes every source and what it feeds ({auto.refresh_cron}, "
        f"{auto.timezone}); training is left to the feedback sensor.",
    )
