"""Dagster asset checks backed by the GX suites; blocking where bad data must stop."""

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.warehouse import (
    DOCUMENT_CHUNKS,
    SKIPPED_DOCUMENTS,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    TRAINING_SPLITS,
    read_table,
)
from orchestration.resources import SettingsResource
from quality.gx_validation import ValidationOutcome
from quality.suites import (
    validate_document_chunks,
    validate_skipped_ratio,
    validate_source_documents,
    validate_synthetic_queries,
    validate_training_splits,
)


def to_check_result(
    outcome: ValidationOutcome, extra: dict[str, Any] | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "suite": outcome.suite,
            "evaluated_expectations": dg.MetadataValue.int(outcome.evaluated),
            "successful_expectations": dg.MetadataValue.int(outcome.successful),
            "success_percent": dg.MetadataValue.float(round(outcome.success_percent, 1)),
            "failing_expectations": dg.MetadataValue.md(outcome.failures_markdown()),
            **(extra or {}),
        },
    )


@dg.asset_check(
    asset="source_documents",
    blocking=True,
    description="GX: unique non-null doc ids, non-empty text, valid hashes and formats.",
)
def source_documents_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        documents = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
    return to_check_result(validate_source_documents(documents))


@dg.asset_check(
    asset="source_documents",
    blocking=True,
    description="GX: the share of skipped files stays under ingestion.max_skipped_ratio.",
)
def skipped_ratio_within_limit(
    settings: SettingsResource, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    limit = settings.load().ingestion.max_skipped_ratio
    with duckdb.get_connection() as conn:
        documents = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
        skipped = read_table(conn, "skipped_documents", SKIPPED_DOCUMENTS)
    outcome = validate_skipped_ratio(documents, skipped, limit)
    return to_check_result(outcome, {"max_skipped_ratio": dg.MetadataValue.float(limit)})


@dg.asset_check(
    asset="document_chunks",
    blocking=True,
    description="GX: unique chunk ids, non-empty text, tokens within budget, "
    "every origin document exists.",
)
def document_chunks_valid(
    settings: SettingsResource, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    from assets.chunks import chunker_for

    _, params = chunker_for(settings.load())
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, "document_chunks", DOCUMENT_CHUNKS)
        documents = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
    outcome = validate_document_chunks(chunks, documents, params.max_tokens)
    return to_check_result(outcome, {"max_tokens": dg.MetadataValue.int(params.max_tokens)})


@dg.asset_check(
    asset="synthetic_queries",
    blocking=True,
    description="GX: unique non-null pair ids, non-empty queries and positives.",
)
def synthetic_queries_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        queries = read_table(conn, "synthetic_queries", SYNTHETIC_QUERIES)
    return to_check_result(validate_synthetic_queries(queries))


@dg.asset_check(
    asset="training_splits",
    blocking=True,
    description="GX: unique pairs, no document in two splits, no test query in train, "
    "no negative equal to its positive, queries per chunk within bounds.",
)
def training_splits_valid(
    settings: SettingsResource, duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    limit = settings.load().splits.max_queries_per_chunk
    with duckdb.get_connection() as conn:
        pairs = read_table(conn, "training_splits", TRAINING_SPLITS)
    return to_check_result(validate_training_splits(pairs, limit))


ALL_CHECKS = [
    source_documents_valid,
    skipped_ratio_within_limit,
    document_chunks_valid,
    synthetic_queries_valid,
    training_splits_valid,
]
