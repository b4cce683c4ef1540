"""ZenML steps. Each reads the project config itself, so a step is one plain function call
away from the library code in data/finetune/evaluation/promotion.

Importing this module imports zenml: call ``training.zenml_env.configure_zenml`` first.
"""

# No `from __future__ import annotations`: ZenML reads the step signatures at runtime.
from typing import Annotated, Any, Optional

import pandas as pd
from sentence_transformers import SentenceTransformer
from zenml import ArtifactConfig, log_metadata, step
from zenml.client import Client
from zenml.config import ResourceSettings
from zenml.config.base_settings import BaseSettings
from zenml.enums import ArtifactType, ModelStages

from embedloop.config import load_settings
from embedloop.metrics import metrics_for_metadata, metrics_from_metadata
from training import data
from training.evaluation import evaluate_model, matryoshka_dims
from training.finetune import finetune
from training.materializers import SentenceTransformerMaterializer
from training.promotion import decide_promotion

MODEL_ARTIFACT = "finetuned_model"
TRAINING_METRICS = "training_metrics"
EVALUATION_REPORT = "evaluation_report"
PROMOTION = "promotion"

# Orchestrators that place steps on machines (Kubernetes, Vertex, SageMaker...) read this;
# the local orchestrator ignores it with a warning. To run only training on a GPU box while
# the rest stays local, register a step operator in the stack and set
# $EMBEDLOOP_STEP_OPERATOR to its name (see training.pipelines).
GPU: dict[str, BaseSettings | dict[str, Any]] = {
    "resources": ResourceSettings(gpu_count=1, memory="16GB")
}


def _clean(value: Any) -> Any:
    """ZenML metadata accepts no None and no tuples; drop the former, list the latter."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _log(metadata: dict[str, Any]) -> None:
    """Attach to the ZenML Model version this run works on (set on the pipeline)."""
    log_metadata(metadata=_clean(metadata), infer_model=True)


@step
def load_training_data(
    config_file: str,
) -> tuple[
    Annotated[pd.DataFrame, "train_pairs"],
    Annotated[pd.DataFrame, "validation_pairs"],
    Annotated[pd.DataFrame, "corpus"],
    Annotated[dict, "data_snapshot"],
]:
    settings = load_settings(config_file)
    pairs, corpus = data.read_pairs_and_corpus(settings)
    train = data.split_frame(pairs, "train")
    data.require_rows(train, "training_splits (split = 'train')")
    data.require_rows(corpus, "document_chunks")
    return train, data.split_frame(pairs, "validation"), corpus, data.data_snapshot(pairs, corpus)


@step(settings=GPU, output_materializers={MODEL_ARTIFACT: SentenceTransformerMaterializer})
def train_model(
    train_pairs: pd.DataFrame,
    validation_pairs: pd.DataFrame,
    corpus: pd.DataFrame,
    data_snapshot: dict,
    config_file: str,
    dagster_run_id: Optional[str] = None,  # noqa: UP045 - ZenML parses the annotation
) -> tuple[
    Annotated[
        SentenceTransformer, ArtifactConfig(name=MODEL_ARTIFACT, artifact_type=ArtifactType.MODEL)
    ],
    Annotated[dict, TRAINING_METRICS],
]:
    settings = load_settings(config_file)
    result = finetune(settings, train_pairs, validation_pairs, corpus)
    metrics = {
        "loss_history": [list(p) for p in result.loss_history],
        "validation_ndcg@10_history": [list(p) for p in result.validation_history],
        "best_step": result.best_step,
        "duration_s": round(result.duration_s, 3),
        "samples_per_s": round(result.samples_per_s, 3),
        "device": result.device,
    }
    _log(
        {
            "hyperparameters": result.hyperparameters,
            "data_snapshot": data_snapshot,
            "training": metrics,
            "dagster_run_id": dagster_run_id,
            "device": result.device,
            "duration_s": metrics["duration_s"],
            "samples_per_s": metrics["samples_per_s"],
        }
    )
    return result.model, metrics


@step
def load_evaluation_data(
    config_file: str,
) -> tuple[
    Annotated[pd.DataFrame, "test_pairs"],
    Annotated[pd.DataFrame, "corpus"],
    Annotated[pd.DataFrame, "human_eval_pairs"],
]:
    settings = load_settings(config_file)
    pairs, corpus = data.read_pairs_and_corpus(settings)
    test = data.split_frame(pairs, "test")
    data.require_rows(test, "training_splits (split = 'test')")
    human = data.read_human_eval(settings)
    # An empty frame, not None: step outputs are typed artifacts.
    return test, corpus, human if human is not None else pd.DataFrame(columns=["query", "chunk_id"])


@step(settings=GPU)
def evaluate_models(
    candidate: SentenceTransformer,
    test_pairs: pd.DataFrame,
    corpus: pd.DataFrame,
    human_eval_pairs: pd.DataFrame,
    config_file: str,
    incumbent: Optional[SentenceTransformer] = None,  # noqa: UP045
    incumbent_version: Optional[int] = None,  # noqa: UP045
) -> Annotated[dict, EVALUATION_REPORT]:
    """Base, incumbent and candidate on the same untouched test split and full corpus.

    Each model is scored as it would be served, with its own saved max_seq_length.
    """
    settings = load_settings(config_file)
    native = candidate.get_embedding_dimension() or 0
    dims = matryoshka_dims(settings.training.matryoshka_dims, native)
    test = data.ir_inputs(test_pairs, corpus)
    base = SentenceTransformer(settings.model.resolved_base_model(), local_files_only=True)

    base_metrics = evaluate_model(base, test, dims)
    candidate_metrics = evaluate_model(candidate, test, dims)
    incumbent_metrics = evaluate_model(incumbent, test, dims) if incumbent else base_metrics
    report: dict[str, Any] = {
        "native_dim": native,
        "dims": dims,
        "test_queries": len(test.queries),
        "corpus_size": len(test.corpus),
        "base": metrics_for_metadata(base_metrics),
        "candidate": metrics_for_metadata(candidate_metrics),
        "incumbent": metrics_for_metadata(incumbent_metrics),
        "incumbent_version": incumbent_version,
        "incumbent_source": f"production version {incumbent_version}" if incumbent else "base",
        "notes": test.notes,
    }
    if not human_eval_pairs.empty:
        human = data.ir_inputs(human_eval_pairs, corpus)
        report["human_eval"] = {
            "queries": len(human.queries),
            "base": metrics_for_metadata(evaluate_model(base, human, dims)),
            "candidate": metrics_for_metadata(evaluate_model(candidate, human, dims)),
        }
    _log({"evaluation": report})
    return report


@step
def promote(
    evaluation_report: dict,
    config_file: str,
    model_name: str,
    model_version: int,
    dagster_run_id: Optional[str] = None,  # noqa: UP045
) -> Annotated[dict, PROMOTION]:
    """Production only through the gate; otherwise staging, with the reason recorded.

    Runs last, so a failure anywhere earlier leaves every stage as it was.
    """
    ts = load_settings(config_file).training
    native = int(evaluation_report["native_dim"])
    decision = decide_promotion(
        metrics_from_metadata(evaluation_report["candidate"]),
        metrics_from_metadata(evaluation_report["incumbent"]),
        native_dim=native,
        margin=ts.promotion_margin,
        tolerance=ts.regression_tolerance,
    )
    version = Client().get_model_version(model_name, model_version)
    if version.stage == ModelStages.PRODUCTION:
        # Re-evaluating the production model must not demote it.
        promoted, stage = True, ModelStages.PRODUCTION
        reason = f"already production; gate vs {evaluation_report['incumbent_source']}: "
        reason += decision.reason
    elif decision.promote:
        version.set_stage(ModelStages.PRODUCTION, force=True)  # archives the previous one
        promoted, stage, reason = True, ModelStages.PRODUCTION, decision.reason
    else:
        version.set_stage(ModelStages.STAGING, force=True)
        promoted, stage, reason = False, ModelStages.STAGING, decision.reason
    outcome = {
        "promoted": promoted,
        "stage": str(stage.value),
        "reason": reason,
        "gate_passed": decision.promote,
        "compared_with": evaluation_report["incumbent_source"],
        "margin": ts.promotion_margin,
        "tolerance": ts.regression_tolerance,
        "dagster_run_id": dagster_run_id,
    }
    _log({"promotion": outcome})
    return outcome
