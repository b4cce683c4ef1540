"""What the benchmarks share: run assets in-process and collect their numeric metadata."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.resources import build_resources

Metadata = dict[str, dict[str, float]]


def materialize(assets: Sequence[dg.AssetsDefinition], config: Path) -> tuple[float, Metadata]:
    """Wall time of one in-process run, and each asset's numeric metadata."""
    started = time.perf_counter()
    result = dg.materialize(assets, resources=build_resources(config))
    elapsed = time.perf_counter() - started
    meta: Metadata = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta[mat.asset_key.to_user_string()] = {
            k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float)
        }
    return elapsed, meta
