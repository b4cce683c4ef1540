"""Lineage pieces that need no training: content versions, the warehouse snapshot, the printout.

The whole chain (a real retraining through the daemon, `embedloop lineage`, `embedloop
rollback`) is tests/orchestration/test_e2e_daemon.py.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from embedloop.config import Settings
from embedloop.data_versions import frame_version
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    FEEDBACK_HISTORY,
    SOURCE_DOCUMENTS,
    TRAINING_SPLITS,
    replace_tables,
)
from orchestration.cli_lineage import format_lineage
from training.lineage import warehouse_snapshot


def test_a_frame_version_follows_the_content_not_the_run() -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b"], "ids": [np.array(["x", "y"]), ["z"]], "n": [1, 2], "note": [None, "k"]}
    )
    assert frame_version(frame) == frame_version(frame.copy())
    changed = frame.copy()
    changed.loc[1, "n"] = 3
    assert frame_version(changed) != frame_version(frame)
    listed = frame.copy()
    listed.at[0, "ids"] = ["x", "q"]
    assert frame_version(listed) != frame_version(frame)
    assert frame_version(frame, ["id"]) == frame_version(changed, ["id"])
    assert frame_version(frame.iloc[0:0]) != frame_version(frame)
    with pytest.raises(KeyError, match="renamed"):
        frame_version(frame, ["renamed"])


def _rows(table, **columns) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    n = len(next(iter(columns.values())))
    return pd.DataFrame({c: columns.get(c, [None] * n) for c in table.columns})


def test_the_snapshot_counts_what_a_version_trains_on(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    settings.data_dir.mkdir()
    t = pd.Timestamp
    docs = _rows(
        SOURCE_DOCUMENTS,
        doc_id=["d:a", "d:b", "d:c"],
        updated_at=[
            t("2026-01-01", tz="UTC"),
            t("2026-03-01", tz="UTC"),
            t("2026-05-01", tz="UTC"),
        ],
        deleted=[False, False, True],  # the newest change is a deletion: not a live document
    )
    pairs = _rows(
        TRAINING_SPLITS,
        pair_id=["p1", "p2", "p3", "p4"],
        split=["train", "train", "test", "train"],
        generator=["offline:heading", "offline:heading", "offline:heading", "human"],
    )
    history = _rows(
        FEEDBACK_HISTORY,
        response_id=["r1", "r2", "r3", "r4"],
        pair_id=["p1", "p1", "p2", "p3"],
        user_id=["u1", "u1", "u1", "u2"],
        status=["submitted", "submitted", "discarded", "submitted"],
        updated_at=[t("2026-06-01", tz="UTC"), t("2026-06-03", tz="UTC"),
                    t("2026-06-09", tz="UTC"), t("2026-06-02", tz="UTC")],
        pulled_at=[t("2026-06-10", tz="UTC")] * 4,
    )  # fmt: skip
    chunks = _rows(DOCUMENT_CHUNKS, chunk_id=["c1", "c2"])
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        replace_tables(
            conn,
            {SOURCE_DOCUMENTS: docs, TRAINING_SPLITS: pairs, FEEDBACK_HISTORY: history,
             DOCUMENT_CHUNKS: chunks},
        )  # fmt: skip
    snap = warehouse_snapshot(settings)
    assert snap["documents"] == {
        "live": 2,
        "deleted": 1,
        "newest_change": "2026-03-01T00:00:00+00:00",
    }
    assert snap["chunks"] == 2
    assert snap["pairs_by_generator"] == {
        "offline:heading": {"train": 2, "test": 1},
        "human": {"train": 1},
    }
    # p1 was edited (one response, its latest version); p2's latest is discarded.
    assert snap["feedback"]["responses"] == 2
    assert snap["feedback"]["latest_updated_at"] == "2026-06-03T00:00:00+00:00"
    assert warehouse_snapshot(Settings(data_dir=tmp_path / "none")) == {}


def test_the_printout_names_every_link_of_the_chain() -> None:
    report = {
        "model": "m", "version": 3, "stage": "production", "created": "2026-06-10",
        "lineage": {
            "documents": {"live": 12, "deleted": 1, "newest_change": "2026-06-01"},
            "chunks": 40,
            "pairs_by_generator": {
                "human": {"train": 1}, "offline:heading": {"train": 9, "test": 3}
            },
            "feedback": {"responses": 3, "review_responses": 3, "question_responses": 0,
                         "latest_updated_at": "2026-06-02"},
            "dagster": {"run_id": "abc", "job": "retraining_job",
                        "trigger": {"embedloop/trigger": "argilla_feedback",
                                    "embedloop/feedback_submitted": "3"},
                        "input_data_versions": {"training_splits": "f00"}},
        },
        "zenml": {"runs": [{"pipeline": "finetune_embeddings", "name": "run-1",
                            "status": "completed", "url": "http://zenml/runs/1"}]},
        "metrics": {"dim": 384, "base": {"ndcg@10": 0.5}, "candidate": {"ndcg@10": 0.6}},
        "promotion": {"promoted": True, "stage": "production", "reason": "beats base"},
        "rollback": {"by": "ops", "at": "2026-06-11", "previous_production": 4, "reason": "bad"},
    }  # fmt: skip
    text = format_lineage(report)
    for expected in (
        "m version 3 (production)",
        "documents  12 live (1 deleted), newest change 2026-06-01",
        "chunks     40",
        "human                    1 / 0 / 0",
        "offline:heading          9 / 0 / 3",
        "feedback   3 submitted responses (3 reviews, 0 questions), newest 2026-06-02",
        "run abc (retraining_job), trigger argilla_feedback",
        "input training_splits data version f00",
        "finetune_embeddings: run-1 (completed)  http://zenml/runs/1",
        "base 0.5000, candidate 0.6000",
        "promoted (production): beats base",
        "rollback   by ops at 2026-06-11 (production was 4): bad",
    ):
        assert expected in text, (expected, text)
    bare = format_lineage({"model": "m", "version": 1, "stage": None, "created": None})
    assert "no lineage recorded" in bare and "no Dagster run" in bare
