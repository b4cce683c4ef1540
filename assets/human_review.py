"""Assets of the human loop: argilla_review_dataset (publish) and human_feedback (pull)."""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.models import production_model_path
from assets.plots import markdown_table
from assets.review import argilla_io
from assets.review.feedback import append_history, current_view, decide, human_eval_set
from assets.review.records import plan_publication, review_rows
from assets.synthetic.embeddings import encode_with_cache, model_key
from assets.synthetic.training_set import build_training_set
from assets.warehouse import (
    DOCUMENT_CHUNKS,
    EMBEDDING_CACHE,
    FEEDBACK_HISTORY,
    FEEDBACK_PAIRS,
    HARD_NEGATIVES,
    HUMAN_EVAL,
    PAIR_RETRIEVAL,
    REVIEW_RECORDS,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    read_table,
    replace_tables,
)
from orchestration.resources import ArgillaResource, ArgillaUnavailable, SettingsResource

GROUP = "human_feedback"

# Each annotator's latest response per pair, for SQL users; decide() computes the same.
CURRENT_VIEW = """
CREATE OR REPLACE VIEW feedback_current AS
SELECT * EXCLUDE (version) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY pair_id, user_id ORDER BY updated_at DESC, pulled_at DESC, response_id DESC
    ) AS version
    FROM feedback_history
) WHERE version = 1
"""


def _argilla_failure(err: Exception, action: str) -> dg.Failure:
    return dg.Failure(
        description=f"{action} failed, nothing was written locally; the next run resumes. "
        f"Cause: {err}"
    )


@dg.asset(
    deps=["synthetic_queries", "hard_negatives", "document_chunks"],
    group_name=GROUP,
    kinds={"argilla", "duckdb"},
    description="The synthetic pairs in an Argilla dataset for human review, most uncertain "
    "first (metadata `priority`). Re-publishing updates records and never deletes one.",
)
def argilla_review_dataset(
    settings: SettingsResource, duckdb: DuckDBResource, argilla: ArgillaResource
) -> dg.MaterializeResult:
    cfg = settings.load()
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, "document_chunks", DOCUMENT_CHUNKS)
        docs = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
        retrieval = read_table(conn, "pair_retrieval", PAIR_RETRIEVAL)
        candidates = build_training_set(
            read_table(conn, "synthetic_queries", SYNTHETIC_QUERIES),
            read_table(conn, "hard_negatives", HARD_NEGATIVES),
            retrieval,
            chunks,
            cfg,
        ).pairs
        published = read_table(conn, "review_records", REVIEW_RECORDS)
        cache = read_table(conn, "embedding_cache", EMBEDDING_CACHE)
    live_docs = set(docs.loc[~docs["deleted"].astype(bool), "doc_id"])
    plan = plan_publication(
        review_rows(candidates, chunks, docs, retrieval),
        published,
        live_docs,
        cfg.argilla.max_records,
        datetime.now(UTC),
    )
    model_path = production_model_path(cfg)
    vectors = _QueryVectors(model_path, cache)
    try:
        client = argilla.client()
        dataset = argilla_io.ensure_dataset(
            client, argilla.workspace, cfg.argilla.dataset, vectors.dimension()
        )
        sent = argilla_io.publish(dataset, plan.to_send, vectors, cfg.argilla.batch_size)
    except (ArgillaUnavailable, *argilla_io.CONNECTION_ERRORS) as err:
        raise _argilla_failure(err, "Publishing to Argilla") from err
    # Written only once every batch is in Argilla: a failed run re-sends the same records.
    with duckdb.get_connection() as conn:
        replace_tables(conn, {"review_records": (REVIEW_RECORDS, plan.table)})
    table = plan.table
    top = table[table["chunk_state"] == "current"].head(10)
    return dg.MaterializeResult(
        metadata={
            "dataset_url": dg.MetadataValue.url(
                f"{argilla.api_url}/dataset/{dataset.id}/annotation-mode"
            ),
            "records": dg.MetadataValue.int(len(table)),
            "sent": dg.MetadataValue.int(sent),
            "new": dg.MetadataValue.int(plan.new),
            "updated": dg.MetadataValue.int(plan.updated),
            "flagged_changed_or_removed": dg.MetadataValue.int(plan.flagged),
            "by_state": dg.MetadataValue.md(
                markdown_table(
                    [
                        {"chunk_state": k, "records": int(v)}
                        for k, v in table["chunk_state"].value_counts().items()
                    ]
                )
            ),
            "most_uncertain": dg.MetadataValue.md(
                markdown_table(top[["priority", "query", "doc_id"]].to_dict("records"))
            ),
            "vector_model": model_path,
            "texts_encoded": dg.MetadataValue.int(vectors.encoded),
            "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
            "dagster/row_count": dg.MetadataValue.int(len(table)),
        }
    )


class _QueryVectors:
    """Query embeddings by the production model, from the embedding cache when possible;
    the model loads only if some query is not cached."""

    def __init__(self, model_path: str, cache: pd.DataFrame) -> None:
        self.model_path = model_path
        self.key = model_key(model_path)
        self.cache = cache
        self.encoded = 0
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device="cpu")
        return self._model

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        return self._load().encode(*args, **kwargs)

    def dimension(self) -> int:
        usable = self.cache[self.cache["model_key"] == self.key]
        if len(usable):
            return len(usable["embedding"].iloc[0]) // 4  # float32 blobs
        return int(self._load().get_sentence_embedding_dimension())

    def __call__(self, rows: pd.DataFrame) -> list[list[float] | None]:
        current = rows["chunk_state"] == "current"
        keys, texts = list(rows.loc[current, "pair_id"]), list(rows.loc[current, "query"])
        encoded = encode_with_cache(self, keys, texts, self.cache, self.key)
        self.encoded += encoded.encoded
        by_key = dict(zip(keys, encoded.vectors.tolist(), strict=True))
        return [by_key.get(p) for p in rows["pair_id"]]


@dg.asset(
    deps=["argilla_review_dataset"],
    group_name=GROUP,
    kinds={"argilla", "duckdb"},
    description="Submitted reviews pulled from Argilla into an append-only history, the "
    "per-pair decisions derived from it (accepted / partial / rejected, corrected queries) "
    "and the human-validated evaluation set.",
)
def human_feedback(
    settings: SettingsResource, duckdb: DuckDBResource, argilla: ArgillaResource
) -> dg.MaterializeResult:
    cfg = settings.load()
    try:
        client = argilla.client()
        dataset = argilla_io.find_dataset(client, argilla.workspace, cfg.argilla.dataset)
        pulled = (
            argilla_io.fetch_responses(client, dataset)
            if dataset is not None
            else pd.DataFrame(columns=argilla_io.RESPONSE_COLUMNS)
        )
    except (ArgillaUnavailable, *argilla_io.CONNECTION_ERRORS) as err:
        raise _argilla_failure(err, "Pulling feedback from Argilla") from err
    now = datetime.now(UTC)
    with duckdb.get_connection() as conn:
        history = read_table(conn, "feedback_history", FEEDBACK_HISTORY)
        reviewed = read_table(conn, "review_records", REVIEW_RECORDS)
        history, appended = append_history(history, pulled, now)
        decisions = decide(current_view(history), reviewed)
        evaluation = human_eval_set(decisions)
        replace_tables(
            conn,
            {
                "feedback_history": (FEEDBACK_HISTORY, history),
                "feedback_pairs": (FEEDBACK_PAIRS, decisions),
                "human_eval": (HUMAN_EVAL, evaluation),
            },
        )
        conn.execute(CURRENT_VIEW)
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
        }
    )
