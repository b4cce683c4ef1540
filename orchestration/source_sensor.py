"""source_change_sensor: notice changed documentation, and say so to Dagster.

Every tick fingerprints each source cheaply (``embedloop.ingestion.fingerprint``: `git
ls-remote` for git, mtimes and sizes for local paths; nothing is cloned or read). When the
fingerprint differs from the data version last observed for ``documentation_sources``, the
sensor records a new observation in the instance, so ``source_documents`` turns stale.

The sensor requests no run itself: what the new data version makes Dagster rebuild is
declarative automation (``orchestration.source_automation``), evaluated by
``source_automation_sensor`` and visible per asset in the UI.
"""

from __future__ import annotations

import dagster as dg

from assets.sources import DATA_VERSION_TAG, SOURCES_KEY, SourcesState, look_at_sources, observed
from embedloop.config import Settings


def observe_sources(instance: dg.DagsterInstance, settings: Settings) -> tuple[SourcesState, bool]:
    """Fingerprint every source; record an observation in the instance when they changed.

    Returns the state and whether it changed since the last observation.
    """
    state = look_at_sources(instance, settings)
    last_version, _ = observed(instance)
    if state.version is None or state.version == last_version:
        return state, False
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=SOURCES_KEY,
            tags={DATA_VERSION_TAG: state.version},
            metadata=state.metadata(),
        )
    )
    return state, True


def build_source_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="source_change_sensor",
        minimum_interval_seconds=settings.automation.source_poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Fingerprints the documentation sources (git ls-remote, file mtimes) and "
        "records a new data version of documentation_sources when they changed; "
        "source_automation_sensor then requests what that makes stale.",
    )
    def source_change_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        state, changed = observe_sources(context.instance, settings)
        for problem in state.problems:
            context.log.warning(f"source not checked, kept as unchanged: {problem}")
        why = "sources changed: observed a new data version" if changed else "no source changed"
        return dg.SensorResult(skip_reason=why)

    return source_change_sensor
