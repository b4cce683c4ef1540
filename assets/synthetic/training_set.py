"""Assemble the training table: filter pairs, attach one hard negative, assign splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from assets.synthetic.filters import (
    apply_filters,
    copy_mask,
    duplicate_mask,
    length_mask,
    normalize_query,
)
from assets.synthetic.splits import SPLITS, assign_splits, split_of
from assets.warehouse import TRAINING_SPLITS
from orchestration.settings import Settings


@dataclass
class TrainingSet:
    pairs: pd.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)
    human_pairs: int = 0  # pairs written by reviewers (corrected queries)
    split_names: tuple[str, ...] = SPLITS

    def split_table(self) -> list[dict[str, object]]:
        rows = []
        for name in self.split_names:
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


def build_training_set(
    queries: pd.DataFrame,
    negatives: pd.DataFrame,
    retrieval: pd.DataFrame,
    chunks: pd.DataFrame,
    settings: Settings,
    feedback: pd.DataFrame | None = None,
) -> TrainingSet:
    """``feedback`` (table feedback_pairs) merges human review: pairs people rejected
    leave, and their corrected queries join as pairs of their own."""
    fs = settings.filters
    rank = dict(zip(retrieval["pair_id"], retrieval["positive_rank"], strict=True))
    filters = [
        ("length", lambda df: length_mask(df, fs)),
        ("copies_passage", lambda df: copy_mask(df, fs)),
        ("duplicate_query", duplicate_mask),
    ]
    if fs.round_trip_top_k is not None:
        k = fs.round_trip_top_k
        filters.append(
            ("round_trip", lambda df: df["pair_id"].map(lambda p: rank.get(p, k) < k).to_numpy())
        )
    kept, dropped = apply_filters(queries.sort_values("pair_id", ignore_index=True), filters)
    kept = kept.assign(origin=kept["pair_id"])
    human = 0
    if feedback is not None and len(feedback):
        rejected = set(feedback.loc[feedback["decision"] == "rejected", "pair_id"])
        dropped["human_rejected"] = int(kept["pair_id"].isin(rejected).sum())
        kept = kept[~kept["pair_id"].isin(rejected)]
        corrections = _corrected_pairs(feedback, kept, chunks)
        human = len(corrections)
        if human:
            # Row-wise: the corrections' all-null negative column would upset pd.concat.
            rows = kept.to_dict("records") + corrections.to_dict("records")
            kept = pd.DataFrame(rows, columns=kept.columns)
    kept = assign_splits(kept, settings.splits)
    kept = _attach_negative(kept, negatives, chunks, settings)
    kept = kept.sort_values("pair_id", ignore_index=True)
    return TrainingSet(
        pairs=kept[list(TRAINING_SPLITS)].reset_index(drop=True),
        dropped=dropped,
        human_pairs=human,
    )


def _corrected_pairs(
    feedback: pd.DataFrame, kept: pd.DataFrame, chunks: pd.DataFrame
) -> pd.DataFrame:
    """A pair per corrected query whose chunk still exists, unless the chunk already has
    that query. Its negatives are the reviewed pair's (same passage)."""
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    doc = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
    existing = set(zip(kept["chunk_id"], kept["query"].map(normalize_query), strict=True))
    rows = []
    for row in feedback[feedback["corrected_query"].notna()].itertuples():
        query = str(row.corrected_query).strip()
        key = (row.chunk_id, normalize_query(query))
        if row.chunk_id not in text or not query or key in existing:
            continue
        existing.add(key)
        digest = hashlib.sha256(f"{row.pair_id}\x1f{query}".encode()).hexdigest()[:24]
        rows.append(
            {
                "pair_id": f"human-{digest}",
                "chunk_id": row.chunk_id,
                "doc_id": doc[row.chunk_id],
                "query": query,
                "positive": text[row.chunk_id],
                "negative": None,
                "generator": "human",
                "model": "argilla",
                "origin": row.pair_id,
            }
        )
    return pd.DataFrame(rows, columns=[*kept.columns])


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
    for origin, split in zip(pairs["origin"], pairs["split"], strict=True):
        allowed = [
            c for c in options.get(origin, []) if split == "test" or chunk_split.get(c) != "test"
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
