"""Filters that drop bad synthetic pairs before they reach a split.

Each filter returns a keep-mask so the asset can report how many pairs each one removed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from embedloop.config import FilterSettings

# A copy check on two- or three-word queries would drop every keyword query ("artifact
# store") whose words the passage naturally uses; copying needs some length to be copying.
MIN_WORDS_FOR_COPY_CHECK = 4


def normalize_query(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def copy_overlap(query: str, passage: str) -> float:
    """Longest run of the query's words found verbatim in the passage, as a share of them."""
    q = normalize_query(query).split()
    if not q:
        return 1.0
    p = normalize_query(passage).split()
    # Classic longest-common-substring DP over words; passages are at most a few hundred words.
    best = 0
    prev = [0] * (len(p) + 1)
    for qw in q:
        cur = [0] * (len(p) + 1)
        for j, pw in enumerate(p, start=1):
            if qw == pw:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best / len(q)


def length_mask(pairs: pd.DataFrame, settings: FilterSettings) -> np.ndarray:
    words = pairs["query"].map(lambda q: len(normalize_query(q).split()))
    return ((words >= settings.min_query_words) & (words <= settings.max_query_words)).to_numpy()


def copy_mask(pairs: pd.DataFrame, settings: FilterSettings) -> np.ndarray:
    def keeps(query: str, passage: str) -> bool:
        if len(normalize_query(query).split()) < MIN_WORDS_FOR_COPY_CHECK:
            return normalize_query(query) != normalize_query(passage)
        return copy_overlap(query, passage) <= settings.max_copy_overlap

    return np.array(
        [keeps(q, p) for q, p in zip(pairs["query"], pairs["positive"], strict=True)], dtype=bool
    )


def duplicate_mask(pairs: pd.DataFrame) -> np.ndarray:
    """Keep the first pair of each normalized query (pairs are sorted by pair_id)."""
    return (~pairs["query"].map(normalize_query).duplicated(keep="first")).to_numpy()


Filter = Callable[[pd.DataFrame], np.ndarray]


def apply_filters(
    pairs: pd.DataFrame, filters: list[tuple[str, Filter]]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply filters in order; each sees only what the previous ones kept."""
    dropped: dict[str, int] = {}
    for name, keep in filters:
        if pairs.empty:
            dropped[name] = 0
            continue
        mask = keep(pairs)
        dropped[name] = int((~mask).sum())
        pairs = pairs[mask].reset_index(drop=True)
    return pairs, dropped
