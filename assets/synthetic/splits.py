"""Train / validation / test assignment by document, seeded and stable.

A document's split is a pure function of (seed, doc_id): adding or removing other
documents never moves it, and all of its chunks land in the same split.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from assets.synthetic.filters import normalize_query
from orchestration.settings import SplitSettings

SPLITS = ("train", "validation", "test")


def split_of(doc_id: str, settings: SplitSettings) -> str:
    digest = hashlib.sha256(f"{settings.seed}:{doc_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < settings.test:
        return "test"
    if u < settings.test + settings.validation:
        return "validation"
    return "train"


def assign_splits(pairs: pd.DataFrame, settings: SplitSettings) -> pd.DataFrame:
    return pairs.assign(split=pairs["doc_id"].map(lambda d: split_of(d, settings)))


def leakage_report(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per pair with the facts the leakage expectations look at."""
    splits_per_doc = pairs.groupby("doc_id")["split"].nunique()
    train_queries = set(pairs.loc[pairs["split"] == "train", "query"].map(normalize_query))
    is_test = pairs["split"] == "test"
    return pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "doc_splits": pairs["doc_id"].map(splits_per_doc).astype(int),
            "test_query_in_train": is_test
            & pairs["query"].map(normalize_query).isin(train_queries),
            "negative_is_positive": pairs["negative"].fillna("").str.strip()
            == pairs["positive"].str.strip(),
        }
    )
