"""Train / validation / test assignment by document, seeded and stable.

A document's split is a pure function of (seed, doc_id): adding or removing other
documents never moves it, and all of its chunks land in the same split. Documents of a
source listed in ``splits.test_sources`` are all test: held out whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pandas as pd

from embedloop.config import SplitSettings
from embedloop.pairs.filters import normalize_query

SPLITS = ("train", "validation", "test")


def split_of(doc_id: str, settings: SplitSettings) -> str:
    if settings.test_sources and doc_id.split(":", 1)[0] in settings.test_sources:
        return "test"
    digest = hashlib.sha256(f"{settings.seed}:{doc_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < settings.test:
        return "test"
    if u < settings.test + settings.validation:
        return "validation"
    return "train"


def assign_splits(pairs: pd.DataFrame, settings: SplitSettings) -> pd.DataFrame:
    return pairs.assign(split=pairs["doc_id"].map(lambda d: split_of(d, settings)))


def chunk_splits(chunks: pd.DataFrame, settings: SplitSettings) -> dict[str, str]:
    """chunk_id -> the split of the chunk's document."""
    return {
        cid: split_of(doc, settings)
        for cid, doc in zip(chunks["chunk_id"], chunks["doc_id"], strict=True)
    }


def leakage_report(
    pairs: pd.DataFrame, chunk_split: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per pair with the facts the leakage expectations look at.

    With ``chunk_split`` (see ``chunk_splits``) it also tells whether a train or validation
    pair took its negative from a test document.
    """
    splits_per_doc = pairs.groupby("doc_id")["split"].nunique()
    train_queries = set(pairs.loc[pairs["split"] == "train", "query"].map(normalize_query))
    is_test = pairs["split"] == "test"
    negative_chunks = pairs.get("negative_chunk_id", pd.Series(None, index=pairs.index))
    return pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "doc_splits": pairs["doc_id"].map(splits_per_doc).astype(int),
            "test_query_in_train": is_test
            & pairs["query"].map(normalize_query).isin(train_queries),
            "negative_is_positive": pairs["negative"].fillna("").str.strip()
            == pairs["positive"].str.strip(),
            "negative_from_test_document": ~is_test
            & negative_chunks.map(lambda c: (chunk_split or {}).get(c) == "test"),
        }
    )
