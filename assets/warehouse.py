"""DuckDB tables with fixed schemas, written atomically.

Every asset replaces its tables inside one transaction: a materialization that fails
half-way leaves the previous tables exactly as they were.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import pandas as pd

Schema = Mapping[str, str]  # column -> DuckDB type, in order

SOURCE_DOCUMENTS: Schema = {
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
}

SKIPPED_DOCUMENTS: Schema = {
    "source": "VARCHAR",
    "relpath": "VARCHAR",
    "uri": "VARCHAR",
    "reason": "VARCHAR",
    "seen_at": "TIMESTAMPTZ",
}

# Per-document chunks before de-duplication, keyed by the document version and the chunker
# settings that produced them: this is what makes re-chunking incremental.
CHUNK_CACHE: Schema = {
    "doc_id": "VARCHAR",
    "content_hash": "VARCHAR",
    "chunker_key": "VARCHAR",
    "heading_path": "VARCHAR",
    "text": "VARCHAR",
    "n_tokens": "INTEGER",
    "position": "INTEGER",
}

DOCUMENT_CHUNKS: Schema = {
    "chunk_id": "VARCHAR",
    "doc_id": "VARCHAR",
    "doc_ids": "VARCHAR[]",
    "heading_path": "VARCHAR",
    "text": "VARCHAR",
    "n_tokens": "INTEGER",
    "position": "INTEGER",
}


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def read_table(conn: duckdb.DuckDBPyConnection, name: str, schema: Schema) -> pd.DataFrame:
    """The table's rows, or an empty frame with the schema's columns if it does not exist."""
    if not table_exists(conn, name):
        return empty_frame(schema)
    columns = ", ".join(f'"{c}"' for c in schema)
    return conn.execute(f'SELECT {columns} FROM "{name}"').df()


def empty_frame(schema: Schema) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in schema})


def replace_tables(
    conn: duckdb.DuckDBPyConnection, tables: Mapping[str, tuple[Schema, pd.DataFrame]]
) -> None:
    """Replace several tables in one transaction: all of them change, or none."""
    conn.execute("BEGIN TRANSACTION")
    try:
        for name, (schema, frame) in tables.items():
            _replace(conn, name, schema, frame)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _replace(conn: duckdb.DuckDBPyConnection, name: str, schema: Schema, frame: pd.DataFrame):
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"table {name}: frame lacks columns {missing}")
    columns_ddl = ", ".join(f'"{c}" {t}' for c, t in schema.items())
    conn.execute(f'CREATE OR REPLACE TABLE "{name}" ({columns_ddl})')
    if frame.empty:
        return
    view = f"_incoming_{name}"
    conn.register(view, frame[list(schema)])
    try:
        casts = ", ".join(f'CAST("{c}" AS {t})' for c, t in schema.items())
        conn.execute(f'INSERT INTO "{name}" SELECT {casts} FROM "{view}"')
    finally:
        conn.unregister(view)


SYNTHETIC_QUERIES: Schema = {
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
}

# Which chunk versions a generator configuration has already processed, including those that
# yielded no pair: a re-run with nothing new must do no generation work.
GENERATION_LOG: Schema = {
    "chunk_id": "VARCHAR",
    "chunk_hash": "VARCHAR",
    "config_hash": "VARCHAR",
    "pairs": "INTEGER",
    "generated_at": "TIMESTAMPTZ",
}

EMBEDDING_CACHE: Schema = {
    "key": "VARCHAR",
    "text_hash": "VARCHAR",
    "model_key": "VARCHAR",
    "embedding": "BLOB",
}

HARD_NEGATIVES: Schema = {
    "pair_id": "VARCHAR",
    "negative_chunk_id": "VARCHAR",
    "rank": "INTEGER",
    "score": "DOUBLE",
    "positive_score": "DOUBLE",
    "model_key": "VARCHAR",
}

# Where each pair's positive ranks for its query: the round-trip filter reads it.
PAIR_RETRIEVAL: Schema = {
    "pair_id": "VARCHAR",
    "positive_rank": "INTEGER",
    "positive_score": "DOUBLE",
    "model_key": "VARCHAR",
}

TRAINING_SPLITS: Schema = {
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

# What embedloop has published to Argilla, one row per record: the local mirror that makes
# re-publishing incremental and lets records whose chunk changed or vanished be flagged.
REVIEW_RECORDS: Schema = {
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
}

# Every response version ever pulled from Argilla. Append-only: rows are never updated or
# deleted, so nothing is lost if a record or response later disappears from Argilla.
FEEDBACK_HISTORY: Schema = {
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
}

# One decision per reviewed pair, from each annotator's latest submitted response.
FEEDBACK_PAIRS: Schema = {
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
}

# Human-validated retrieval evaluation: test-split queries people accepted or wrote.
HUMAN_EVAL: Schema = {
    "query": "VARCHAR",
    "chunk_id": "VARCHAR",
    "pair_id": "VARCHAR",
    "origin": "VARCHAR",  # accepted | corrected
}
