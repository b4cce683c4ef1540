"""The one Dagster code location of embedloop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from assets.evaluation import evaluation_sets
from assets.human_feedback import (
    argilla_question_dataset,
    argilla_review_dataset,
    human_feedback,
    human_questions,
)
from assets.ingestion import document_chunks, ingest_documents
from assets.search_feedback import argilla_search_dataset, search_judgments, search_log
from assets.serving import production_index
from assets.sources import documentation_sources
from assets.training import embedding_evaluation, finetuned_embedding_model
from assets.training_data import candidate_pairs, hard_negatives, synthetic_queries, training_splits
from embedloop.config import config_path, load_settings
from orchestration.jobs import ALL_JOBS
from orchestration.resources import build_resources
from orchestration.rollback import index_after_rollback_sensor, production_index_job, rollback_job
from orchestration.schedules import build_refresh_schedule
from orchestration.sensors import build_feedback_sensor, build_search_log_sensor
from orchestration.source_automation import build_source_automation_sensor, with_source_automation
from orchestration.source_sensor import build_source_sensor
from quality.checks import ALL_CHECKS
from quality.search_checks import SEARCH_CHECKS

ALL_ASSETS = [
    ingest_documents,
    document_chunks,
    synthetic_queries,
    hard_negatives,
    candidate_pairs,
    argilla_review_dataset,
    human_feedback,
    argilla_question_dataset,
    human_questions,
    search_log,
    argilla_search_dataset,
    search_judgments,
    training_splits,
    finetuned_embedding_model,
    evaluation_sets,
    embedding_evaluation,
    production_index,
]


def build_definitions(
    config_file: Path | str | None = None,
    loggers: dict[str, Any] | None = None,
    wait_for_lock: bool = True,
) -> dg.Definitions:
    """The code location for a config file (default: $EMBEDLOOP_CONFIG or ./embedloop.yaml).

    ``wait_for_lock``: a run started while another holds the data directory queues behind
    it (runs Dagster launches) or fails at once naming it (`embedloop run` without --wait).
    """
    settings = load_settings(config_file or config_path())
    return dg.Definitions(
        # The sources are observed (by the source sensor), not built.
        # What a source change rebuilds is declarative automation (source_automation).
        assets=[documentation_sources, *with_source_automation(ALL_ASSETS)],
        asset_checks=[*ALL_CHECKS, *SEARCH_CHECKS],
        jobs=[*ALL_JOBS, rollback_job, production_index_job],
        schedules=[build_refresh_schedule(settings)],
        sensors=[
            build_feedback_sensor(settings),
            build_search_log_sensor(settings),
            build_source_sensor(settings),
            build_source_automation_sensor(settings),
            index_after_rollback_sensor,
        ],
        resources=build_resources(config_file, wait_for_lock=wait_for_lock),
        # Steps run one after the other in the run's process: DuckDB admits one writing
        # process at a time, and distilabel pipelines must start from a main thread.
        executor=dg.in_process_executor,
        loggers=loggers,
    )


defs = build_definitions()
