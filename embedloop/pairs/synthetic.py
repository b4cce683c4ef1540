"""The ``synthetic_queries`` step without Dagster: generate what is new, screen it, report.

The asset reads and writes the tables; this module decides. Screening uses the fixed base
model for the round trip and reuses (and extends) the warehouse's embedding cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from embedloop.config import FilterSettings, Settings, SplitSettings
from embedloop.models import Encoder
from embedloop.pairs.generation import ChunkForGeneration, GenerationReport, generate_pairs
from embedloop.pairs.incremental import SyntheticRefresh, refresh_synthetic
from embedloop.pairs.roundtrip import base_encoder
from embedloop.pairs.screen import Screened, merge_cache, screen_pairs


@dataclass
class SyntheticStep:
    refresh: SyntheticRefresh
    cache: pd.DataFrame  # the embedding cache to write back (unchanged if nothing was encoded)


def screen_key(filters: FilterSettings, splits: SplitSettings) -> str:
    """The screening settings that change which generated pairs are stored (the split
    settings decide which copy check a pair gets)."""
    keys = ["min_query_words", "max_query_words", "max_copy_overlap", "copy_check"]
    keys += ["copy_check_train"]
    keys += ["round_trip_top_k", "round_trip_margin"]
    payload: dict[str, object] = {k: getattr(filters, k) for k in keys}
    payload["splits"] = splits.model_dump(include={"seed", "validation", "test"})
    return json.dumps(payload, sort_keys=True)


def run_synthetic(
    settings: Settings,
    chunks: pd.DataFrame,
    titles: dict[str, str],
    previous_queries: pd.DataFrame,
    previous_log: pd.DataFrame,
    cache: pd.DataFrame,
    now: datetime,
    api_key: str | None = None,
) -> SyntheticStep:
    """Generate pairs for new or changed chunks, screen them, return the tables to write."""
    loaded: list[Encoder] = []
    screened_cache: list[pd.DataFrame] = []

    def encoder() -> Encoder:  # loaded only if some pair reaches the round trip
        if not loaded:
            loaded.append(base_encoder(settings))
        return loaded[0]

    def generate(batch: Sequence[ChunkForGeneration]) -> GenerationReport:
        return generate_pairs(batch, settings.synthetic, settings.cache_dir, api_key=api_key)

    def screen(pairs: pd.DataFrame, all_chunks: pd.DataFrame) -> Screened:
        result = screen_pairs(pairs, all_chunks, settings.filters, encoder, cache, settings.splits)
        screened_cache.append(result.cache)
        return result

    refresh = refresh_synthetic(
        chunks,
        titles,
        previous_queries,
        previous_log,
        settings.synthetic,
        generate=generate,
        now=now,
        screen=screen,
        screen_key=screen_key(settings.filters, settings.splits),
    )
    merged = merge_cache(cache, screened_cache[0]) if screened_cache else cache
    return SyntheticStep(refresh=refresh, cache=merged)


def screening_metadata(
    screened: Screened | None,
) -> tuple[list[dict[str, object]], dict[str, int | float]]:
    """The per-strategy table of this run's fresh pairs, and overall counts and rates."""
    if screened is None or screened.verdicts.empty:
        return [], {"generated": 0, "kept": 0, "copy_rate": 0.0, "verbatim_rate": 0.0}
    v = screened.verdicts
    return screened.strategy_table(), {
        "generated": len(v),
        "kept": int((v["verdict"] == "kept").sum()),
        "copy_rate": round(float(v["copy"].notna().mean()), 4),
        "verbatim_rate": round(float((v["copy"] == "verbatim").mean()), 4),
        "texts_encoded_round_trip": screened.encoded,
    }
