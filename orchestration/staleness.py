"""Dagster's own stale status, asked from code: which assets does the UI show as stale?

The sensor decides what to materialize with this, and the tests assert with it, so both
see exactly what a person sees in the asset graph. Dagster exposes the resolver only from
internal modules (``dagster._core``); they are imported here, in one place, so an upgrade
that moves them breaks one module.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

__all__ = ["StaleStatus", "stale_keys", "stale_resolver"]


def stale_resolver(
    instance: dg.DagsterInstance, asset_graph: BaseAssetGraph
) -> CachingStaleStatusResolver:
    """A resolver as of now: one per question, it caches what it has read."""
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=asset_graph,  # type: ignore[arg-type]
    )
    return CachingStaleStatusResolver(instance, asset_graph, loading_context=view)


def stale_keys(
    instance: dg.DagsterInstance, asset_graph: BaseAssetGraph, keys: Iterable[dg.AssetKey]
) -> set[dg.AssetKey]:
    """The keys whose status is STALE (not MISSING: never built is a person's call)."""
    resolver = stale_resolver(instance, asset_graph)
    return {k for k in keys if resolver.get_status(k) == StaleStatus.STALE}
