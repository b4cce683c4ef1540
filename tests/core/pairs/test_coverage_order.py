"""The order a time-bounded generator reaches chunks in: new first, documents take turns."""

from __future__ import annotations

import pandas as pd

from embedloop.pairs.incremental import coverage_order


def _chunks(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"chunk_id": c, "doc_id": d, "position": p, "chunk_hash": f"h-{c}"} for c, d, p in rows]
    )


def test_documents_take_turns_in_position_order() -> None:
    pending = _chunks(
        [
            ("b2", "b", 2),
            ("a1", "a", 1),
            ("a0", "a", 0),
            ("a2", "a", 2),
            ("b0", "b", 0),
            ("c0", "c", 0),
        ]
    )
    order = list(coverage_order(pending, set())["chunk_id"])
    assert order == ["a0", "b0", "c0", "a1", "b2", "a2"]


def test_new_and_changed_chunks_come_before_chunks_already_served_offline() -> None:
    pending = _chunks([("a0", "a", 0), ("a1", "a", 1), ("b0", "b", 0), ("b1", "b", 1)])
    served = {("a0", "h-a0"), ("b0", "h-b0")}
    order = list(coverage_order(pending, served)["chunk_id"])
    assert order == ["a1", "b1", "a0", "b0"]


def test_a_changed_chunk_is_new_even_if_its_old_text_was_served() -> None:
    pending = _chunks([("a0", "a", 0), ("a1", "a", 1)])
    order = list(coverage_order(pending, {("a0", "old-hash")})["chunk_id"])
    assert order == ["a0", "a1"]


def test_turns_count_within_each_group() -> None:
    # b's first new chunk is its second chunk: it still takes the first turn among new ones.
    pending = _chunks([("a0", "a", 0), ("a1", "a", 1), ("b0", "b", 0), ("b1", "b", 1)])
    order = list(coverage_order(pending, {("b0", "h-b0")})["chunk_id"])
    assert order == ["a0", "b1", "a1", "b0"]
