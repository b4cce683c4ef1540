"""The one Dagster code location of embedloop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from assets.chunks import document_chunks
from assets.documents import ingest_documents
from assets.human_review import argilla_review_dataset, human_feedback
from assets.model_training import embedding_evaluation, finetuned_embedding_model
from assets.training_data import hard_negatives, synthetic_queries, training_splits
from orchestration.jobs import ALL_JOBS
from orchestration.resources import build_resources
from orchestration.sensors import build_feedback_sensor
from orchestration.settings import config_path, load_settings
from quality.checks import ALL_CHECKS

ALL_ASSETS = [
    ingest_documents,
    document_chunks,
    synthetic_queries,
    hard_negatives,
    argilla_review_dataset,
    human_feedback,
    training_splits,
    finetuned_embedding_model,
    embedding_evaluation,
]


def build_definitions(
    config_file: Path | str | None = None, loggers: dict[str, Any] | None = None
) -> dg.Definitions:
    """The code location for a config file (default: $EMBEDLOOP_CONFIG or ./embedloop.yaml)."""
    settings = load_settings(config_file or config_path())
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=ALL_CHECKS,
        jobs=ALL_JOBS,
        sensors=[build_feedback_sensor(settings)],
        resources=build_resources(config_file),
        # Steps run one after the other in the run's process: DuckDB admits one writing
        # process at a time, and distilabel pipelines must start from a main thread.
        executor=dg.in_process_executor,
        loggers=loggers,
    )


defs = build_definitions()
