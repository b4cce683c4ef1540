"""Candidate pairs: the generated pairs that pass the filters, each with its split and its
best hard negative, before any human review.

Built once per cycle (asset ``candidate_pairs``): reviewers see these pairs in Argilla, and
``training_set.merge_feedback`` turns them into the training table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from embedloop.config import Settings
from embedloop.pairs.filters import apply_filters, copy_mask, duplicate_mask, length_mask
from embedloop.splits import SPLITS, assign_splits, split_of
from embedloop.warehouse import CANDIDATE_PAIRS


@dataclass
class PairSet:
    """Pairs with a ``split`` column (schema of candidate_pairs and training_splits)."""

    pairs: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)  # filter name -> pairs removed

    def split_table(self) -> list[dict[str, object]]:
        rows = []
        for name in SPLITS:
            part = self.pairs[self.pairs["split"] == name]
            rows.append(
                {
                    "split": name,
                    "pairs": len(part),
                    "documents": part["doc_id"].nunique(),
                    "chunks": part["chunk_id"].nunique(),
                    "with_negative": int(part["negative"].notna().sum()),
                }
            )
        return rows


def build_candidates(
    queries: pd.DataFrame,
    negatives: pd.DataFrame,
    retrieval: pd.DataFrame,
    chunks: pd.DataFrame,
    settings: Settings,
) -> PairSet:
    """Filter the generated pairs, split them by document and attach one hard negative."""
    fs = settings.filters
    # The round trip (filters.round_trip_top_k) ran in synthetic_queries with the fixed base
    # model; ranks by the production model (``retrieval``) would drift with each promotion.
    filters = [
        ("length", lambda df: length_mask(df, fs)),
        ("copies_passage", lambda df: copy_mask(df, fs, settings.splits)),
        ("duplicate_query", duplicate_mask),
    ]
    kept, dropped = apply_filters(queries.sort_values("pair_id", ignore_index=True), filters)
    kept = assign_splits(kept, settings.splits)
    kept = _attach_negative(kept, negatives, chunks, settings)
    kept = kept.sort_values("pair_id", ignore_index=True)
    return PairSet(pairs=kept[CANDIDATE_PAIRS.columns].reset_index(drop=True), dropped=dropped)


def _attach_negative(
    pairs: pd.DataFrame, negatives: pd.DataFrame, chunks: pd.DataFrame, settings: Settings
) -> pd.DataFrame:
    """Best-ranked mined negative per pair; the LLM's own negative when none was mined.

    Training pairs never take a negative from a test-split document: test passages must stay
    unseen until the final evaluation.
    """
    chunk_split = {
        cid: split_of(doc, settings.splits)
        for cid, doc in zip(chunks["chunk_id"], chunks["doc_id"], strict=True)
    }
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    candidates = negatives.sort_values(["pair_id", "rank"]).groupby("pair_id")["negative_chunk_id"]
    options = candidates.apply(list).to_dict()

    mined_ids: list[str | None] = []
    for pair_id, split in zip(pairs["pair_id"], pairs["split"], strict=True):
        allowed = [
            c for c in options.get(pair_id, []) if split == "test" or chunk_split.get(c) != "test"
        ]
        mined_ids.append(allowed[0] if allowed else None)
    mined_text = [text.get(c) if c else None for c in mined_ids]
    return pairs.assign(
        negative_chunk_id=mined_ids,
        negative=[
            m if m is not None else llm
            for m, llm in zip(mined_text, pairs["negative"], strict=True)
        ],
    )
