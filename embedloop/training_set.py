"""The training table: candidate pairs with human review merged in.

Pairs reviewers rejected leave; their corrected queries join as pairs of their own (generator
``human``), in their document's split, with the reviewed pair's hard negative.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from embedloop.candidates import PairSet
from embedloop.pairs.filters import normalize_query
from embedloop.warehouse import TRAINING_SPLITS


@dataclass
class TrainingSet(PairSet):
    human_pairs: int = 0  # pairs written by reviewers (corrected queries)


def merge_feedback(
    candidates: pd.DataFrame, feedback: pd.DataFrame, chunks: pd.DataFrame
) -> TrainingSet:
    """``candidates`` (table candidate_pairs) with ``feedback`` (table feedback_pairs)."""
    if feedback.empty:
        return TrainingSet(pairs=candidates[TRAINING_SPLITS.columns].reset_index(drop=True))
    rejected = set(feedback.loc[feedback["decision"] == "rejected", "pair_id"])
    is_rejected = candidates["pair_id"].isin(rejected)
    kept = candidates[~is_rejected]
    corrections = _corrected_pairs(feedback, kept, chunks)
    if len(corrections):
        # Row-wise: the corrections' all-null columns would upset pd.concat.
        rows = kept.to_dict("records") + corrections.to_dict("records")
        kept = pd.DataFrame(rows, columns=kept.columns)
    kept = kept.sort_values("pair_id", ignore_index=True)
    return TrainingSet(
        pairs=kept[TRAINING_SPLITS.columns],
        dropped={"human_rejected": int(is_rejected.sum())},
        human_pairs=len(corrections),
    )


def _corrected_pairs(
    feedback: pd.DataFrame, kept: pd.DataFrame, chunks: pd.DataFrame
) -> pd.DataFrame:
    """A pair per corrected query whose chunk still exists, unless the chunk already has
    that query. Split and negative are the reviewed pair's (same passage, same document)."""
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    doc = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
    reviewed = kept.set_index("pair_id")
    existing = set(zip(kept["chunk_id"], kept["query"].map(normalize_query), strict=True))
    rows = []
    for row in feedback[feedback["corrected_query"].notna()].itertuples():
        query = str(row.corrected_query).strip()
        key = (row.chunk_id, normalize_query(query))
        if row.chunk_id not in text or not query or key in existing:
            continue
        existing.add(key)
        origin = reviewed.loc[row.pair_id] if row.pair_id in reviewed.index else None
        digest = hashlib.sha256(f"{row.pair_id}\x1f{query}".encode()).hexdigest()[:24]
        rows.append(
            {
                "pair_id": f"human-{digest}",
                "split": origin["split"] if origin is not None else row.split,
                "chunk_id": row.chunk_id,
                "doc_id": doc[row.chunk_id],
                "query": query,
                "positive": text[row.chunk_id],
                "negative": origin["negative"] if origin is not None else None,
                "negative_chunk_id": origin["negative_chunk_id"] if origin is not None else None,
                "generator": "human",
                "model": "argilla",
            }
        )
    return pd.DataFrame(rows, columns=kept.columns)
