"""source_change_sensor: notice changed documentation, then materialize only what is stale.

Every tick fingerprints each source cheaply (``embedloop.ingestion.fingerprint``: `git
ls-remote` for git, mtimes and sizes for local paths; nothing is cloned or read). When the
fingerprint differs from the data version last observed for ``documentation_sources``, the
sensor records a new observation in the instance, so ``source_documents`` turns stale.
Then it asks the instance which assets of the refresh scope (everything below training)
are stale (Dagster's stale status: a code version changed, or an input's data version
changed) and requests one run of those and what depends on them within the scope.

Assets report content-based data versions, so a change only travels as far as it really
changes data: a file that was touched but not edited re-ingests to the same version of
``source_documents`` and nothing below it turns stale. Training is not in the scope:
``argilla_feedback_sensor`` and people decide when to retrain.

No new run is requested while a refresh run is queued or running, and the run key names
the fingerprint and the stale set, so a failed refresh is not retried every tick with
nothing changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from assets.sources import DATA_VERSION_TAG, SOURCES_KEY, SourcesState, look_at_sources, observed
from embedloop.config import Settings
from orchestration.jobs import REFRESH_SCOPE, source_refresh_job
from orchestration.staleness import stale_keys

TRIGGER_TAG = "embedloop/trigger"
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


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


def refresh_selection(asset_graph: BaseAssetGraph, stale: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """The stale assets and everything below them, within the refresh scope."""
    if not stale:
        return set()
    below = dg.AssetSelection.assets(*stale).downstream() & REFRESH_SCOPE
    return set(below.resolve(asset_graph))


def build_source_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="source_change_sensor",
        job=source_refresh_job,
        minimum_interval_seconds=settings.automation.source_poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Fingerprints the documentation sources (git ls-remote, file mtimes) and "
        "materializes the stale assets below them, up to the review dataset.",
    )
    def source_change_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        if context.instance.get_run_records(
            dg.RunsFilter(job_name=source_refresh_job.name, statuses=_IN_FLIGHT), limit=1
        ):
            return dg.SensorResult(skip_reason="a refresh run is queued or running")
        state, changed = observe_sources(context.instance, settings)
        for problem in state.problems:
            context.log.warning(f"source not checked, kept as unchanged: {problem}")
        graph = context.repository_def.asset_graph  # type: ignore[union-attr]
        scope = REFRESH_SCOPE.resolve(graph)
        stale = stale_keys(context.instance, graph, scope)
        if not stale:
            why = "sources changed; nothing stale yet" if changed else "no source changed"
            return dg.SensorResult(skip_reason=f"{why}; no stale asset")
        selection = sorted(refresh_selection(graph, stale), key=lambda k: k.to_user_string())
        key = hashlib.sha256(
            json.dumps([state.version, [k.to_user_string() for k in selection]]).encode()
        ).hexdigest()[:16]
        request = dg.RunRequest(
            run_key=f"sources:{key}:{_latest_storage_id(context.instance, graph, stale)}",
            asset_selection=selection,
            tags={
                TRIGGER_TAG: "source_change",
                "embedloop/stale": ",".join(sorted(k.to_user_string() for k in stale))[:1000],
            },
        )
        return dg.SensorResult(run_requests=[request])

    return source_change_sensor


def _latest_storage_id(
    instance: dg.DagsterInstance, graph: BaseAssetGraph, stale: Iterable[dg.AssetKey]
) -> int:
    """Newest event of the stale assets and their inputs: anything new there is a new request
    (a failed refresh is not retried while nothing has changed)."""
    keys = {k for key in stale for k in (key, *graph.get(key).parent_keys)}
    newest = 0
    for record in instance.get_asset_records(sorted(keys, key=lambda k: k.to_user_string())):
        entry = record.asset_entry
        for event in (entry.last_materialization_record, entry.last_observation_record):
            if event is not None:
                newest = max(newest, event.storage_id)
    return newest
