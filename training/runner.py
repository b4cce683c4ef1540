"""Entry points for the Dagster assets: run a ZenML pipeline, return a plain summary.

``run_finetune`` trains a new version of the ZenML Model and exports it to
``<data_dir>/models/<version>/``; ``run_evaluation`` gates that version and, when it is
production, exports it to ``<data_dir>/models/production/``. Neither needs zenml imported
beforehand: both configure ZenML first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedloop.config import Settings, load_settings
from embedloop.metrics import Metrics, metrics_from_metadata
from embedloop.models import production_dir
from training.export import export_model, read_marker, version_dir
from training.zenml_env import configure_zenml, fail_abandoned_runs

if TYPE_CHECKING:
    from zenml.models import ModelVersionResponse, PipelineRunResponse

MODEL_DESCRIPTION = "Sentence-transformers embeddings fine-tuned on the project's documentation."


@dataclass(frozen=True)
class FinetuneSummary:
    zenml_run_id: str
    model_name: str
    model_version: int
    export_dir: Path
    loss_history: list[tuple[int, float]]
    duration_s: float
    samples_per_s: float
    device: str
    precision: str = ""  # fp32, bf16 or fp16, and why: "bf16 (training.precision auto: ...)"
    best_step: int | None = None
    data_snapshot: dict[str, Any] = field(default_factory=dict)
    base_weight: dict[str, Any] = field(default_factory=dict)  # the share served, and why


@dataclass(frozen=True)
class EvaluationSummary:
    zenml_run_id: str
    model_name: str
    model_version: int
    base: Metrics  # dim -> metric -> value, on the test split
    candidate: Metrics
    incumbent: Metrics  # production's model, or the base model when none is production
    incumbent_version: int | None
    promoted: bool  # True when this version is production after the run
    stage: str
    reason: str
    production_dir: Path | None  # the exported production model, if any version is
    # Each evaluation set: n, base/candidate/incumbent metrics per dim, bootstrap interval.
    sets: dict[str, Any] = field(default_factory=dict)
    primary_set: str = "synthetic"  # the set the gate decided on; base/candidate/... are it
    test_set_hash: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ZenMLTraining:
    """The training pipelines for one config file, as the Dagster assets call them."""

    config_file: str

    def finetune(self, dagster_run_id: str | None = None) -> FinetuneSummary:
        return run_finetune(self.config_file, dagster_run_id=dagster_run_id)

    def evaluate(self, model_version: int, dagster_run_id: str | None = None) -> EvaluationSummary:
        return run_evaluation(self.config_file, model_version, dagster_run_id=dagster_run_id)


# A ZenML run configuration for finetune_embeddings (e.g. deploy/zenml/gpu-run.yaml: which
# image the step pods run, which step operator trains): deployment config, not code.
RUN_CONFIG_ENV = "EMBEDLOOP_ZENML_RUN_CONFIG"


def run_config_path() -> str | None:
    """The run configuration named by ``$EMBEDLOOP_ZENML_RUN_CONFIG``, checked before any run."""
    value = os.environ.get(RUN_CONFIG_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"${RUN_CONFIG_ENV} names {value}, which is not a file")
    return str(path)


def run_finetune(config_file: Path | str, dagster_run_id: str | None = None) -> FinetuneSummary:
    """Run the ``finetune_embeddings`` pipeline and summarize the version it made.

    Args:
        config_file: The embedloop.yaml of the run.
        dagster_run_id: The Dagster run asking for it, tagged on the ZenML run.

    Returns:
        The new model version's number, export directory and training metrics.
    """
    config_file = Path(config_file).resolve()
    settings = load_settings(config_file)
    configure_zenml(settings)
    fail_abandoned_runs(settings)
    from zenml import Model

    from training.pipelines import finetune_embeddings
    from training.steps import MODEL_ARTIFACT, TRAINING_METRICS

    name = settings.training.model_name
    pipeline = finetune_embeddings.with_options(
        model=Model(name=name, description=MODEL_DESCRIPTION, tags=["embedloop"]),
        tags=_run_tags(dagster_run_id),
        config_path=run_config_path(),
    )
    run = _completed(pipeline(config_file=str(config_file), dagster_run_id=dagster_run_id))
    version = run.model_version
    if version is None:
        raise RuntimeError(f"ZenML run {run.id} is not linked to a version of model {name}")
    metrics = _step_output(run, "train_model", TRAINING_METRICS)
    artifact = version.get_model_artifact(MODEL_ARTIFACT)
    if artifact is None:
        raise RuntimeError(f"{name} version {version.number} has no {MODEL_ARTIFACT} artifact")
    # Exported from the stored artifact, not the in-memory model: this also proves it loads.
    export = export_model(
        artifact.load(), version_dir(settings, version.number), _marker(version, artifact.id)
    )
    snapshot = version.run_metadata.get("data_snapshot", {})
    return FinetuneSummary(
        zenml_run_id=str(run.id),
        model_name=name,
        model_version=int(version.number),
        export_dir=export,
        loss_history=[(int(s), float(v)) for s, v in metrics["loss_history"]],
        duration_s=float(metrics["duration_s"]),
        samples_per_s=float(metrics["samples_per_s"]),
        device=str(metrics["device"]),
        precision=f"{metrics['precision']} ({metrics['precision_reason']})",
        best_step=metrics.get("best_step"),
        data_snapshot=dict(snapshot) if isinstance(snapshot, dict) else {},
        base_weight=dict(metrics.get("base_weight") or {}),
    )


def run_evaluation(
    config_file: Path | str, model_version: str | int, dagster_run_id: str | None = None
) -> EvaluationSummary:
    """Evaluate ``model_version`` (a number, or "latest") of the configured ZenML Model."""
    config_file = Path(config_file).resolve()
    settings = load_settings(config_file)
    configure_zenml(settings)
    from zenml import Model
    from zenml.client import Client

    from training.pipelines import evaluate_embeddings, incumbent_for, require_training_data
    from training.steps import EVALUATION_REPORT, PROMOTION

    name = settings.training.model_name
    client = Client()
    candidate = client.get_model_version(name, _version_ref(model_version))
    number = int(candidate.number)
    incumbent_version = incumbent_for(client, name, candidate)
    require_training_data(name, candidate)
    pipeline = evaluate_embeddings.with_options(
        model=Model(name=name, version=number), tags=_run_tags(dagster_run_id)
    )
    run = _completed(
        pipeline(
            config_file=str(config_file),
            model_name=name,
            model_version=number,
            incumbent_version=incumbent_version,
            dagster_run_id=dagster_run_id,
        )
    )
    report = _step_output(run, "evaluate_models", EVALUATION_REPORT)
    outcome = _step_output(run, "promote", PROMOTION)
    return EvaluationSummary(
        zenml_run_id=str(run.id),
        model_name=name,
        model_version=number,
        base=metrics_from_metadata(report["base"]),
        candidate=metrics_from_metadata(report["candidate"]),
        incumbent=metrics_from_metadata(report["incumbent"]),
        incumbent_version=report.get("incumbent_version"),
        promoted=bool(outcome["promoted"]),
        stage=str(outcome["stage"]),
        reason=str(outcome["reason"]),
        production_dir=sync_production_export(settings),
        sets={
            name: {k: v for k, v in entry.items() if k != "per_query_ndcg"}
            for name, entry in report["sets"].items()
        },
        primary_set=str(report["primary_set"]),
        test_set_hash=dict(report["test_set_hash"]),
    )


def sync_production_export(settings: Settings) -> Path | None:
    """Make ``<data_dir>/models/production`` hold ZenML's production version, if any.

    Idempotent: when the exported marker already names that artifact nothing is written,
    and an export interrupted earlier is completed by the next call.
    """
    from zenml.client import Client

    from training.pipelines import production_version
    from training.steps import MODEL_ARTIFACT

    target = production_dir(settings)
    version = production_version(Client(), settings.training.model_name)
    artifact = version.get_model_artifact(MODEL_ARTIFACT) if version else None
    if version is None or artifact is None:
        return target if read_marker(target) else None
    marker = _marker(version, artifact.id)
    if read_marker(target) != marker:
        export_model(artifact.load(), target, marker)
    return target


def _version_ref(model_version: str | int) -> str | int:
    text = str(model_version).strip()
    return int(text) if text.isdigit() else text


def _run_tags(dagster_run_id: str | None) -> list[str]:
    return ["embedloop"] + ([f"dagster_run:{dagster_run_id}"] if dagster_run_id else [])


def _marker(version: ModelVersionResponse, artifact_id: object) -> dict[str, Any]:
    return {
        "model_name": version.model.name,
        "version": int(version.number),
        "artifact_id": str(artifact_id),
    }


def _completed(run: PipelineRunResponse | None) -> PipelineRunResponse:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    if run is None:
        raise RuntimeError("ZenML returned no pipeline run")
    run = Client().get_pipeline_run(run.id)
    if run.status != ExecutionStatus.COMPLETED:
        raise RuntimeError(f"ZenML run {run.name} ended {run.status.value}")
    return run


def _step_output(run: PipelineRunResponse, step_name: str, output: str) -> Any:
    artifacts = run.steps[step_name].outputs[output]
    return (artifacts[0] if isinstance(artifacts, list) else artifacts).load()
