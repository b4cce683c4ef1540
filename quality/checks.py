"""Every Dagster asset check, backed by the GX suites of ``quality.suites``.

Blocking (severity ERROR) where bad data must stop the downstream assets; the one warning
check compares the finetuned model with the base model after evaluation.
"""

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.chunking.incremental import chunker_for
from embedloop.config import Settings
from embedloop.metrics import PRIMARY
from embedloop.reports import markdown_table
from embedloop.splits import chunk_splits
from embedloop.warehouse import (
    CANDIDATE_PAIRS,
    DOCUMENT_CHUNKS,
    HARD_NEGATIVES,
    HUMAN_QUESTIONS,
    SKIPPED_DOCUMENTS,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    TRAINING_SPLITS,
    read_table,
)
from quality.gx_validation import ValidationOutcome
from quality.suites import (
    validate_document_chunks,
    validate_hard_negatives,
    validate_human_question_leakage,
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
            "failures": dg.MetadataValue.text(outcome.failures_text()),
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
        documents = read_table(conn, SOURCE_DOCUMENTS)
    return to_check_result(validate_source_documents(documents))


@dg.asset_check(
    asset="source_documents",
    blocking=True,
    description="GX: the share of skipped files stays under ingestion.max_skipped_ratio.",
)
def skipped_ratio_within_limit(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    limit = settings.ingestion.max_skipped_ratio
    with duckdb.get_connection() as conn:
        documents = read_table(conn, SOURCE_DOCUMENTS)
        skipped = read_table(conn, SKIPPED_DOCUMENTS)
    outcome = validate_skipped_ratio(documents, skipped, limit)
    return to_check_result(outcome, {"max_skipped_ratio": dg.MetadataValue.float(limit)})


@dg.asset_check(
    asset="document_chunks",
    blocking=True,
    description="GX: unique chunk ids, non-empty text, tokens within budget, "
    "every origin document exists.",
)
def document_chunks_valid(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    _, params = chunker_for(settings)
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        documents = read_table(conn, SOURCE_DOCUMENTS)
    outcome = validate_document_chunks(chunks, documents, params.max_tokens)
    return to_check_result(outcome, {"max_tokens": dg.MetadataValue.int(params.max_tokens)})


@dg.asset_check(
    asset="synthetic_queries",
    blocking=True,
    description="GX: unique non-null pair ids, non-empty queries and positives.",
)
def synthetic_queries_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        queries = read_table(conn, SYNTHETIC_QUERIES)
    return to_check_result(validate_synthetic_queries(queries))


@dg.asset_check(
    asset="hard_negatives",
    blocking=True,
    description="GX: no negative is its own positive, has the positive's text or comes from "
    "the positive's section; every negative is a current chunk of a known pair.",
)
def hard_negatives_valid(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        negatives = read_table(conn, HARD_NEGATIVES)
        queries = read_table(conn, SYNTHETIC_QUERIES)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
    return to_check_result(validate_hard_negatives(negatives, queries, chunks))


def _pairs_check(asset: str, table: Any, description: str) -> dg.AssetChecksDefinition:
    """The split suite on candidate_pairs or training_splits (same schema, same rules)."""

    @dg.asset_check(name=f"{asset}_valid", asset=asset, blocking=True, description=description)
    def check(settings: dg.ResourceParam[Settings], duckdb: DuckDBResource) -> dg.AssetCheckResult:
        with duckdb.get_connection() as conn:
            pairs = read_table(conn, table)
            chunks = read_table(conn, DOCUMENT_CHUNKS)
        outcome = validate_training_splits(
            pairs,
            settings.splits.max_queries_per_chunk,
            chunk_splits(chunks, settings.splits),
            suite=asset,
        )
        return to_check_result(outcome)

    return check


_SPLIT_RULES = (
    "unique pairs, no document in two splits, no test query in train, no negative equal "
    "to its positive, no train or validation pair with a negative from a test document, "
    "queries per chunk within bounds."
)
candidate_pairs_valid = _pairs_check("candidate_pairs", CANDIDATE_PAIRS, "GX: " + _SPLIT_RULES)
training_splits_valid = _pairs_check(
    "training_splits", TRAINING_SPLITS, "GX, after human review: " + _SPLIT_RULES
)


@dg.asset_check(
    asset="training_splits",
    blocking=True,
    description="GX: no question people wrote for a test-split passage (table "
    "human_questions) is in the training table; they are evaluation queries.",
)
def training_splits_exclude_test_questions(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        pairs = read_table(conn, TRAINING_SPLITS)
        questions = read_table(conn, HUMAN_QUESTIONS)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
    outcome = validate_human_question_leakage(
        pairs, questions, chunk_splits(chunks, settings.splits)
    )
    test_questions = int((questions["split"] == "test").sum())
    return to_check_result(outcome, {"test_questions": dg.MetadataValue.int(test_questions)})


@dg.asset_check(
    asset="embedding_evaluation",
    description="Warns when the finetuned model's nDCG@10 at the native dim is below the "
    "base model's on the gate's primary set (real questions when there are enough, else the "
    "synthetic test split); every set where it is below base is listed.",
)
def finetuned_not_worse_than_base(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("embedding_evaluation"))
    materialization = event.asset_materialization if event else None
    if materialization is None:
        raise dg.Failure("embedding_evaluation has not been materialized yet")
    meta = materialization.metadata
    native = str(meta["native_dim"].value)
    # The primary set's values per dim (the combined set when it is questions + human).
    by_dim: Any = meta[f"{PRIMARY}_by_dim"].value
    base, tuned = by_dim[native]["base"], by_dim[native]["finetuned"]
    by_set: Any = meta[f"{PRIMARY}_by_set"].value if f"{PRIMARY}_by_set" in meta else {}
    rows = [
        {
            "set": name,
            "n": entry["n"],
            **{k: round(v, 4) for k, v in entry["by_dim"][native].items()},
        }
        for name, entry in sorted(by_set.items())
        if entry["n"] and native in entry["by_dim"]
    ]
    worse = [r["set"] for r in rows if r["candidate"] < r["base"]]
    primary = str(meta["primary_set"].value) if "primary_set" in meta else "synthetic"
    return dg.AssetCheckResult(
        passed=tuned >= base,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "dim": dg.MetadataValue.int(int(native)),
            "primary_set": primary,
            "base": dg.MetadataValue.float(round(base, 4)),
            "finetuned": dg.MetadataValue.float(round(tuned, 4)),
            "worse_than_base_on": ", ".join(worse) or "none",
            "by_set": dg.MetadataValue.md(markdown_table(rows)),
        },
    )


ALL_CHECKS = [
    source_documents_valid,
    skipped_ratio_within_limit,
    document_chunks_valid,
    synthetic_queries_valid,
    hard_negatives_valid,
    candidate_pairs_valid,
    training_splits_valid,
    training_splits_exclude_test_questions,
    finetuned_not_worse_than_base,
]
