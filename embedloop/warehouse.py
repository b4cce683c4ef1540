"""DuckDB tables with fixed schemas, written atomically.

Every table the pipeline writes is a ``Table`` below: its name and its columns with their
DuckDB types. Code reads and writes tables by that object (``read_table(conn, CHUNKS)``),
never by a name typed again. Every asset replaces its tables inside one transaction: a
materialization that fails half-way leaves the previous tables exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pandas as pd

Schema = Mapping[str, str]  # column -> DuckDB type, in order

# DuckDB takes up to 80% of RAM by default. The warehouse's tables are small next to the
# models, so a firm cap keeps a run's peak memory predictable (past it, DuckDB spills to
# disk), and a few threads leave the cores to the encoders running beside it.
CONNECTION_CONFIG: dict[str, str | int] = {
    "memory_limit": "1GB",
    "threads": max(1, min(4, os.cpu_count() or 1)),
}


@dataclass(frozen=True, eq=False)
class Table:
    """A warehouse table: its name and its schema (column -> DuckDB type, in order)."""

    name: str
    schema: Schema

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def empty(self) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in self.schema})

    def __repr__(self) -> str:
        return f"Table({self.name!r})"


SOURCE_DOCUMENTS = Table(
    "source_documents",
    {
        "doc_id": "VARCHAR",
        "source": "VARCHAR",
        "uri": "VARCHAR",
        "title": "VARCHAR",
        "text": "VARCHAR",
        "format": "VARCHAR",
        "content_hash": "VARCHAR",
        "bytes": "BIGINT",
        "ingested_at": "TIMESTAMPTZ",
        "updated_at": "TIMESTAMPTZ",
        "deleted": "BOOLEAN",
    },
)

SKIPPED_DOCUMENTS = Table(
    "skipped_documents",
    {
        "source": "VARCHAR",
        "relpath": "VARCHAR",
        "uri": "VARCHAR",
        "reason": "VARCHAR",
        "seen_at": "TIMESTAMPTZ",
    },
)

# Per-document chunks before de-duplication, keyed by the document version and the chunker
# settings that produced them: this is what makes re-chunking incremental.
CHUNK_CACHE = Table(
    "chunk_cache",
    {
        "doc_id": "VARCHAR",
        "content_hash": "VARCHAR",
        "chunker_key": "VARCHAR",
        "heading_path": "VARCHAR",
        "text": "VARCHAR",
        "n_tokens": "INTEGER",
        "position": "INTEGER",
    },
)

DOCUMENT_CHUNKS = Table(
    "document_chunks",
    {
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "doc_ids": "VARCHAR[]",
        "heading_path": "VARCHAR",
        "text": "VARCHAR",
        "n_tokens": "INTEGER",
        "position": "INTEGER",
    },
)


SYNTHETIC_QUERIES = Table(
    "synthetic_queries",
    {
        "pair_id": "VARCHAR",
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "query": "VARCHAR",
        "positive": "VARCHAR",
        "negative": "VARCHAR",  # the LLM's hard negative, when the generator writes one
        "generator": "VARCHAR",
        "model": "VARCHAR",
        "chunk_hash": "VARCHAR",
        "config_hash": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
    },
)

# Which chunk versions a generator configuration has already processed, including those that
# yielded no pair: a re-run with nothing new must do no generation work.
GENERATION_LOG = Table(
    "synthetic_generation_log",
    {
        "chunk_id": "VARCHAR",
        "chunk_hash": "VARCHAR",
        "config_hash": "VARCHAR",
        "pairs": "INTEGER",
        "generated_at": "TIMESTAMPTZ",
    },
)

EMBEDDING_CACHE = Table(
    "embedding_cache",
    {
        "key": "VARCHAR",
        "text_hash": "VARCHAR",
        "model_key": "VARCHAR",
        "embedding": "BLOB",
    },
)

HARD_NEGATIVES = Table(
    "hard_negatives",
    {
        "pair_id": "VARCHAR",
        "negative_chunk_id": "VARCHAR",
        "rank": "INTEGER",
        "score": "DOUBLE",
        "positive_score": "DOUBLE",
        "model_key": "VARCHAR",
    },
)

# Where each pair's positive ranks for its query: the round-trip filter reads it.
PAIR_RETRIEVAL = Table(
    "pair_retrieval",
    {
        "pair_id": "VARCHAR",
        "positive_rank": "INTEGER",
        "positive_score": "DOUBLE",
        "model_key": "VARCHAR",
    },
)

# Columns of a (query, passage, hard negative) pair with its split, shared by the two
# tables below.
_PAIR_COLUMNS: Schema = {
    "pair_id": "VARCHAR",
    "split": "VARCHAR",
    "doc_id": "VARCHAR",
    "chunk_id": "VARCHAR",
    "query": "VARCHAR",
    "positive": "VARCHAR",
    "negative": "VARCHAR",  # best mined hard negative, else the LLM's, else null
    "negative_chunk_id": "VARCHAR",
    "generator": "VARCHAR",
    "model": "VARCHAR",
}

# Every generated pair that passed the filters, with its split and best hard negative,
# before human review: what Argilla shows reviewers and what training_splits starts from.
CANDIDATE_PAIRS = Table("candidate_pairs", _PAIR_COLUMNS)

# candidate_pairs with human review merged in: rejected pairs out, corrected queries in.
TRAINING_SPLITS = Table("training_splits", _PAIR_COLUMNS)

# What embedloop has published to Argilla, one row per record: the local mirror that makes
# re-publishing incremental and lets records whose chunk changed or vanished be flagged.
REVIEW_RECORDS = Table(
    "review_records",
    {
        "pair_id": "VARCHAR",  # the Argilla record id
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "split": "VARCHAR",
        "query": "VARCHAR",
        "passage": "VARCHAR",
        "heading": "VARCHAR",
        "source": "VARCHAR",
        "generator": "VARCHAR",
        "model": "VARCHAR",
        "priority": "INTEGER",  # rank of the positive under the current model: high = unsure
        "chunk_state": "VARCHAR",  # current | chunk_changed | chunk_removed
        "content_hash": "VARCHAR",
        "published_at": "TIMESTAMPTZ",
    },
)

# Which Argilla dataset review_records mirrors: a different server, workspace or dataset id
# (a renamed dataset, a wiped or restored server) means nothing there is published yet.
REVIEW_TARGET = Table(
    "review_target",
    {
        "api_url": "VARCHAR",
        "workspace": "VARCHAR",
        "dataset": "VARCHAR",
        "dataset_id": "VARCHAR",
        "since": "TIMESTAMPTZ",
    },
)

# Every response version ever pulled from Argilla. Append-only: rows are never updated or
# deleted, so nothing is lost if a record or response later disappears from Argilla.
FEEDBACK_HISTORY = Table(
    "feedback_history",
    {
        "response_id": "VARCHAR",
        "pair_id": "VARCHAR",
        "record_id": "VARCHAR",
        "user_id": "VARCHAR",
        "status": "VARCHAR",
        "relevance": "VARCHAR",
        "corrected_query": "VARCHAR",
        "notes": "VARCHAR",
        "updated_at": "TIMESTAMPTZ",
        "pulled_at": "TIMESTAMPTZ",
    },
)

# One decision per reviewed pair, from each annotator's latest submitted response.
FEEDBACK_PAIRS = Table(
    "feedback_pairs",
    {
        "pair_id": "VARCHAR",
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "split": "VARCHAR",
        "query": "VARCHAR",
        "passage": "VARCHAR",
        "decision": "VARCHAR",  # accepted | partial | rejected
        "corrected_query": "VARCHAR",
        "annotators": "INTEGER",
        "updated_at": "TIMESTAMPTZ",
    },
)

# Human-validated retrieval evaluation: test-split queries people accepted or wrote.
HUMAN_EVAL = Table(
    "human_eval",
    {
        "query": "VARCHAR",
        "chunk_id": "VARCHAR",
        "pair_id": "VARCHAR",
        "origin": "VARCHAR",  # accepted | corrected
    },
)


# The question-writing task (embedloop.review.questions_task): what was published to the
# second Argilla dataset, one record per sampled chunk, as review_records is for the review.
QUESTION_RECORDS = Table(
    "question_records",
    {
        "record_id": "VARCHAR",  # the Argilla record id
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "split": "VARCHAR",
        "passage": "VARCHAR",
        "heading": "VARCHAR",
        "source": "VARCHAR",
        "sample_key": "DOUBLE",  # seeded uniform key: the sample is the lowest keys
        "chunk_state": "VARCHAR",  # current | chunk_changed | chunk_removed
        "content_hash": "VARCHAR",
        "published_at": "TIMESTAMPTZ",
    },
)
QUESTION_TARGET = Table("question_target", REVIEW_TARGET.schema)

# Every question-task response version pulled from Argilla; append-only like feedback_history.
QUESTION_HISTORY = Table(
    "question_history",
    {
        "response_id": "VARCHAR",
        "record_id": "VARCHAR",
        "user_id": "VARCHAR",
        "status": "VARCHAR",  # submitted | discarded (discarded = answers no real question)
        "query": "VARCHAR",
        "updated_at": "TIMESTAMPTZ",
        "pulled_at": "TIMESTAMPTZ",
    },
)

# Questions people wrote for sampled passages: each annotator's latest submitted response per
# record. Test-split rows are evaluation queries (the `human` set), never training data.
HUMAN_QUESTIONS = Table(
    "human_questions",
    {
        "record_id": "VARCHAR",
        "chunk_id": "VARCHAR",
        "doc_id": "VARCHAR",
        "split": "VARCHAR",  # the split of the chunk's document
        "query": "VARCHAR",
        "annotator": "VARCHAR",  # Argilla user id
        "responded_at": "TIMESTAMPTZ",
    },
)


# The evaluation sets (embedloop.evaluation), one row per query with every relevant chunk and
# where the query came from: what the promotion gate scored, reproducible from this table.
EVALUATION_QUERIES = Table(
    "evaluation_queries",
    {
        "set_name": "VARCHAR",  # synthetic | human | questions | searches
        "query_id": "VARCHAR",
        "query": "VARCHAR",
        "relevant_chunk_ids": "VARCHAR[]",
        "source": "VARCHAR",  # synthetic:<strategy> | argilla:<task> | file:<name> | harvested-faq
        "split": "VARCHAR",  # the split of the answering document
        "doc_id": "VARCHAR",
        "created_at": "TIMESTAMPTZ",
    },
)


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def read_table(conn: duckdb.DuckDBPyConnection, table: Table) -> pd.DataFrame:
    """The table's rows, or an empty frame with its columns if it does not exist yet."""
    if not table_exists(conn, table.name):
        return table.empty()
    columns = ", ".join(f'"{c}"' for c in table.schema)
    return conn.execute(f'SELECT {columns} FROM "{table.name}"').df()


def replace_tables(conn: duckdb.DuckDBPyConnection, tables: Mapping[Table, pd.DataFrame]) -> None:
    """Replace several tables in one transaction: all of them change, or none."""
    conn.execute("BEGIN TRANSACTION")
    try:
        for table, frame in tables.items():
            _replace(conn, table, frame)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _replace(conn: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame) -> None:
    missing = [c for c in table.schema if c not in frame.columns]
    if missing:
        raise ValueError(f"table {table.name}: frame lacks columns {missing}")
    columns_ddl = ", ".join(f'"{c}" {t}' for c, t in table.schema.items())
    conn.execute(f'CREATE OR REPLACE TABLE "{table.name}" ({columns_ddl})')
    if frame.empty:
        return
    view = f"_incoming_{table.name}"
    conn.register(view, frame[table.columns])
    try:
        casts = ", ".join(f'CAST("{c}" AS {t})' for c, t in table.schema.items())
        conn.execute(f'INSERT INTO "{table.name}" SELECT {casts} FROM "{view}"')
    finally:
        # A failed insert can leave the connection unable to unregister; that must not
        # hide the insert's own error.
        with contextlib.suppress(duckdb.Error):
            conn.unregister(view)
