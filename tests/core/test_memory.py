"""Peak memory per step (embedloop.memory) and its place in every asset's metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np

from embedloop.memory import MIB, measure, peak_rss_bytes, reset_peak, track_memory
from orchestration.definitions import ALL_ASSETS
from orchestration.resources import build_resources

MEMORY_KEYS = {"peak_rss_mb", "rss_delta_mb", "rss_start_mb", "run_peak_rss_mb", "step_s"}


def _allocate(mib: int) -> None:
    block = np.ones(mib * MIB // 8)  # touched, so resident
    del block


def test_measure_sees_a_block_allocation_and_resets_between_blocks() -> None:
    with measure() as big:
        _allocate(300)
    assert big.per_step
    assert big.delta >= 250 * MIB
    with measure() as small:
        _allocate(10)
    # The peak was reset: the earlier 300 MiB does not leak into this block's numbers.
    assert small.delta < 100 * MIB
    assert small.metadata()["run_peak_rss_mb"] >= big.peak_rss / MIB - 1


def test_reset_forgets_the_old_peak_but_the_process_peak_stays() -> None:
    _allocate(200)
    before = peak_rss_bytes()
    assert reset_peak()
    assert peak_rss_bytes() < before


def test_track_memory_adds_the_numbers_to_returned_and_yielded_results() -> None:
    @dg.asset(group_name="g", kinds={"python"})
    @track_memory
    def single() -> dg.MaterializeResult:
        _allocate(100)
        return dg.MaterializeResult(metadata={"rows": 3})

    @dg.multi_asset(specs=[dg.AssetSpec("b"), dg.AssetSpec("c")])
    @track_memory
    def several():
        yield dg.MaterializeResult(asset_key="b", metadata={"rows": 1})
        yield dg.MaterializeResult(asset_key="c")

    result = dg.materialize([single, several])
    meta = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    assert set(meta) == {"single", "b", "c"}
    for values in meta.values():
        assert set(values) >= MEMORY_KEYS
    assert meta["single"]["rows"] == 3 and meta["single"]["rss_delta_mb"] >= 80
    assert meta["b"]["rows"] == 1


def test_every_asset_of_the_code_location_reports_its_memory() -> None:
    untracked = [
        a.op.name
        for a in ALL_ASSETS
        if getattr(a.op.compute_fn, "decorated_fn", None) is None
        or not hasattr(a.op.compute_fn.decorated_fn, "__wrapped__")
    ]
    assert untracked == []


def test_real_assets_carry_memory_metadata(config_file: Path) -> None:
    from assets.ingestion import document_chunks, ingest_documents

    result = dg.materialize(
        [ingest_documents, document_chunks], resources=build_resources(config_file)
    )
    for event in result.get_asset_materialization_events():
        values = {k: v.value for k, v in event.materialization.metadata.items()}
        assert set(values) >= MEMORY_KEYS, event.asset_key
        assert values["peak_rss_mb"] >= values["rss_start_mb"] > 0


def test_cpu_training_bounds_activations_with_the_cached_loss() -> None:
    from embedloop.config import parse_settings
    from training.finetune import mini_batch_size, uses_cached_loss

    ts = parse_settings({}).training
    assert uses_cached_loss(ts, "cpu") and mini_batch_size(ts, "cpu") == 8
    assert not uses_cached_loss(ts, "cuda") and mini_batch_size(ts, "cuda") == 32
    # bf16 on short texts: larger mini-batches (faster there); long or unknown lengths keep 8.
    assert mini_batch_size(ts, "cpu", "bf16", 128) == 16 and uses_cached_loss(
        ts, "cpu", "bf16", 128
    )
    assert mini_batch_size(ts, "cpu", "bf16", 256) == mini_batch_size(ts, "cpu", "bf16") == 8
    assert mini_batch_size(ts, "cpu", "fp32", 128) == 8
    explicit = parse_settings({"training": {"cached_loss_above": 64, "mini_batch_size": 4}})
    assert not uses_cached_loss(explicit.training, "cpu")
    assert mini_batch_size(explicit.training, "cpu") == 4
