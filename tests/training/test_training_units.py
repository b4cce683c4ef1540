"""Filters, splits and hard-negative mining on data built in the tests."""

import numpy as np
import pandas as pd

from embedloop.config import FilterSettings, HardNegativeSettings, SplitSettings
from embedloop.negatives import mine
from embedloop.pairs.filters import apply_filters, copy_mask, copy_overlap, duplicate_mask
from embedloop.splits import assign_splits, leakage_report, split_of
from quality.suites import validate_training_splits


def test_copy_overlap_measures_the_longest_verbatim_run() -> None:
    passage = "The artifact store keeps every artifact that a step produces."
    assert copy_overlap("artifact store keeps every artifact", passage) == 1.0
    assert copy_overlap("where are outputs kept", passage) == 0.0
    assert 0.4 < copy_overlap("store keeps every file forever", passage) < 0.7


def test_filters_drop_copies_short_long_and_duplicates() -> None:
    passage = "The artifact store keeps every artifact that a step produces."
    pairs = pd.DataFrame(
        {
            "pair_id": list("abcde"),
            "query": [
                "artifact store keeps every artifact that a step",  # copy
                "where are outputs kept",
                "Where are outputs kept?",  # duplicate after normalization
                "store",  # too short
                "artifact store",  # in the passage: a copy however short (the chunk text)
            ],
            "positive": [passage] * 5,
        }
    )
    settings = FilterSettings()
    kept, dropped = apply_filters(
        pairs,
        [
            ("length", lambda df: (df["query"].str.split().str.len() >= 2).to_numpy()),
            ("copies_passage", lambda df: copy_mask(df, settings)),
            ("duplicate_query", duplicate_mask),
        ],
    )
    assert list(kept["pair_id"]) == ["b"]
    assert dropped == {"length": 1, "copies_passage": 2, "duplicate_query": 1}


def test_splits_are_by_document_seeded_and_stable_when_documents_are_added() -> None:
    settings = SplitSettings(seed=1, validation=0.2, test=0.2)
    docs = [f"src:page{i}.md" for i in range(300)]
    before = {d: split_of(d, settings) for d in docs}
    counts = pd.Series(before).value_counts(normalize=True)
    assert 0.1 < counts["test"] < 0.3 and 0.1 < counts["validation"] < 0.3
    more = docs + [f"src:new{i}.md" for i in range(100)]
    assert all(split_of(d, settings) == before[d] for d in more[:300])
    assert {split_of(d, SplitSettings(seed=2)) for d in docs} != {before[d] for d in docs} or any(
        split_of(d, SplitSettings(seed=2)) != before[d] for d in docs
    )


def _pairs() -> pd.DataFrame:
    pairs = pd.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(6)],
            "doc_id": ["d1", "d1", "d2", "d3", "d4", "d5"],
            "chunk_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
            "query": [f"question number {i}" for i in range(6)],
            "positive": [f"passage {i}" for i in range(6)],
            "negative": [None, "other passage", None, None, None, None],
        }
    )
    return assign_splits(pairs, SplitSettings(seed=3))


def test_leakage_check_passes_clean_splits_and_fails_a_planted_leak() -> None:
    clean = _pairs()
    assert validate_training_splits(clean, max_queries_per_chunk=5).success

    leaked = clean.copy()
    leaked.loc[0, "split"] = "test"
    leaked.loc[1, "split"] = "train"  # document d1 now in two splits
    outcome = validate_training_splits(leaked, max_queries_per_chunk=5)
    assert not outcome.success
    assert any(f.column == "doc_splits" for f in outcome.failures)

    copied = clean.copy()
    test_row = copied.index[copied["split"] == "test"]
    train_row = copied.index[copied["split"] == "train"]
    if len(test_row) and len(train_row):
        copied.loc[test_row[0], "query"] = copied.loc[train_row[0], "query"].upper()
        report = leakage_report(copied)
        assert report["test_query_in_train"].any()
        assert not validate_training_splits(copied, 5).success

    same = clean.copy()
    same.loc[1, "negative"] = same.loc[1, "positive"]
    failures = validate_training_splits(same, 5).failures
    assert [f.column for f in failures] == ["negative_is_positive"]


def test_mining_excludes_positive_same_section_and_near_duplicates() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(1, 16))
    chunks = np.vstack(
        [
            base,  # 0: the positive
            base + 0.01 * rng.normal(size=(1, 16)),  # 1: near-duplicate of the positive
            base + 0.6 * rng.normal(size=(1, 16)),  # 2: same section as the positive
            base + 0.8 * rng.normal(size=(1, 16)),  # 3: a real hard negative
            rng.normal(size=(6, 16)),  # 4..9: unrelated
        ]
    )
    chunks /= np.linalg.norm(chunks, axis=1, keepdims=True)
    query = chunks[0:1] * 0.9 + 0.1 * chunks[3:4]
    query /= np.linalg.norm(query)
    sections = ["a", "b", "a", "c", "d", "e", "f", "g", "h", "i"]
    settings = HardNegativeSettings(num_negatives=1, range_max=9, relative_margin=0.95)
    result = mine(query, chunks, [0], sections, settings)
    assert [n.chunk_index for n in result.negatives] == [3]
    assert result.excluded_false_negatives == 1 and result.excluded_same_section == 1
    assert result.positive_rank[0] == 0
