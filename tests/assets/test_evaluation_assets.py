"""The `evaluation_sets` asset: writes evaluation_queries with provenance, or nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from assets.evaluation import evaluation_sets
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    EVALUATION_QUERIES,
    HUMAN_EVAL,
    SOURCE_DOCUMENTS,
    TRAINING_SPLITS,
    read_table,
    replace_tables,
)
from orchestration.resources import build_resources
from tests.helpers.evaluation import FAQ, GUIDE, chunks_frame, documents_frame


@pytest.fixture
def project(tmp_path: Path) -> Path:
    now = datetime.now(UTC)
    documents = documents_frame().assign(
        title="t", text="x", format="markdown", content_hash="h", bytes=1,
        ingested_at=now, updated_at=now,
    )  # fmt: skip
    pairs = pd.DataFrame(
        {
            "pair_id": ["p1", "p2"], "split": ["test", "train"], "doc_id": [FAQ, GUIDE],
            "chunk_id": ["f3", "g5"], "query": ["support contact", "api keys"],
            "positive": "p", "negative": None, "negative_chunk_id": None,
            "generator": "offline", "model": "offline:heading",
        }
    )  # fmt: skip
    human = pd.DataFrame(
        {"query": ["reset link"], "chunk_id": ["f1"], "pair_id": ["p9"], "origin": ["accepted"]}
    )
    (tmp_path / "data").mkdir()
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as conn:
        replace_tables(
            conn,
            {DOCUMENT_CHUNKS: chunks_frame(), SOURCE_DOCUMENTS: documents,
             TRAINING_SPLITS: pairs, HUMAN_EVAL: human},
        )  # fmt: skip
    (tmp_path / "questions.csv").write_text("question,section\nwhere are API keys?,Secrets\n")
    config = tmp_path / "embedloop.yaml"
    raw = {"data_dir": "data", "evaluation": {"question_files": ["questions.csv"]}}
    config.write_text(yaml.safe_dump(raw))
    return config


def table(config: Path) -> pd.DataFrame:
    with duckdb.connect(str(config.parent / "data" / "warehouse.duckdb"), read_only=True) as conn:
        return read_table(conn, EVALUATION_QUERIES)


def test_the_asset_writes_every_set_with_provenance(project: Path) -> None:
    result = dg.materialize([evaluation_sets], resources=build_resources(project))
    assert result.success
    (event,) = result.asset_materializations_for_node("evaluation_sets")
    meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    # The FAQ page is a test document: its two question headings are harvested.
    assert (meta["synthetic_queries"], meta["human_queries"], meta["questions_queries"]) == (
        1,
        1,
        3,
    )
    assert meta["dagster/row_count"] == 5 and set(meta["test_set_hash"]) >= {"all", "human"}
    rows = table(project).set_index("query")
    assert rows.loc["where are API keys?", "source"] == "file:questions.csv"
    assert rows.loc["where are API keys?", "split"] == "train"  # the guide is a train document
    assert rows.loc["reset link", "source"] == "argilla:review-accepted"
    assert rows.loc["support contact", "set_name"] == "synthetic"
    assert list(rows.loc["support contact", "relevant_chunk_ids"]) == ["f3"]
    assert rows["created_at"].notna().all()


def test_a_malformed_question_file_fails_the_asset_and_keeps_the_old_table(project: Path) -> None:
    assert dg.materialize([evaluation_sets], resources=build_resources(project)).success
    before = table(project)
    (project.parent / "questions.csv").write_text("question,section\nwhere?,No such heading\n")
    with pytest.raises(dg.Failure, match=r"questions.csv:2: section 'No such heading' matches"):
        dg.materialize([evaluation_sets], resources=build_resources(project))
    pd.testing.assert_frame_equal(table(project), before)


def _report_evaluation(instance: dg.DagsterInstance, questions_finetuned: float) -> None:
    def by_dim(base: float, tuned: float) -> dict[str, dict[str, float]]:
        return {"384": {"base": base, "incumbent": base, "candidate": tuned}}

    metadata = {
        "native_dim": 384,
        "primary_set": "questions",
        "ndcg@10_by_dim": {"384": {"base": 0.6, "finetuned": questions_finetuned}},
        "ndcg@10_by_set": {
            "synthetic": {"n": 40, "by_dim": by_dim(0.5, 0.7)},
            "questions": {"n": 35, "by_dim": by_dim(0.6, questions_finetuned)},
            "human": {"n": 0, "by_dim": {}},
        },
    }
    instance.report_runless_asset_event(
        dg.AssetMaterialization("embedding_evaluation", metadata=metadata)
    )


@pytest.mark.parametrize(
    ("tuned", "passed", "worse"), [(0.65, True, "none"), (0.55, False, "questions")]
)
def test_the_finetuned_check_warns_on_the_primary_set_not_on_synthetic(
    tuned: float, passed: bool, worse: str
) -> None:
    from quality.checks import finetuned_not_worse_than_base

    with dg.DagsterInstance.ephemeral() as instance:
        _report_evaluation(instance, tuned)
        result = finetuned_not_worse_than_base(dg.build_asset_check_context(instance=instance))
    assert result.passed is passed and result.severity == dg.AssetCheckSeverity.WARN
    meta = {k: getattr(v, "value", v) for k, v in result.metadata.items()}
    assert meta["primary_set"] == "questions" and meta["worse_than_base_on"] == worse
    assert "| synthetic | 40 |" in str(meta["by_set"])


def test_the_evaluation_metadata_has_a_table_n_and_interval_per_set() -> None:
    from assets.evaluation import evaluation_set_metadata

    def metrics(value: float) -> dict[str, dict[str, float]]:
        return {d: {"ndcg@10": value, "mrr@10": value, "recall@10": value} for d in ("384", "64")}

    interval = {"n": 31, "difference": 0.1, "low": 0.05, "high": 0.15, "confidence": 0.95}
    sets = {
        "questions": {"n": 31, "interval": interval, "base": metrics(0.5),
                      "incumbent": metrics(0.55), "candidate": metrics(0.65)},
        "human": {"n": 0, "interval": {**interval, "n": 0}, "base": {}, "incumbent": {},
                  "candidate": {}},
    }  # fmt: skip
    meta = evaluation_set_metadata(sets, "questions", {"all": "abc"}, 384)
    table = meta["questions_metrics"].value
    assert table.startswith("**questions**: n = 31; ndcg@10 at 384, finetuned - incumbent: "
                            "+0.1000, 95% CI [+0.0500, +0.1500]")  # fmt: skip
    assert "| 64 | recall@10 | 0.5 | 0.55 | 0.65 | 0.1 |" in table
    assert "human_metrics" not in meta and meta["human_queries"].value == 0
    assert meta["ndcg@10_by_set"].value["questions"]["by_dim"]["384"]["candidate"] == 0.65
    assert meta["primary_set"] == "questions" and meta["test_set_hash"] == "abc"
