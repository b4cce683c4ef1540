"""The one Dagster code location of embedloop."""

from __future__ import annotations

import dagster as dg

from assets.chunks import document_chunks
from assets.documents import ingest_documents
from assets.training_data import hard_negatives, synthetic_queries, training_splits
from orchestration.jobs import ALL_JOBS
from orchestration.resources import build_resources
from quality.checks import ALL_CHECKS

ALL_ASSETS = [
    ingest_documents,
    document_chunks,
    synthetic_queries,
    hard_negatives,
    training_splits,
]

defs = dg.Definitions(
    assets=ALL_ASSETS,
    asset_checks=ALL_CHECKS,
    jobs=ALL_JOBS,
    resources=build_resources(),
)
