"""The honest gate end to end: real ZenML store, the finetune and evaluation pipelines.

The candidate is built to flatter the proxy: base model + a linear layer trained to send
the synthetic test queries to their passages and the team's real questions to wrong ones
(tests/helpers/adversarial_model.py). It becomes a model version through the real finetune
pipeline (learning rate ~0, so the stored artifact is that model), and the real
evaluation pipeline must refuse it: better on synthetic (reported from the validation split,
since real questions gate), worse on the question file. A
candidate whose training documents are now in the test split is refused before scoring.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from embedloop.config import load_settings
from tests.helpers.adversarial_model import build_adversarial_model
from tests.helpers.training import (
    TOPICS,
    isolated_zenml,
    tiny_tables,
    training_config,
    write_warehouse,
)

pytestmark = pytest.mark.slow

# Vague fragments the base model ranks imperfectly (topic index): the synthetic set. Once
# real questions gate, the test split trains and generated queries are reported from the
# validation split, so they are about the validation pages (topics 9-14).
SYNTHETIC = [
    ("built locally", 9), ("in the cloud", 9), ("expectations", 10), ("before training", 10),
    ("label", 11), ("web interface", 11), ("people", 11), ("skips", 12), ("did not change", 12),
    ("inputs", 12), ("every night", 13), ("fixed time", 13), ("object", 14),
    ("reads it back", 14), ("storage", 14), ("writes", 14),
]  # fmt: skip
# How people ask about the same nine test passages: the question file.
REAL = [
    "where do the outputs of my steps get saved?",
    "what picks the order in which steps execute?",
    "how can I run one step on a GPU?",
    "where are my docker images pushed?",
    "where should I keep passwords?",
    "how do I know which model version is deployed?",
    "how do I compare the metrics of two training runs?",
    "where do features for inference come from?",
    "can I get a chat message when a pipeline fails?",
]


@dataclass
class GateProject:
    root: Path
    chunks: pd.DataFrame
    pairs: pd.DataFrame

    def warehouse(self, name: str, pairs: pd.DataFrame, **evaluation: object) -> Path:
        """A config whose warehouse holds ``pairs`` and the evaluation sets built from it."""
        warehouse = self.root / name / "warehouse.duckdb"
        top: dict[str, object] = {"warehouse": str(warehouse), "evaluation": evaluation}
        config = training_config(self.root, name, {"min_real_queries": 5}, **top)
        write_warehouse(warehouse, self.chunks, pairs, load_settings(config))
        return config


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateProject]:
    root = tmp_path_factory.mktemp("gate_project")
    chunks, pairs = tiny_tables()
    write_warehouse(root / "data" / "warehouse.duckdb", chunks, pairs)
    with isolated_zenml(load_settings(training_config(root, "base", {}))):
        yield GateProject(root, chunks, pairs)


@pytest.fixture(scope="module")
def candidate(project: GateProject):  # type: ignore[no-untyped-def]
    from training.runner import run_finetune

    base = load_settings(training_config(project.root, "base", {})).model.resolved_base_model()
    model = build_adversarial_model(
        base,
        list(project.chunks["text"]),
        SYNTHETIC,
        [(question, i) for i, question in enumerate(REAL)],
        project.root / "adversarial-model",
    )
    training = {"max_steps": 1, "learning_rate": 1e-12}
    config = training_config(project.root, "train", training, model={"base_model": str(model)})
    return run_finetune(config)


def _validation_pairs(project: GateProject) -> pd.DataFrame:
    """The train and test pairs as they are, the synthetic queries as the validation split."""
    text = dict(zip(project.chunks["chunk_id"], project.chunks["text"], strict=True))
    rows = [
        {"pair_id": f"s{k}", "split": "validation", "doc_id": f"docs:page{topic // 3}.md",
         "chunk_id": f"c{topic:02d}", "query": query, "positive": text[f"c{topic:02d}"],
         "negative": None, "negative_chunk_id": None, "generator": "offline",
         "model": "offline:heading"}
        for k, (query, topic) in enumerate(SYNTHETIC)
    ]  # fmt: skip
    kept = project.pairs[project.pairs["split"] != "validation"]
    return pd.concat([kept, pd.DataFrame(rows)], ignore_index=True)


def test_better_on_synthetic_but_worse_on_real_questions_is_refused(
    project: GateProject, candidate
) -> None:
    from zenml.client import Client

    from training.runner import run_evaluation

    questions = project.root / "team-questions.csv"
    lines = [f"{q},page{i // 3}.md#{TOPICS[i][0].replace(' ', '-')}" for i, q in enumerate(REAL)]
    questions.write_text("question,document\n" + "\n".join(lines) + "\n")
    config = project.warehouse("gate", _validation_pairs(project), question_files=[str(questions)])
    summary = run_evaluation(config, candidate.model_version)

    synthetic, real = summary.sets["synthetic"], summary.sets["questions"]
    # A synthetic-only gate would promote it: a large gain, significant at the default margin.
    gain = synthetic["candidate"]["384"]["ndcg@10"] - synthetic["incumbent"]["384"]["ndcg@10"]
    assert synthetic["n"] == len(SYNTHETIC) and gain > 0.1
    assert synthetic["interval"]["low"] > 0.005
    # ... while the people who ask get worse answers.
    assert real["n"] == len(REAL)
    assert real["candidate"]["384"]["ndcg@10"] < real["incumbent"]["384"]["ndcg@10"] - 0.1
    # Real questions: the question file and the three human-validated test queries.
    assert summary.primary_set == "questions+human" and summary.sets["human"]["n"] == 3
    assert not summary.promoted and summary.stage == "staging", summary.reason
    head = "not promoted: on questions+human (n=12) ndcg@10 at dim 384 changes -"
    assert summary.reason.startswith(head), summary.reason
    assert "95% CI [" in summary.reason and "is below the margin +0.0050" in summary.reason
    assert "questions at dim 384 regresses by" in summary.reason
    assert summary.reason.endswith("ignored: synthetic (reported only: real questions gate)")

    name = load_settings(config).training.model_name
    meta: Any = Client().get_model_version(name, candidate.model_version).run_metadata
    assert meta["promotion"]["reason"] == summary.reason
    assert meta["promotion"]["primary_set"] == "questions+human"
    assert meta["evaluation"]["sets"]["questions"]["n"] == len(REAL)


def test_a_candidate_trained_on_a_document_now_in_the_test_split_is_refused(
    project: GateProject, candidate
) -> None:
    from training.runner import run_evaluation

    pairs = project.pairs
    moved = pairs.assign(split=pairs["split"].mask(pairs["doc_id"] == "docs:page5.md", "test"))
    config = project.warehouse("moved", moved)
    with pytest.raises(Exception) as failure:
        run_evaluation(config, candidate.model_version)
    assert "refusing to evaluate: the candidate was trained on 1 document(s)" in str(failure.value)
    assert "(docs:page5.md)" in str(failure.value)


def test_the_dagster_assets_build_the_sets_and_report_every_set(project: GateProject) -> None:
    import dagster as dg

    from assets.evaluation import evaluation_sets
    from assets.training import embedding_evaluation, finetuned_embedding_model
    from orchestration.resources import build_resources
    from quality.checks import finetuned_not_worse_than_base

    config = training_config(project.root, "dagster", {"max_steps": 1, "learning_rate": 1e-12})
    assets = [finetuned_embedding_model, evaluation_sets, embedding_evaluation]
    result = dg.materialize(
        [*assets, finetuned_not_worse_than_base], resources=build_resources(config)
    )
    assert result.success

    def meta(node: str) -> dict[str, Any]:
        (event,) = result.asset_materializations_for_node(node)
        return {k: getattr(v, "value", v) for k, v in event.metadata.items()}

    sets, evaluation = meta("evaluation_sets"), meta("embedding_evaluation")
    assert (sets["synthetic_queries"], sets["human_queries"], sets["questions_queries"]) == (
        15,
        3,
        0,
    )
    assert evaluation["test_set_hash"] == sets["test_set_hash"]["all"]
    assert evaluation["primary_set"] == "synthetic" and not evaluation["promoted"]
    assert evaluation["synthetic_queries"] == 15 and "95% CI" in evaluation["synthetic_metrics"]
    assert "| 128 | recall@10 |" in evaluation["human_metrics"]
    assert set(evaluation["ndcg@10_by_set"]) == {"synthetic", "human", "questions", "searches"}
    (check,) = result.get_asset_check_evaluations()
    assert check.passed  # weights did not move: finetuned equals base
    assert check.metadata["primary_set"].value == "synthetic"
