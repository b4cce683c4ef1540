"""The two ZenML pipelines behind the ``finetuned_embedding_model`` and
``embedding_evaluation`` assets.

Importing this module imports zenml: call ``training.zenml_env.configure_zenml`` first.
Both pipelines run uncached: their inputs live in the warehouse, which ZenML cannot hash,
so a cache hit would silently reuse a model trained on old data. They fail fast, so the
failing step's own exception (not "a step failed") reaches the Dagster asset.
"""

import os
from typing import Optional

from zenml import pipeline
from zenml.client import Client
from zenml.enums import ExecutionMode, ModelStages
from zenml.models import ModelVersionResponse

from training.steps import (
    MODEL_ARTIFACT,
    TRAIN_PAIRS,
    VALIDATION_PAIRS,
    evaluate_models,
    load_evaluation_data,
    load_training_data,
    promote,
    train_model,
)

# Name of a step operator registered in the active stack (e.g. a SageMaker, Vertex or
# Kubernetes one with a GPU): only the training step is sent there.
STEP_OPERATOR_ENV = "EMBEDLOOP_STEP_OPERATOR"


@pipeline(enable_cache=False, execution_mode=ExecutionMode.FAIL_FAST)
def finetune_embeddings(config_file: str, dagster_run_id: Optional[str] = None) -> None:  # noqa: UP045
    """Train one new version of the project's ZenML Model (set with ``with_options``).

    load_training_data → train_model; the training step goes to the step operator named by
    ``$EMBEDLOOP_STEP_OPERATOR`` when it is set (e.g. one with a GPU).

    Args:
        config_file: Path of the embedloop.yaml the run uses.
        dagster_run_id: The Dagster run that launched it, recorded for lineage.
    """
    train, validation, corpus, snapshot = load_training_data(config_file=config_file)
    trainer = train_model
    if operator := os.environ.get(STEP_OPERATOR_ENV):
        trainer = train_model.with_options(step_operator=operator)
    trainer(
        train_pairs=train,
        validation_pairs=validation,
        corpus=corpus,
        data_snapshot=snapshot,
        config_file=config_file,
        dagster_run_id=dagster_run_id,
    )


def production_version(client: Client, model_name: str) -> ModelVersionResponse | None:
    """The ZenML Model's production version.

    Args:
        client: The ZenML client of the configured store.
        model_name: The ZenML Model.

    Returns:
        The version in stage production, or None when there is none.
    """
    try:
        return client.get_model_version(model_name, ModelStages.PRODUCTION)
    except KeyError:
        return None


def incumbent_for(client: Client, model_name: str, candidate: ModelVersionResponse) -> int | None:
    """The production version the candidate must beat; None means the base model.

    Not the candidate itself (re-evaluating production compares it with the base model),
    and not a production version without a model artifact.

    Args:
        client: The ZenML client of the configured store.
        model_name: The ZenML Model.
        candidate: The version to be evaluated.

    Returns:
        The production version's number, or None when the base model is the incumbent.

    Raises:
        ValueError: When the candidate has no model artifact (its training failed).
    """
    if candidate.get_model_artifact(MODEL_ARTIFACT) is None:
        raise ValueError(
            f"{model_name} version {candidate.number} has no {MODEL_ARTIFACT!r} artifact "
            "(did its training run fail?)"
        )
    production = production_version(client, model_name)
    if production is None or production.id == candidate.id:
        return None
    if production.get_model_artifact(MODEL_ARTIFACT) is None:
        return None
    return int(production.number)


def require_training_data(model_name: str, version: ModelVersionResponse) -> None:
    """The leakage check needs the data the version trained on, linked to the version.

    Args:
        model_name: The ZenML Model.
        version: The version to be evaluated.

    Raises:
        ValueError: When the version has no train pairs artifact.
    """
    if version.get_data_artifact(TRAIN_PAIRS) is None:
        raise ValueError(
            f"{model_name} version {version.number} has no {TRAIN_PAIRS!r} artifact: its "
            "training data is unknown, so it cannot be checked against the test split"
        )


@pipeline(enable_cache=False, execution_mode=ExecutionMode.FAIL_FAST)
def evaluate_embeddings(
    config_file: str,
    model_name: str,
    model_version: int,
    incumbent_version: Optional[int] = None,  # noqa: UP045
    dagster_run_id: Optional[str] = None,  # noqa: UP045
) -> None:
    """Evaluate a trained version against the base model and ``incumbent_version``
    (production; None = the base model is the incumbent), then gate it.

    The models come in as the stored artifacts of their model versions (lineage in the
    run, no re-download); the base model has no artifact and is loaded from its path.
    Client calls inside a pipeline body are lazy (resolved when the step starts), so the
    caller decides which version is the incumbent: see ``incumbent_for``.

    Args:
        config_file: Path of the embedloop.yaml the run uses.
        model_name: The ZenML Model.
        model_version: The candidate version.
        incumbent_version: The production version to beat; None = the base model.
        dagster_run_id: The Dagster run that launched it, recorded for lineage.
    """
    client = Client()
    version = client.get_model_version(model_name, model_version)
    candidate = version.get_model_artifact(MODEL_ARTIFACT)
    incumbent = None
    if incumbent_version is not None:
        incumbent = client.get_model_version(model_name, incumbent_version).get_model_artifact(
            MODEL_ARTIFACT
        )

    corpus, queries = load_evaluation_data(config_file=config_file)
    report = evaluate_models(
        candidate=candidate,
        corpus=corpus,
        evaluation_queries=queries,
        config_file=config_file,
        incumbent=incumbent,
        incumbent_version=incumbent_version,
        # The candidate's own training data, as its training run stored it: the step
        # refuses a candidate that trained on a document now in the test split.
        train_pairs=version.get_data_artifact(TRAIN_PAIRS),
        validation_pairs=version.get_data_artifact(VALIDATION_PAIRS),
    )
    promote(
        evaluation_report=report,
        config_file=config_file,
        model_name=model_name,
        model_version=model_version,
        dagster_run_id=dagster_run_id,
    )
