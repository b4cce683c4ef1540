"""Screen freshly generated pairs before they are stored: length, copies, round trip.

Runs in ``synthetic_queries`` on the pairs of the chunks generated in this run. Each pair
gets one verdict: ``kept`` or the first filter that dropped it. The copy check reads the
exact chunk text (what evaluation scores against), not the stored positive, and is the
stricter ``filters.copy_check`` for pairs of validation and test documents. The per-strategy
table (generated, kept, dropped by reason, copy rates) is what the asset reports, and what
``embedloop preview-queries`` prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from embedloop.config import FilterSettings, SplitSettings
from embedloop.models import Encoder
from embedloop.pairs.filters import copy_kind, copy_mode, copy_overlap, normalize_query
from embedloop.pairs.roundtrip import round_trip
from embedloop.warehouse import EMBEDDING_CACHE

REASONS = ("length", "copy_verbatim", "copy_content_words", "round_trip")


@dataclass
class Screened:
    kept: pd.DataFrame  # the input rows that passed, same columns
    # One row per input pair: pair_id, strategy, query, verdict ("kept" or a REASON),
    # copy ("verbatim", "content_words" or None, whatever the verdict) and rank (round trip
    # rank of the positive, -1 where not scored).
    verdicts: pd.DataFrame
    cache: pd.DataFrame  # embedding cache rows the round trip used (empty when it did not run)
    encoded: int = 0

    def strategy_table(self) -> list[dict[str, object]]:
        """Per strategy: generated, kept, dropped by reason, verbatim and copy rates."""
        rows = []
        for strategy, part in self.verdicts.groupby("strategy", sort=True):
            counts = part["verdict"].value_counts()
            n = len(part)
            rows.append(
                {
                    "strategy": strategy,
                    "generated": n,
                    "kept": int(counts.get("kept", 0)),
                    **{f"dropped_{r}": int(counts.get(r, 0)) for r in REASONS},
                    "verbatim_rate": round(float((part["copy"] == "verbatim").mean()), 3),
                    "copy_rate": round(float(part["copy"].notna().mean()), 3),
                }
            )
        return rows


def strategy_of(model: str) -> str:
    return model.removeprefix("offline:")


def screen_pairs(
    pairs: pd.DataFrame,
    chunks: pd.DataFrame,
    settings: FilterSettings,
    encoder: Callable[[], Encoder] | None,
    cache: pd.DataFrame,
    splits: SplitSettings | None = None,
) -> Screened:
    """Verdicts for ``pairs`` (pair_id, chunk_id, query, model, optionally doc_id);
    ``encoder`` loads the fixed base model, only if some pair reaches the round trip (None:
    no round trip). Without ``splits`` or doc_id every pair gets ``copy_check``."""
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    missing = sorted(set(pairs["chunk_id"]) - text.keys())
    if missing:
        raise ValueError(f"pairs refer to chunks that do not exist: {', '.join(missing[:5])}")
    copies = [copy_kind(q, text[c]) for q, c in zip(pairs["query"], pairs["chunk_id"], strict=True)]
    docs = pairs["doc_id"] if "doc_id" in pairs else [None] * len(pairs)
    modes = [copy_mode(d, settings, splits) for d in docs]
    verdict = np.array(
        [
            _cheap_verdict(q, text[c], kind, mode, settings)
            for q, c, kind, mode in zip(
                pairs["query"], pairs["chunk_id"], copies, modes, strict=True
            )
        ],
        dtype=object,
    )
    rank = np.full(len(pairs), -1, dtype=np.int64)
    cache_rows = pd.DataFrame(columns=EMBEDDING_CACHE.columns)
    encoded = 0
    reach = np.flatnonzero(verdict == "kept")
    if settings.round_trip_top_k is not None and encoder is not None and len(reach):
        trip = round_trip(
            encoder(),
            pairs.iloc[reach],
            chunks,
            cache,
            settings.round_trip_top_k,
            settings.round_trip_margin,
        )
        rank[reach] = trip.rank
        verdict[reach[~trip.keep]] = "round_trip"
        cache_rows, encoded = trip.cache, trip.encoded
    verdicts = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"].to_numpy(),
            "strategy": [strategy_of(m) for m in pairs["model"]],
            "query": pairs["query"].to_numpy(),
            "verdict": verdict,
            "copy": copies,
            "rank": rank,
        }
    )
    kept = pairs[verdict == "kept"].reset_index(drop=True)
    return Screened(kept=kept, verdicts=verdicts, cache=cache_rows, encoded=encoded)


def _cheap_verdict(
    query: str, text: str, kind: str | None, mode: str, settings: FilterSettings
) -> str:
    n_words = len(normalize_query(query).split())
    if not settings.min_query_words <= n_words <= settings.max_query_words:
        return "length"
    if kind == "verbatim" or copy_overlap(query, text) > settings.max_copy_overlap:
        return "copy_verbatim"
    if kind == "content_words" and mode == "content_words":
        return "copy_content_words"
    return "kept"


def merge_cache(previous: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """``previous`` with ``fresh`` rows added (fresh wins on the same key, text and model)."""
    if fresh.empty:
        return previous
    frames = [f for f in (fresh, previous) if not f.empty]
    merged = pd.concat(frames, ignore_index=True)
    return merged.drop_duplicates(["key", "text_hash", "model_key"], keep="first")[
        EMBEDDING_CACHE.columns
    ].reset_index(drop=True)
