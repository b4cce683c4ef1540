"""Filters that drop bad synthetic pairs before they reach a split.

Each filter returns a keep-mask so the asset can report how many pairs each one removed.
The copy check compares a query with its positive, which is the exact chunk text that
evaluation scores against: a query is a copy when its words occur there verbatim (in order,
whitespace and case normalized) or, with ``content_words``, when every content word of it
does. Evaluation pairs (validation and test documents) get ``filters.copy_check`` (default
``content_words``: the proxy must not measure lexical overlap), training pairs
``filters.copy_check_train`` (default ``verbatim``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from embedloop.config import FilterSettings, SplitSettings
from embedloop.pairs.terms import contains_passage, content_words, stem, words


def normalize_query(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def copy_kind(query: str, passage: str) -> str | None:
    """``"verbatim"`` when the query occurs in the passage word for word, ``"content_words"``
    when each of its content words does (or it has none), else ``None``."""
    if contains_passage(passage, query):
        return "verbatim"
    have = {stem(w) for w in words(passage)}
    if all(w in have for w in content_words(query)):
        return "content_words"
    return None


def copy_mode(doc_id: str | None, settings: FilterSettings, splits: SplitSettings | None) -> str:
    """The copy check for a pair of ``doc_id``: ``copy_check`` unless it is a training pair."""
    from embedloop.splits import split_of

    if doc_id is not None and splits is not None and split_of(doc_id, splits) == "train":
        return settings.copy_check_train
    return settings.copy_check


def is_copy(query: str, passage: str, settings: FilterSettings, mode: str | None = None) -> bool:
    kind = copy_kind(query, passage)
    if kind == "verbatim" or (kind == "content_words" and (mode or settings.copy_check) == kind):
        return True
    return copy_overlap(query, passage) > settings.max_copy_overlap


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


def copy_mask(
    pairs: pd.DataFrame, settings: FilterSettings, splits: SplitSettings | None = None
) -> np.ndarray:
    """Keep pairs whose query does not copy its positive (the exact chunk text); with
    ``splits`` and a ``doc_id`` column, training pairs get ``copy_check_train``."""
    docs = pairs["doc_id"] if splits is not None and "doc_id" in pairs else [None] * len(pairs)
    return np.array(
        [
            not is_copy(q, p, settings, copy_mode(d, settings, splits))
            for q, p, d in zip(pairs["query"], pairs["positive"], docs, strict=True)
        ],
        dtype=bool,
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
