"""End to end on CPU: real ZenML store (SQLite under tmp), real training, no mocks.

One module-scoped project runs the scenario in order, each fixture building on the last:
v1 trains for real and fails a strict gate; v2 (learning rate ~0, so it equals the base
model) passes a zero-margin gate against the base model and becomes production; then a
strict re-evaluation of v1 against production, and two broken training runs, must leave
production exactly as it was.

ZenML: the project fixture points ZENML_CONFIG_PATH at its tmp data_dir through
configure_zenml() before anything here imports zenml; configure_zenml() drops ZenML's
singletons if another config was active in this process. The env is restored afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embedloop.config import Settings, load_settings
from embedloop.models import production_model_path
from tests.helpers.training import isolated_zenml, tiny_tables, training_config, write_warehouse

pytestmark = pytest.mark.slow


@dataclass
class Project:
    root: Path
    settings: Settings

    def config(self, name: str, training: dict[str, Any], **top: Any) -> Path:
        return training_config(self.root, name, training, **top)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("training_project")
    chunks, pairs = tiny_tables()
    write_warehouse(root / "data" / "warehouse.duckdb", chunks, pairs)
    write_warehouse(root / "empty" / "warehouse.duckdb", chunks, pairs.iloc[0:0])
    project = Project(root, load_settings(training_config(root, "base", {})))
    with isolated_zenml(project.settings):
        yield project


@pytest.fixture(scope="module")
def v1(project: Project):
    from training.runner import run_finetune

    config = project.config("v1", {"max_steps": 4, "eval_steps": 2, "learning_rate": 1e-4})
    return run_finetune(config, dagster_run_id="dagster-run-1")


@pytest.fixture(scope="module")
def v1_strict(project: Project, v1):
    from training.runner import run_evaluation

    # No model can beat anything by a full nDCG point: the gate must fail.
    return run_evaluation(
        project.config("strict", {"promotion_margin": 1.0}), str(v1.model_version)
    )


@pytest.fixture(scope="module")
def v2(project: Project, v1_strict):
    from training.runner import run_finetune

    # A learning rate far below float32 resolution: real training steps, base-model weights.
    return run_finetune(project.config("v2", {"max_steps": 1, "learning_rate": 1e-12}))


@pytest.fixture(scope="module")
def v2_promoted(project: Project, v2):
    from training.runner import run_evaluation

    config = project.config("lenient", {"promotion_margin": 0.0, "regression_tolerance": 1.0})
    return run_evaluation(config, v2.model_version, dagster_run_id="dagster-run-2")


def _model_version(project: Project, number: int):
    from zenml.client import Client

    return Client().get_model_version(project.settings.training.model_name, number)


def _embed(model: Any, text: str = "where are step outputs kept") -> np.ndarray:
    return model.encode([text], convert_to_numpy=True)[0]


def test_finetune_creates_a_model_version_with_metadata_and_an_export(project: Project, v1) -> None:
    from sentence_transformers import SentenceTransformer

    assert v1.model_version == 1
    assert [step for step, _ in v1.loss_history] == [1, 2, 3, 4]
    assert v1.best_step in (2, 4) and v1.device == "cpu" and v1.samples_per_s > 0
    assert v1.data_snapshot["rows"] == {
        "train": 25,
        "validation": 10,
        "test": 16,
        "chunks": 30,
        "train_with_negative": 15,
    }

    meta = _model_version(project, 1).run_metadata
    hp = meta["hyperparameters"]
    assert hp["trained_dims"] == [384, 128] and hp["learning_rate"] == 1e-4
    assert hp["train_datasets"] == {"triplets": 15, "pairs": 10}
    assert hp["checkpoint_selection"] == "best eval_validation_dim384_ndcg@10"
    assert meta["data_snapshot"]["hash"] == v1.data_snapshot["hash"]
    assert meta["dagster_run_id"] == "dagster-run-1"
    # What the Dagster asset shows: the format trained in, and why.
    assert v1.precision == f"{meta['precision']} ({meta['precision_reason']})"
    assert len(meta["training"]["loss_history"]) == 4
    # Generated validation queries never choose the base share: the configured one is served.
    served = project.settings.training.base_weight
    assert hp["base_weight_served"] == v1.base_weight["base_weight_served"] == served
    assert v1.base_weight["base_weight_chosen_on"].startswith("training.base_weight (0 written")

    exported = SentenceTransformer(str(v1.export_dir), local_files_only=True)
    assert v1.export_dir == project.root / "data" / "models" / "1"
    assert exported.get_embedding_dimension() == 384 and exported.max_seq_length == 48


def test_model_artifact_round_trips_through_the_materializer(
    project: Project, v1, tmp_path: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    from training.materializers import SentenceTransformerMaterializer
    from training.steps import MODEL_ARTIFACT

    artifact = _model_version(project, 1).get_model_artifact(MODEL_ARTIFACT)
    assert artifact is not None and artifact.run_metadata["embedding_dim"] == 384
    stored = artifact.load()
    exported = SentenceTransformer(str(v1.export_dir), local_files_only=True)
    np.testing.assert_array_equal(_embed(stored), _embed(exported))

    materializer = SentenceTransformerMaterializer(str(tmp_path / "artifact"))
    materializer.save(exported)
    np.testing.assert_array_equal(_embed(materializer.load(SentenceTransformer)), _embed(exported))


def test_a_failed_gate_stages_the_version_and_writes_no_production(project: Project, v1_strict):
    assert set(v1_strict.base) == set(v1_strict.candidate) == {384, 128}
    assert set(v1_strict.candidate[384]) == {
        "ndcg@10",
        "mrr@10",
        "recall@1",
        "recall@5",
        "recall@10",
        "map@100",
    }
    assert v1_strict.incumbent == v1_strict.base and v1_strict.incumbent_version is None
    assert not v1_strict.promoted and v1_strict.stage == "staging"
    # Three human queries are fewer than min_real_queries: the synthetic set is primary.
    assert v1_strict.primary_set == "synthetic"
    assert v1_strict.reason.startswith("not promoted: on synthetic (n=15) ")
    assert "95% CI [" in v1_strict.reason and "is below the margin +1.0000" in v1_strict.reason
    assert v1_strict.production_dir is None
    human = v1_strict.sets["human"]
    assert human["n"] == 3 and set(human["candidate"]) == set(human["incumbent"]) == {"384", "128"}
    assert v1_strict.sets["synthetic"]["interval"]["resamples"] == 1000
    assert v1_strict.sets["questions"]["n"] == 0
    assert production_model_path(project.settings) == project.settings.model.resolved_base_model()
    meta = _model_version(project, 1).run_metadata
    assert meta["promotion"]["stage"] == "staging"
    assert meta["evaluation"]["candidate"]["384"]["ndcg@10"] == v1_strict.candidate[384]["ndcg@10"]
    synthetic = meta["evaluation"]["sets"]["synthetic"]
    assert synthetic["candidate"]["384"] == v1_strict.sets["synthetic"]["candidate"]["384"]
    assert "per_query_ndcg" not in synthetic  # per-query scores stay in the artifact
    # One hash per set (synthetic, human, questions, searches) and one over all of them.
    assert meta["test_set_hash"] == v1_strict.test_set_hash and len(meta["test_set_hash"]) == 5
    assert meta["promotion"]["test_set_hash"] == v1_strict.test_set_hash["all"]


def test_a_passing_gate_makes_the_version_production_and_exports_it(
    project: Project, v2, v2_promoted
) -> None:
    from sentence_transformers import SentenceTransformer

    assert v2.model_version == 2
    assert v2_promoted.candidate == v2_promoted.base  # weights did not move
    assert v2_promoted.promoted and v2_promoted.stage == "production"
    assert v2_promoted.reason.startswith("promoted:")
    assert _model_version(project, 2).stage == "production"
    assert _model_version(project, 1).stage == "staging"
    assert v2_promoted.production_dir == project.root / "data" / "models" / "production"
    assert production_model_path(project.settings) == str(v2_promoted.production_dir)
    production = SentenceTransformer(str(v2_promoted.production_dir), local_files_only=True)
    version_export = SentenceTransformer(str(v2.export_dir), local_files_only=True)
    np.testing.assert_array_equal(_embed(production), _embed(version_export))


def _production_state(project: Project) -> tuple[int, dict[str, Any] | None, float]:
    from zenml.client import Client

    from embedloop.models import production_dir
    from training.export import read_marker
    from training.pipelines import production_version

    version = production_version(Client(), project.settings.training.model_name)
    target = production_dir(project.settings)
    assert version is not None
    return version.number, read_marker(target), (target / "model.safetensors").stat().st_mtime


def test_a_failed_gate_against_production_leaves_production_alone(
    project: Project, v1, v2_promoted
) -> None:
    from training.runner import run_evaluation

    before = _production_state(project)
    summary = run_evaluation(project.config("strict", {"promotion_margin": 1.0}), v1.model_version)
    assert summary.incumbent_version == 2  # production's stored artifact, re-evaluated
    assert not summary.promoted and summary.stage == "staging"
    assert _production_state(project) == before


@pytest.mark.parametrize("broken", ["missing_base_model", "empty_training_splits"])
def test_a_failed_training_run_raises_and_leaves_production_alone(
    project: Project, v2_promoted, broken: str
) -> None:
    from training.runner import run_finetune

    before = _production_state(project)
    if broken == "missing_base_model":
        config = project.config(
            "broken", {"max_steps": 1}, model={"base_model": str(project.root / "no-such-model")}
        )
    else:
        config = project.config(
            "broken", {"max_steps": 1}, warehouse=str(project.root / "empty" / "warehouse.duckdb")
        )
    with pytest.raises(Exception) as failure:
        run_finetune(config)
    assert "no-such-model" in str(failure.value) or "is empty" in str(failure.value)
    assert _production_state(project) == before


def test_a_run_killed_mid_training_is_failed_by_the_next_run(project: Project, v1) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from embedloop.run_lock import run_lock
    from training.zenml_env import fail_abandoned_runs

    config = project.config("endless", {"max_steps": 100_000})
    script = f"from training.runner import run_finetune; run_finetune({str(config)!r})"
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    client = Client()
    try:
        deadline = time.monotonic() + 240
        running: list[Any] = []
        while not running and time.monotonic() < deadline and child.poll() is None:
            time.sleep(1)
            running = client.list_pipeline_runs(status="running", size=5).items
        assert running, "the training run never reached ZenML's 'running' state"
        train = running[0].steps.get("train_model")
        deadline = time.monotonic() + 120
        while (train is None or train.status != ExecutionStatus.RUNNING) and (
            time.monotonic() < deadline
        ):
            time.sleep(1)
            train = client.get_pipeline_run(running[0].id).steps.get("train_model")
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # mid-training, with its workers
        child.wait()
    killed = running[0]
    assert client.get_pipeline_run(killed.id).status == ExecutionStatus.RUNNING
    # Without the run lock another run may be alive: nothing is touched.
    assert fail_abandoned_runs(project.settings) == []
    with run_lock(project.settings.data_dir, owner="next run"):
        assert fail_abandoned_runs(project.settings) == [killed.name]
    after = client.get_pipeline_run(killed.id)
    assert after.status == ExecutionStatus.FAILED
    assert after.steps["train_model"].status == ExecutionStatus.FAILED
