"""Group ``feedback``: the people who search teach the loop.

``search_log`` copies new searches and searcher feedback from the search log beside the
index (``embedloop.searches.log``) into the warehouse, reading from its cursor on, never
the whole log; it applies purges and ``serve.log_retention_days``. Blocking checks
(``quality/search_checks.py``) stop an empty query, an unknown model version or feedback
about nothing before ``argilla_search_dataset`` publishes a sample of searches for people
to judge passage by passage, and ``search_judgments`` pulls their judgments back: the
training pairs and the ``searches`` evaluation set come from there
(``embedloop.searches.judgments``). ``search_log_sensor`` runs the first two as searches
come in; the feedback sensor counts the judgments with the other responses.
"""

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.human_feedback import argilla_failure
from embedloop.config import Settings
from embedloop.data_versions import frame_version
from embedloop.index.build import IndexTarget
from embedloop.memory import track_memory
from embedloop.reports import markdown_table
from embedloop.review import argilla_io, searches_io
from embedloop.review.argilla_io import ArgillaConnection
from embedloop.review.records import mirror_of, review_target
from embedloop.searches.judgments import (
    append_search_history,
    evaluation_rows,
    judge,
    unscorable_evaluations,
)
from embedloop.searches.log import LogCursor, open_search_log
from embedloop.searches.merge import merge_log
from embedloop.searches.publication import (
    EVALUATE,
    SearchPublication,
    plan_search_publication,
)
from embedloop.searches.tables import (
    SEARCH_FEEDBACK,
    SEARCH_HISTORY,
    SEARCH_JUDGMENTS,
    SEARCH_LOG_STATE,
    SEARCH_RECORDS,
    SEARCH_TARGET,
    SEARCHES,
)
from embedloop.warehouse import DOCUMENT_CHUNKS, read_table, replace_tables

GROUP = "feedback"
# Bump when a change to this module changes what the assets write (Dagster marks them stale).
CODE_VERSION = "1"


@dg.asset(
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"sqlite", "postgres", "duckdb"},
    description="Searches people ran (API and CLI) and their feedback, copied incrementally "
    "from the search log beside the index; purged and expired searches dropped.",
)
@track_memory
def search_log(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    vector_index: dg.ResourceParam[IndexTarget],
) -> dg.MaterializeResult:
    log = open_search_log(settings.data_dir, vector_index.postgres_url)
    now = datetime.now(UTC)
    try:
        expired = 0
        if settings.serve.log_retention_days is not None:
            horizon = now - timedelta(days=settings.serve.log_retention_days)
            expired = log.purge(horizon, record_empty=False)
        with duckdb.get_connection() as conn:
            state = read_table(conn, SEARCH_LOG_STATE)
            cursor = LogCursor.parse(state["cursor"].iloc[0] if len(state) else None)
            batch = log.read_since(cursor)
            merged = merge_log(read_table(conn, SEARCHES), read_table(conn, SEARCH_FEEDBACK), batch)
            replace_tables(
                conn,
                {
                    SEARCHES: merged.searches,
                    SEARCH_FEEDBACK: merged.feedback,
                    SEARCH_LOG_STATE: pd.DataFrame(
                        [{"cursor": batch.cursor.dumps(), "read_at": now}]
                    ),
                },
            )
    finally:
        log.close()
    searches = merged.searches
    unhelpful = merged.feedback[~merged.feedback["helpful"].astype(bool)]
    recent = searches.sort_values("searched_at").tail(10)
    return dg.MaterializeResult(
        metadata={
            "new_searches": dg.MetadataValue.int(len(batch.searches)),
            "new_feedback": dg.MetadataValue.int(len(batch.feedback)),
            "purged_searches": dg.MetadataValue.int(merged.purged),
            "expired_by_retention": dg.MetadataValue.int(expired),
            "searches": dg.MetadataValue.int(len(searches)),
            "searches_with_unhelpful_feedback": dg.MetadataValue.int(
                int(unhelpful["search_id"].nunique())
            ),
            "by_model_version": dg.MetadataValue.md(
                markdown_table(
                    [
                        {"model_version": v, "searches": int(n)}
                        for v, n in searches["model_version"].value_counts().sort_index().items()
                    ]
                )
            ),
            "latest": dg.MetadataValue.md(
                markdown_table(recent[["searched_at", "model_version", "query"]].to_dict("records"))
            ),
            "cursor": batch.cursor.dumps(),
            "dagster/row_count": dg.MetadataValue.int(len(searches)),
        }
    )


@dg.asset(
    deps=["search_log", "document_chunks"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="A sample of real searches in a third Argilla dataset (argilla.search_dataset):"
    " the query and its returned passages, one judgment per passage. Unhelpful searches and "
    "low top scores first; roles train/evaluate fixed at publication; queries scrubbed.",
)
@track_memory
def argilla_search_dataset(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        searches = read_table(conn, SEARCHES)
        feedback = read_table(conn, SEARCH_FEEDBACK)
        published = read_table(conn, SEARCH_RECORDS)
        stored_target = read_table(conn, SEARCH_TARGET)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        # The judgments pulled so far (search_judgments, downstream: its last run) tell
        # which evaluation searches can score, for the roles of the new ones.
        unscorable = unscorable_evaluations(read_table(conn, SEARCH_JUDGMENTS))
    texts = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    cfg = settings.argilla
    now = datetime.now(UTC)
    try:
        dataset = searches_io.ensure_search_dataset(
            argilla.client(), argilla.workspace, cfg.search_dataset, cfg.search_passages
        )
        target = review_target(
            argilla.api_url, argilla.workspace, cfg.search_dataset, str(dataset.id), now
        )
        mirror, target = mirror_of(published, stored_target, target, SEARCH_RECORDS)
        purged = mirror[~mirror["search_id"].isin(set(searches["search_id"]))]
        if len(purged):  # a purge is a person's request to forget: the one deletion
            searches_io.delete_records(dataset, list(purged["record_id"]))
        kept = mirror[~mirror["record_id"].isin(set(purged["record_id"]))]
        plan = plan_search_publication(
            searches, feedback, kept, cfg, settings.feedback, now, unscorable
        )
        sent = searches_io.publish_searches(
            dataset, plan.to_send, texts, cfg.search_passages, cfg.batch_size
        )
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Publishing searches to Argilla") from err
    with duckdb.get_connection() as conn:
        replace_tables(conn, {SEARCH_RECORDS: plan.table, SEARCH_TARGET: target})
    url = f"{argilla.api_url}/dataset/{dataset.id}/annotation-mode"
    metadata = _publication_metadata(plan, url, len(purged), sent)
    metadata["duration_s"] = dg.MetadataValue.float(round(time.perf_counter() - started, 3))
    return dg.MaterializeResult(metadata=metadata)


def _publication_metadata(
    plan: SearchPublication, url: str, purged: int, sent: int
) -> dict[str, dg.MetadataValue]:
    roles = plan.table["role"].value_counts()
    first = plan.table.sort_values("priority", ascending=False).head(10)
    return {
        "dataset_url": dg.MetadataValue.url(url),
        "records": dg.MetadataValue.int(len(plan.table)),
        "new": dg.MetadataValue.int(plan.new),
        "updated": dg.MetadataValue.int(plan.updated),
        "deleted_purged": dg.MetadataValue.int(purged),
        "sent": dg.MetadataValue.int(sent),
        "train_records": dg.MetadataValue.int(int(roles.get("train", 0))),
        "evaluate_records": dg.MetadataValue.int(int(roles.get(EVALUATE, 0))),
        "first_in_line": dg.MetadataValue.md(
            markdown_table(
                first[["priority", "searcher_verdict", "top_score", "role", "query"]].to_dict(
                    "records"
                )
            )
        ),
        "dagster/row_count": dg.MetadataValue.int(len(plan.table)),
    }


@dg.asset(
    deps=["argilla_search_dataset"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"argilla", "duckdb"},
    description="Reviewers' judgments of real searches, pulled from Argilla into an "
    "append-only search_history and one verdict per judged passage in search_judgments: "
    "train-role searches become training pairs, evaluate-role ones the `searches` set.",
)
@track_memory
def search_judgments(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    argilla: dg.ResourceParam[ArgillaConnection],
) -> dg.MaterializeResult:
    try:
        client = argilla.client()
        dataset = argilla_io.find_dataset(
            client, argilla.workspace, settings.argilla.search_dataset
        )
        pulled = (
            searches_io.fetch_search_responses(client, dataset)
            if dataset is not None
            else pd.DataFrame(columns=searches_io.RESPONSE_COLUMNS)
        )
    except argilla_io.CONNECTION_ERRORS as err:
        raise argilla_failure(err, "Pulling search judgments from Argilla") from err
    with duckdb.get_connection() as conn:
        history, appended = append_search_history(
            read_table(conn, SEARCH_HISTORY), pulled, datetime.now(UTC)
        )
        judgments = judge(history, read_table(conn, SEARCH_RECORDS))
        replace_tables(conn, {SEARCH_HISTORY: history, SEARCH_JUDGMENTS: judgments})
    _, unanswered = evaluation_rows(judgments)
    by_role = judgments.groupby("role")["search_id"].nunique()
    labels = judgments["label"].value_counts()
    return dg.MaterializeResult(
        metadata={
            "responses_pulled": dg.MetadataValue.int(len(pulled)),
            "history_appended": dg.MetadataValue.int(appended),
            "judged_searches_train": dg.MetadataValue.int(int(by_role.get("train", 0))),
            "judged_searches_evaluate": dg.MetadataValue.int(int(by_role.get(EVALUATE, 0))),
            "evaluate_without_an_answer_among_hits": dg.MetadataValue.int(unanswered),
            "labels": dg.MetadataValue.md(
                markdown_table([{"label": k, "passages": int(v)} for k, v in labels.items()])
            ),
            "dagster/row_count": dg.MetadataValue.int(len(judgments)),
        },
        data_version=dg.DataVersion(frame_version(judgments)),
    )
