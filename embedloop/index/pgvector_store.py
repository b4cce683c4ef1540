"""The production index in PostgreSQL with pgvector: HNSW at every indexed dim.

One table (``index.table``) with the native vector and one truncated, re-normalized column
per Matryoshka dim, each with its own HNSW index (cosine); one row per index in
``embedloop_index_state``. An incremental update is one transaction. A rebuild fills
``<table>__build`` and builds its HNSW indexes while searches keep using the live table,
then renames it into place and drops the old one in one transaction: PostgreSQL resolves
the name again once the rename's lock is released, so a search runs on the old table or
the new one. Every search also reads the state row in the same statement, so the reader
learns which generation (which model) answered it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from embedloop.index.store import FINGERPRINT, ROW_COLUMNS, Hit, IndexState, truncate

STATE_TABLE = "embedloop_index_state"


def column(dim: int, native: int) -> str:
    return "embedding" if dim == native else f"embedding_{int(dim)}"


class PgVectorIndex:
    backend = "pgvector"

    def __init__(
        self,
        url: str,
        table: str,
        m: int = 16,
        ef_construction: int = 64,
        ef_search: int = 100,
    ) -> None:
        import psycopg2

        self.table = table
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        try:
            self.conn = psycopg2.connect(url, connect_timeout=10)
        except psycopg2.OperationalError as err:
            raise LookupError(f"cannot connect to the index database: {err}".strip()) from None
        self._ensure_extension()

    def _cursor(self) -> Any:
        return self.conn.cursor()

    def _ensure_extension(self) -> None:
        from pgvector.psycopg2 import register_vector

        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
            if cur.fetchone() is None:
                try:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except Exception as err:
                    raise LookupError(
                        "the index database has no pgvector extension and this user cannot "
                        f"create it: {err}".strip()
                    ) from None
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (name TEXT PRIMARY KEY, state TEXT)"
            )
        register_vector(self.conn)
        with self.conn, self.conn.cursor() as cur:
            cur.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")

    def state(self) -> IndexState | None:
        with self.conn, self._cursor() as cur:
            cur.execute(f"SELECT state FROM {STATE_TABLE} WHERE name = %s", [self.table])
            row = cur.fetchone()
        return IndexState.from_json(row[0]) if row else None

    def fingerprints(self) -> pd.DataFrame:
        if self.state() is None:
            return pd.DataFrame(columns=FINGERPRINT)
        with self.conn, self._cursor() as cur:
            cur.execute(f"SELECT {', '.join(FINGERPRINT)} FROM {self.table}")
            return pd.DataFrame(cur.fetchall(), columns=FINGERPRINT)

    def search(self, vector: np.ndarray, k: int, dim: int) -> tuple[list[Hit], str]:
        state = self.state()
        if state is None:
            raise LookupError(f"no production index {self.table!r} in the index database")
        col = column(dim, state.dim)
        query = truncate(np.asarray(vector, dtype=np.float32)[None, :], dim)[0]
        with self.conn, self._cursor() as cur:
            cur.execute(
                f"SELECT chunk_id, doc_id, heading_path, text, model_version, "
                f"1 - ({col} <=> %s) AS score, "
                f"(SELECT state FROM {STATE_TABLE} WHERE name = %s) AS state "
                f"FROM {self.table} ORDER BY {col} <=> %s LIMIT %s",
                [query, self.table, query, int(k)],
            )
            rows = cur.fetchall()
        hits = [Hit(r[0], r[1], r[2], r[3], float(r[5]), r[4]) for r in rows]
        generation = IndexState.from_json(rows[0][6]).generation if rows else state.generation
        return hits, generation

    def update(
        self, delete: list[str], rows: pd.DataFrame, vectors: np.ndarray, state: IndexState
    ) -> None:
        with self.conn, self._cursor() as cur:
            if delete:
                cur.execute(f"DELETE FROM {self.table} WHERE chunk_id = ANY(%s)", [list(delete)])
            self._insert(cur, self.table, rows, vectors, state)
            self._set_state(cur, state)

    def rebuild(
        self,
        rows: pd.DataFrame,
        vectors: np.ndarray,
        state: IndexState,
        before_switch: Callable[[], None] | None = None,
    ) -> None:
        build, tag = f"{self.table}__build", uuid.uuid4().hex[:8]
        vector_columns = ", ".join(
            f"{column(d, state.dim)} vector({int(d)}) NOT NULL" for d in state.dims
        )
        with self.conn, self._cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {build}")  # a rebuild that died half-way
            cur.execute(
                f"CREATE TABLE {build} (chunk_id TEXT NOT NULL, doc_id TEXT, "
                "heading_path TEXT, text TEXT, text_hash TEXT, model_version TEXT, "
                f"{vector_columns}, CONSTRAINT {self.table}_{tag}_pkey PRIMARY KEY (chunk_id))"
            )
            self._insert(cur, build, rows, vectors, state)
            for d in state.dims:
                cur.execute(
                    f"CREATE INDEX {self.table}_{tag}_hnsw_{int(d)} ON {build} USING hnsw "
                    f"({column(d, state.dim)} vector_cosine_ops) "
                    f"WITH (m = {int(self.m)}, ef_construction = {int(self.ef_construction)})"
                )
        if before_switch is not None:
            before_switch()
        with self.conn, self._cursor() as cur:
            cur.execute(f"ALTER TABLE IF EXISTS {self.table} RENAME TO {self.table}__old")
            cur.execute(f"ALTER TABLE {build} RENAME TO {self.table}")
            cur.execute(f"DROP TABLE IF EXISTS {self.table}__old")
            self._set_state(cur, state)

    @staticmethod
    def _insert(
        cur: Any, table: str, rows: pd.DataFrame, vectors: np.ndarray, state: IndexState
    ) -> None:
        from psycopg2.extras import execute_values

        if rows.empty:
            return
        parts = [truncate(vectors, d) for d in state.dims]
        values = [
            (*(row[c] for c in ROW_COLUMNS), *(p[i] for p in parts))
            for i, row in enumerate(rows[ROW_COLUMNS].to_dict("records"))
        ]
        columns = [*ROW_COLUMNS, *(column(d, state.dim) for d in state.dims)]
        execute_values(
            cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", values, page_size=500
        )

    def _set_state(self, cur: Any, state: IndexState) -> None:
        cur.execute(
            f"INSERT INTO {STATE_TABLE} (name, state) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state",
            [self.table, state.to_json()],
        )

    def close(self) -> None:
        self.conn.close()
