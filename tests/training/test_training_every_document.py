"""Once people's questions gate, every document trains but their questions never do (issue 20).

The tiny project of ``training_helpers``: pages 0-2 are test, 3-4 validation, 5-9 train;
three reviewed questions answer from test pages. With ``min_real_queries`` 3 they gate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from embedloop.config import Settings
from embedloop.evaluation.build import EvalTables, build_eval_sets
from embedloop.evaluation.holdout import question_leaks, withhold_questions
from embedloop.evaluation.sets import sets_from_table
from tests.helpers.training import HUMAN_QUERIES, tiny_tables, write_warehouse
from training.data import check_no_leak, gate_questions, training_frame

QUESTION = "How do I mount a disk image file?"


def _pairs(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pair_id": [f"p{i}" for i in range(len(rows))],
            "query": [q for q, _, _ in rows],
            "positive": [p for _, p, _ in rows],
            "negative": [n for _, _, n in rows],
            "split": "train",
        }
    )


def test_a_question_in_any_training_input_is_found_and_withheld() -> None:
    pairs = _pairs(
        [
            ("how do i mount a disk image file", "Use mount -o loop.", None),  # the question
            ("mount a loop device", "5.8 How do I mount a disk image file?\nUse -o loop.", None),
            (
                "loop devices",
                "Use losetup.",
                "The FAQ answers How do I mount a disk image file? in full",
            ),
            ("list block devices", "Run lsblk to see them all.", "Run fdisk -l."),
            ("image", "Our FAQ asks how do I mount a disk image file in chapter 5.", None),
        ]
    )
    leaks = question_leaks(pairs, [QUESTION, "Why?"])  # a two-word "question" matches nothing
    assert sorted(leaks) == [
        ("how do i mount a disk image file", "negative"),
        ("how do i mount a disk image file", "positive"),
        ("how do i mount a disk image file", "query"),
    ]
    held = withhold_questions(pairs, [QUESTION])
    assert question_leaks(held.pairs, [QUESTION]) == []
    # The query that asks it goes, the prose that quotes it goes; the heading line is cut,
    # so its answer still trains; the quoting negative is cleared, its pair kept.
    assert list(held.pairs["query"]) == [
        "mount a loop device",
        "loop devices",
        "list block devices",
    ]
    assert held.pairs["positive"][0] == "Use -o loop."
    assert pd.isna(held.pairs["negative"][1]) and held.pairs["negative"][2] == "Run fdisk -l."
    assert (held.dropped_query, held.dropped_passage) == (1, 1)
    assert (held.stripped_lines, held.cleared_negatives) == (1, 1)
    assert withhold_questions(pairs, []).pairs is pairs


def _warehouse(tmp_path: Path, min_real_queries: int) -> Settings:
    chunks, pairs = tiny_tables()
    settings = Settings.model_validate(
        {"data_dir": str(tmp_path), "training": {"min_real_queries": min_real_queries}}
    )
    # A generated test pair that copied a reviewer's question word for word.
    copied = pairs.iloc[0].to_dict() | {"pair_id": "pcopy", "query": HUMAN_QUERIES["query"][1]}
    write_warehouse(settings.warehouse_path, chunks, pd.concat([pairs, pd.DataFrame([copied])]))
    return settings


@pytest.mark.parametrize("min_real_queries", [3, 4])
def test_real_questions_that_gate_make_every_document_train_but_them(
    tmp_path: Path, min_real_queries: int
) -> None:
    settings = _warehouse(tmp_path, min_real_queries)
    import duckdb

    with duckdb.connect(str(settings.warehouse_path)) as conn:
        tables = EvalTables.read(conn)
    pairs = tables.pairs.sort_values("pair_id").reset_index(drop=True)
    # write_warehouse built the sets with the default settings (30): rebuild them here.
    sets = build_eval_sets(settings, tables)
    asked = {name: list(s.queries.values()) for name, s in sets.items() if name != "synthetic"}
    frame = training_frame(pairs, asked, settings.training.min_real_queries)
    gates = min_real_queries == 3  # three reviewed questions
    assert frame.every_document is gates
    trained = set(frame.pairs["split"])
    assert trained == ({"train", "test"} if gates else {"train"})
    assert frame.as_metadata()["trained_splits"] == sorted(trained)
    assert not (frame.validation["split"] != "validation").any()
    # The synthetic figure moves to validation once the test split trains.
    synthetic = sets["synthetic"].provenance
    assert set(synthetic["split"]) == {"validation" if gates else "test"}
    if gates:
        assert frame.withheld is not None and frame.withheld.dropped_query == 1
        assert "pcopy" not in set(frame.pairs["pair_id"])
        assert question_leaks(frame.pairs, asked["human"]) == []
        check_no_leak(sets, frame.pairs, frame.validation, min_real_queries)
        # Trained on the copy, the candidate is refused by the evaluation step.
        leaky = pd.concat([frame.pairs, pairs[pairs["pair_id"] == "pcopy"]])
        with pytest.raises(ValueError, match="1 gate question"):
            check_no_leak(sets, leaky, frame.validation, min_real_queries)
    else:
        # Before that point, a test document in training is what refuses a candidate.
        check_no_leak(sets, frame.pairs, frame.validation, min_real_queries)
        with pytest.raises(ValueError, match="document"):
            check_no_leak(sets, pairs, frame.validation, min_real_queries)


def test_the_training_step_reads_the_gate_questions_the_evaluation_sets_wrote(
    tmp_path: Path,
) -> None:
    settings = _warehouse(tmp_path, 3)
    asked = gate_questions(settings)
    assert sorted(asked["human"]) == sorted(HUMAN_QUERIES["query"])
    assert asked["questions"] == []
    import duckdb

    from embedloop.warehouse import EVALUATION_QUERIES, read_table

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        sets = sets_from_table(read_table(conn, EVALUATION_QUERIES))
    assert len(sets["human"]) == 3
