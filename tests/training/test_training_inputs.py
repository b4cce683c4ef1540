"""Training and evaluation inputs built from training_splits rows (no models, no ZenML)."""

from __future__ import annotations

import pandas as pd
import pytest

from embedloop.metrics import matryoshka_dims
from training.data import data_snapshot, ir_inputs, train_datasets


def pairs(n: int, with_negative: int, split: str = "train") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(n)],
            "split": split,
            "chunk_id": [f"c{i}" for i in range(n)],
            "query": [f"question {i}" for i in range(n)],
            "positive": [f"passage {i}" for i in range(n)],
            "negative": [f"wrong {i}" if i < with_negative else None for i in range(n)],
        }
    )


def test_rows_with_negatives_train_as_triplets_and_the_rest_as_pairs() -> None:
    data = train_datasets(pairs(12, with_negative=8), use_hard_negatives=True, batch_size=4)
    assert {k: len(v) for k, v in data.items()} == {"triplets": 8, "pairs": 4}
    assert data["triplets"].column_names == ["anchor", "positive", "negative"]
    assert data["pairs"].column_names == ["anchor", "positive"]
    assert data["triplets"][0] == {
        "anchor": "question 0",
        "positive": "passage 0",
        "negative": "wrong 0",
    }


def test_too_few_negatives_or_negatives_disabled_train_pairs_only() -> None:
    for data in (
        train_datasets(pairs(12, with_negative=3), use_hard_negatives=True, batch_size=4),
        train_datasets(pairs(12, with_negative=12), use_hard_negatives=False, batch_size=4),
    ):
        assert data.column_names == ["anchor", "positive"] and len(data) == 12


def test_blank_negatives_do_not_count_and_all_triplets_need_no_pairs_dataset() -> None:
    frame = pairs(6, with_negative=6)
    frame.loc[5, "negative"] = "  "
    data = train_datasets(frame, use_hard_negatives=True, batch_size=2)
    assert {k: len(v) for k, v in data.items()} == {"triplets": 5, "pairs": 1}
    assert list(train_datasets(pairs(4, 4), True, 2)) == ["triplets"]


def test_an_empty_train_split_is_an_error() -> None:
    with pytest.raises(ValueError, match="train split is empty"):
        train_datasets(pairs(0, 0), use_hard_negatives=True, batch_size=4)


def test_ir_inputs_search_all_chunks_and_merge_identical_queries() -> None:
    test = pairs(3, 0, split="test")
    test.loc[1, "query"] = "question 0 "  # same question as row 0, other chunk
    corpus = pd.DataFrame({"chunk_id": ["c0", "c1", "c9"], "text": ["passage 0", "passage 1", "x"]})
    inputs = ir_inputs(test, corpus)
    assert len(inputs.queries) == 2
    merged = next(q for q, text in inputs.queries.items() if text == "question 0")
    assert inputs.relevant_docs[merged] == {"c0", "c1"}
    # c9 is a distractor no query asks for; c2 was missing and comes back with its passage.
    assert inputs.corpus == {"c0": "passage 0", "c1": "passage 1", "c9": "x", "c2": "passage 2"}
    assert inputs.restored_chunks == 1


def test_the_snapshot_hash_follows_pairs_splits_and_chunks_not_row_order() -> None:
    frame = pd.concat([pairs(4, 1), pairs(2, 0, split="test").assign(pair_id=["t0", "t1"])])
    corpus = pd.DataFrame({"chunk_id": ["c0", "c1"], "text": ["a", "b"]})
    snap = data_snapshot(frame, corpus)
    assert snap["rows"] == {
        "train": 4,
        "validation": 0,
        "test": 2,
        "chunks": 2,
        "train_with_negative": 1,
    }
    assert data_snapshot(frame.iloc[::-1], corpus.iloc[::-1])["hash"] == snap["hash"]
    moved = frame.assign(split=["validation", *frame["split"][1:]])
    assert data_snapshot(moved, corpus)["hash"] != snap["hash"]
    assert data_snapshot(frame, corpus.iloc[:1])["hash"] != snap["hash"]


def test_matryoshka_dims_always_include_the_native_dim_and_drop_larger_ones() -> None:
    assert matryoshka_dims([768, 256, 64], native_dim=384) == [384, 256, 64]
    assert matryoshka_dims([384, 128, 128], native_dim=384) == [384, 128]
    assert matryoshka_dims([], native_dim=384) == [384]
