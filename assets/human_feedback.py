"""Group ``human_feedback``: people review the candidate pairs and write questions in Argilla.

``argilla_review_dataset`` publishes ``candidate_pairs`` (most uncertain first) and
``human_feedback`` pulls the responses back. ``argilla_question_dataset`` publishes a
uniform sample of chunks for people to write the question each answers, and
``human_questions`` pulls those questions back (test documents: evaluation queries; the
others: training pairs). The logic is in ``embedloop.review``. The sensor that retrains on
new feedback of either dataset is ``orchestration/sensors.py``.
"""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings
from embedloop.data_versions import frame_version
from embedloop.memory import track_memory
from embedloop.models import production_model_path
from embedloop.reports import markdown_table
from embedloop.review import argilla_io, questions_io, questions_task
from embedloop.review.argilla_io import ArgillaConnection
from embedloop.review.feedback import (
    CURRENT_VIEW_SQL,
    append_history,
    current_view,
    decide,
    human_eval_set,
)
from embedloop.review.records import (
    Publication,
    mirror_of,
    plan_publication,
    review_rows,
    review_target,
)
from embedloop.review.vectors import QueryVectors
from embedloop.splits import SPLITS, chunk_splits, split_of
from embedloop.warehouse import (
    CANDIDATE_PAIRS,
    DOCUMENT_CHUNKS,
    EMBEDDING_CACHE,
    FEEDBACK_HISTORY,
    FEEDBACK_PAIRS,
    HUMAN_EVAL,
    HUMAN_QUESTIONS,
    PAIR_RETRIEVAL,
    QUESTION_HISTORY,
    QUESTION_RECORDS,
    QUESTION_TARGET,
    REVIEW_RECORDS,
    REVIEW_TARGET,
    SOURCE_DOCUMENTS,
    read_table,
    replace_tables,
)

GROUP = "human_feedback"
# Bump when a change to this module changes what the assets write (Dagster marks them stale).
CODE_VERSION = "1"


def argilla_failure(err: Exception, action: str) -> dg.Failure:
    """What an Argilla asset raises when the server goes away: nothing was written."""
    return dg.Failure(
        description=f"{action} failed, nothing was written locally; the next run resumes. "
        f"Cause: {err}"
    )


@dg.asset(
    deps=["candidate_pairs"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="The candidate pairs in an Argilla dataset for human review, most uncertain "
    "first (metadata `priority`). Re-publishing updates records and never deletes one.",
)
@track_memory
def argilla_review_dataset(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        docs = read_table(conn, SOURCE_DOCUMENTS)
        rows = review_rows(
            read_table(conn, CANDIDATE_PAIRS),
            read_table(conn, DOCUMENT_CHUNKS),
            docs,
            read_table(conn, PAIR_RETRIEVAL),
        )
        published = read_table(conn, REVIEW_RECORDS)
        stored_target = read_table(conn, REVIEW_TARGET)
        cache = read_table(conn, EMBEDDING_CACHE)
    live_docs = set(docs.loc[~docs["deleted"].astype(bool), "doc_id"])
    model_path = production_model_path(settings)
    vectors = QueryVectors.for_settings(settings, cache)  # the serving backend
    now = datetime.now(UTC)
    name = settings.argilla.dataset
    try:
        dataset = argilla_io.ensure_dataset(
            argilla.client(), argilla.workspace, name, vectors.dimension()
        )
        target = review_target(argilla.api_url, argilla.workspace, name, str(dataset.id), now)
        mirror, target = mirror_of(published, stored_target, target)
        plan = plan_publication(rows, mirror, live_docs, settings.argilla.max_records, now)
        sent = argilla_io.publish(dataset, plan.to_send, vectors, settings.argilla.batch_size)
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Publishing to Argilla") from err
    # Written only once every batch is in Argilla: a failed run re-sends the same records.
    with duckdb.get_connection() as conn:
        replace_tables(conn, {REVIEW_RECORDS: plan.table, REVIEW_TARGET: target})
    return dg.MaterializeResult(
        metadata={
            "dataset_url": dg.MetadataValue.url(
                f"{argilla.api_url}/dataset/{dataset.id}/annotation-mode"
            ),
            **_publication_metadata(plan),
            "sent": dg.MetadataValue.int(sent),
            "republished_to_new_dataset": dg.MetadataValue.bool(
                len(published) > 0 and mirror is not published
            ),
            "vector_model": model_path,
            "texts_encoded": dg.MetadataValue.int(vectors.encoded),
            "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
        },
        # What reviewers see: which pairs, their content and state (not when they were sent).
        data_version=dg.DataVersion(
            frame_version(plan.table, ["pair_id", "content_hash", "chunk_state", "priority"])
        ),
    )


def _publication_metadata(plan: Publication) -> dict[str, Any]:
    table = plan.table
    top = table[table["chunk_state"] == "current"].head(10)
    states = table["chunk_state"].value_counts()
    return {
        "records": dg.MetadataValue.int(len(table)),
        "new": dg.MetadataValue.int(plan.new),
        "updated": dg.MetadataValue.int(plan.updated),
        "flagged_changed_or_removed": dg.MetadataValue.int(plan.flagged),
        "by_state": dg.MetadataValue.md(
            markdown_table([{"chunk_state": k, "records": int(v)} for k, v in states.items()])
        ),
        "most_uncertain": dg.MetadataValue.md(
            markdown_table(top[["priority", "query", "doc_id"]].to_dict("records"))
        ),
        "dagster/row_count": dg.MetadataValue.int(len(table)),
    }


@dg.asset(
    deps=["argilla_review_dataset"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="Submitted reviews pulled from Argilla into an append-only history, the "
    "per-pair decisions derived from it (accepted / partial / rejected, corrected queries) "
    "and the human-validated evaluation set.",
)
@track_memory
def human_feedback(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    try:
        client = argilla.client()
        dataset = argilla_io.find_dataset(client, argilla.workspace, settings.argilla.dataset)
        pulled = (
            argilla_io.fetch_responses(client, dataset)
            if dataset is not None
            else pd.DataFrame(columns=argilla_io.RESPONSE_COLUMNS)
        )
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Pulling feedback from Argilla") from err
    with duckdb.get_connection() as conn:
        history, appended = append_history(
            read_table(conn, FEEDBACK_HISTORY), pulled, datetime.now(UTC)
        )
        decisions = decide(current_view(history), read_table(conn, REVIEW_RECORDS))
        evaluation = human_eval_set(decisions)
        replace_tables(
            conn, {FEEDBACK_HISTORY: history, FEEDBACK_PAIRS: decisions, HUMAN_EVAL: evaluation}
        )
        conn.execute(CURRENT_VIEW_SQL)
    counts = decisions["decision"].value_counts()
    return dg.MaterializeResult(
        metadata={
            "responses_pulled": dg.MetadataValue.int(len(pulled)),
            "history_appended": dg.MetadataValue.int(appended),
            "history_rows": dg.MetadataValue.int(len(history)),
            **{
                f"pairs_{d}": dg.MetadataValue.int(int(counts.get(d, 0)))
                for d in ("accepted", "partial", "rejected")
            },
            "corrected_queries": dg.MetadataValue.int(
                int(decisions["corrected_query"].notna().sum())
            ),
            "human_eval_queries": dg.MetadataValue.int(len(evaluation)),
            "annotators": dg.MetadataValue.int(int(history["user_id"].nunique())),
            "dagster/row_count": dg.MetadataValue.int(len(decisions)),
        },
        data_version=dg.DataVersion(frame_version(decisions)),
    )


@dg.asset(
    deps=["document_chunks"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="A uniform random sample of current chunks (test-split documents topped up "
    "to argilla.question_min_test) in a second Argilla dataset, where people write the "
    "question each passage answers. Re-publishing updates records and never deletes one.",
)
@track_memory
def argilla_question_dataset(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        docs = read_table(conn, SOURCE_DOCUMENTS)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        published = read_table(conn, QUESTION_RECORDS)
        stored_target = read_table(conn, QUESTION_TARGET)
    live_docs = set(docs.loc[~docs["deleted"].astype(bool), "doc_id"])
    now = datetime.now(UTC)
    name = settings.argilla.question_dataset
    try:
        dataset = questions_io.ensure_question_dataset(argilla.client(), argilla.workspace, name)
        target = review_target(argilla.api_url, argilla.workspace, name, str(dataset.id), now)
        mirror, target = mirror_of(published, stored_target, target, QUESTION_RECORDS)
        rows = questions_task.question_candidates(
            chunks, docs, mirror, settings.splits, settings.argilla
        )
        plan = plan_publication(
            rows, mirror, live_docs, None, now, key="record_id", records=QUESTION_RECORDS
        )
        sent = questions_io.publish_questions(dataset, plan.to_send, settings.argilla.batch_size)
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Publishing the question task to Argilla") from err
    with duckdb.get_connection() as conn:
        replace_tables(conn, {QUESTION_RECORDS: plan.table, QUESTION_TARGET: target})
    current = plan.table.loc[plan.table["chunk_state"] == "current", "split"].value_counts()
    every = pd.Series(chunk_splits(chunks, settings.splits)).value_counts()
    by_split = [
        {"split": s, "chunks": int(every.get(s, 0)), "records": int(current.get(s, 0))}
        for s in SPLITS
    ]
    return dg.MaterializeResult(
        metadata={
            "dataset_url": dg.MetadataValue.url(
                f"{argilla.api_url}/dataset/{dataset.id}/annotation-mode"
            ),
            "records": dg.MetadataValue.int(len(plan.table)),
            "new": dg.MetadataValue.int(plan.new),
            "updated": dg.MetadataValue.int(plan.updated),
            "flagged_changed_or_removed": dg.MetadataValue.int(plan.flagged),
            "sent": dg.MetadataValue.int(sent),
            "sample_by_split": dg.MetadataValue.md(markdown_table(by_split)),
            "dagster/row_count": dg.MetadataValue.int(len(plan.table)),
        }
    )


@dg.asset(
    deps=["argilla_question_dataset"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="Questions people wrote in the question task: every response version in "
    "the append-only question_history, each annotator's latest submitted question per "
    "record in human_questions, with the split of the passage's document.",
)
@track_memory
def human_questions(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    name = settings.argilla.question_dataset
    try:
        client = argilla.client()
        dataset = argilla_io.find_dataset(client, argilla.workspace, name)
        pulled = (
            questions_io.fetch_question_responses(client, dataset)
            if dataset is not None
            else pd.DataFrame(columns=questions_io.RESPONSE_COLUMNS)
        )
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Pulling questions from Argilla") from err
    with duckdb.get_connection() as conn:
        history, appended = questions_task.append_question_history(
            read_table(conn, QUESTION_HISTORY), pulled, datetime.now(UTC)
        )
        questions = questions_task.human_questions(
            history, read_table(conn, QUESTION_RECORDS), lambda d: split_of(d, settings.splits)
        )
        replace_tables(conn, {QUESTION_HISTORY: history, HUMAN_QUESTIONS: questions})
    latest = questions_task.latest_responses(history)
    sizes = questions["split"].value_counts()
    return dg.MaterializeResult(
        metadata={
            "responses_pulled": dg.MetadataValue.int(len(pulled)),
            "history_appended": dg.MetadataValue.int(appended),
            **{f"{s}_questions": dg.MetadataValue.int(int(sizes.get(s, 0))) for s in SPLITS},
            "discarded": dg.MetadataValue.int(int((latest["status"] == "discarded").sum())),
            "annotators": dg.MetadataValue.int(int(questions["annotator"].nunique())),
            "latest": dg.MetadataValue.md(
                markdown_table(questions.tail(10)[["split", "query", "doc_id"]].to_dict("records"))
            ),
            "dagster/row_count": dg.MetadataValue.int(len(questions)),
        }
    )
