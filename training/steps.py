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
from embedloop.evaluation.sets import sets_from_table
from embedloop.models import as_served, hub_offline, load_sentence_transformer
from training import data
from training.evaluation import evaluation_report, matryoshka_dims, score_models
from training.finetune import finetune
from training.materializers import SentenceTransformerMaterializer
from training.promotion import decide_from_report

MODEL_ARTIFACT = "finetuned_model"
TRAINING_METRICS = "training_metrics"
EVALUATION_REPORT = "evaluation_report"
PROMOTION = "promotion"
TRAIN_PAIRS = "train_pairs"
VALIDATION_PAIRS = "validation_pairs"

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
    Annotated[pd.DataFrame, TRAIN_PAIRS],
    Annotated[pd.DataFrame, VALIDATION_PAIRS],
    Annotated[pd.DataFrame, "corpus"],
    Annotated[dict, "data_snapshot"],
]:
    """The pairs to train on, validation pairs, the corpus and a hash of them all.

    Trains on the train split until people's questions gate promotion; from then on on
    every document but validation's, with the gate's questions kept out of every input
    (see ``embedloop.evaluation.holdout``).

    Args:
        config_file: Path of the embedloop.yaml the run uses.

    Returns:
        The train pairs, the validation pairs, the corpus (chunk_id, text) and the data
        snapshot (hashes and counts of them, recorded on the model version).

    Raises:
        ValueError: When the warehouse holds no train pairs or no chunks.
    """
    settings = load_settings(config_file)
    pairs, corpus = data.read_pairs_and_corpus(settings)
    frame = data.training_frame(
        pairs, data.gate_questions(settings), settings.training.min_real_queries
    )
    train = frame.pairs
    data.require_rows(train, "training_splits (split = 'train')")
    data.require_rows(corpus, "document_chunks")
    snapshot = {**data.data_snapshot(pairs, corpus), **frame.as_metadata()}
    return train, frame.validation, corpus, snapshot


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
    """Finetune the embedding model on the train pairs (``training.finetune``).

    Matryoshka loss over in-batch and hard negatives, bounded by the step and time budget,
    then the weight average with the base model. Hyperparameters, the data snapshot and the
    Dagster run that asked for it are logged on the ZenML Model version.

    Args:
        train_pairs: (query, positive[, negative]) rows to train on.
        validation_pairs: Rows scored during training for the best checkpoint.
        corpus: Every chunk (chunk_id, text), the candidates of the validation ranking.
        data_snapshot: What the model was trained on, from ``load_training_data``.
        config_file: Path of the embedloop.yaml the run uses.
        dagster_run_id: The Dagster run that launched this pipeline, for lineage.

    Returns:
        The served model (a ZenML model artifact) and its training metrics (loss and
        validation nDCG@10 history, best step, duration, device, precision and why, base
        weight).
    """
    settings = load_settings(config_file)
    result = finetune(settings, train_pairs, validation_pairs, corpus)
    metrics = {
        "loss_history": [list(p) for p in result.loss_history],
        "validation_ndcg@10_history": [list(p) for p in result.validation_history],
        "best_step": result.best_step,
        "duration_s": round(result.duration_s, 3),
        "samples_per_s": round(result.samples_per_s, 3),
        "device": result.device,
        "precision": result.hyperparameters["precision"],  # fp32, bf16 or fp16
        "precision_reason": result.hyperparameters["precision_reason"],
        "base_weight": result.base_weight,
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
            "precision": metrics["precision"],
            "precision_reason": metrics["precision_reason"],
        }
    )
    return result.model, metrics


@step
def load_evaluation_data(
    config_file: str,
) -> tuple[
    Annotated[pd.DataFrame, "corpus"],
    Annotated[pd.DataFrame, "evaluation_queries"],
]:
    """The current corpus and the evaluation sets as the ``evaluation_sets`` asset wrote them.

    Args:
        config_file: Path of the embedloop.yaml the run uses.

    Returns:
        The corpus as scored (chunk_id, text, without FAQ question headings) and the
        ``evaluation_queries`` table (one row per query of every set).

    Raises:
        ValueError: When there is nothing to evaluate on.
    """
    corpus, queries = data.read_evaluation_data(load_settings(config_file))
    return corpus, queries  # a tuple literal: ZenML reads the return statement


@step(settings=GPU)
def evaluate_models(
    candidate: SentenceTransformer,
    corpus: pd.DataFrame,
    evaluation_queries: pd.DataFrame,
    config_file: str,
    incumbent: Optional[SentenceTransformer] = None,  # noqa: UP045
    incumbent_version: Optional[int] = None,  # noqa: UP045
    train_pairs: Optional[pd.DataFrame] = None,  # noqa: UP045 - the candidate's training data
    validation_pairs: Optional[pd.DataFrame] = None,  # noqa: UP045
) -> Annotated[dict, EVALUATION_REPORT]:
    """Base, incumbent and candidate on every evaluation set, with the full corpus.

    Each model is scored as it would be served: with its own saved max_seq_length, on the
    serving backend (``model.backend``; training is always torch). A
    candidate trained on a document that is now in the test split is refused.

    Args:
        candidate: The model to judge.
        corpus: Every chunk (chunk_id, text): each query ranks all of them.
        evaluation_queries: The evaluation sets, from ``load_evaluation_data``.
        config_file: Path of the embedloop.yaml the run uses.
        incumbent: The production model, or None to compare with the base model only.
        incumbent_version: The incumbent's ZenML version number, for the report.
        train_pairs: The candidate's train pairs, checked for leaks into the test split.
        validation_pairs: The candidate's validation pairs, checked the same way.

    Returns:
        The evaluation report: metrics per set, model and dim, per-query nDCG@10, the
        paired bootstrap intervals and the hashes of the sets.

    Raises:
        ValueError: When the candidate's training data is unknown or leaks into a set.
    """
    settings = load_settings(config_file)
    sets = sets_from_table(evaluation_queries)
    if train_pairs is None:
        raise ValueError("the candidate has no recorded training data: cannot check leakage")
    data.check_no_leak(sets, train_pairs, validation_pairs, settings.training.min_real_queries)
    native = candidate.get_embedding_dimension() or 0
    dims = matryoshka_dims(settings.training.matryoshka_dims, native)
    base = load_sentence_transformer(
        settings.model.resolved_base_model(), offline=hub_offline(settings)
    )
    texts = dict(zip(corpus["chunk_id"], corpus["text"], strict=True))
    models = {"base": base, "candidate": candidate, "incumbent": incumbent}
    served = {name: m if m is None else as_served(m, settings) for name, m in models.items()}
    scores = score_models(served, sets, texts, dims)
    ts = settings.training
    bootstrap = {"resamples": ts.bootstrap_resamples, "confidence": ts.confidence, "seed": ts.seed}
    report: dict[str, Any] = {
        **evaluation_report(sets, scores, native, ts.min_real_queries, bootstrap),
        "dims": dims,
        "corpus_size": len(texts),
        "incumbent_version": incumbent_version,
        "incumbent_source": f"production version {incumbent_version}" if incumbent else "base",
    }
    _log({"evaluation": without_per_query(report), "test_set_hash": report["test_set_hash"]})
    return report


def without_per_query(report: dict[str, Any]) -> dict[str, Any]:
    """The report for metadata: per-query scores stay in the artifact.

    Args:
        report: An ``evaluate_models`` report.

    Returns:
        The report without each set's ``per_query_ndcg``.
    """
    sets = {
        name: {k: v for k, v in entry.items() if k != "per_query_ndcg"}
        for name, entry in report["sets"].items()
    }
    return {**report, "sets": sets}


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

    Args:
        evaluation_report: The report of ``evaluate_models``.
        config_file: Path of the embedloop.yaml the run uses (margin, tolerance).
        model_name: The ZenML Model.
        model_version: The version to promote or stage.
        dagster_run_id: The Dagster run that launched this pipeline, for lineage.

    Returns:
        The decision: promoted, stage, reason, what it was compared with, the gate's
        primary set and interval.
    """
    ts = load_settings(config_file).training
    decision = decide_from_report(evaluation_report, ts)
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
        "primary_set": decision.primary_set,
        "interval": decision.interval,
        "test_set_hash": evaluation_report["test_set_hash"]["all"],
        "dagster_run_id": dagster_run_id,
    }
    _log({"promotion": outcome})
    return outcome
