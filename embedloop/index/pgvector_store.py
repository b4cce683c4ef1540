"""The production index in PostgreSQL with pgvector: HNSW at every indexed dim.

One table (``index.table``) with the native vector and one truncated, re-normalized column
per Matryoshka dim, each with its own HNSW index (cosine); one row per index in
``embedloop_index_state``. An incremental update is one transaction. A rebuild fills
``<table>__build`` and builds its HNSW indexes while searches keep using the live table,
then renames it into place and drops the old one, all in one transaction: PostgreSQL
resolves the name again once the rename's lock is released, so a search runs on the old
table or the new one. Writers on any host serialize on an advisory lock keyed by the table
name, so two builds never drop each other's ``__build`` table.

A search is one transaction: it reads the state, then queries with the state row read
again in the same statement, so it learns which generation (which model) answered; a
switch to a build without the column it asked for comes back as ``IndexSwitched``, which
the searcher retries. Readers run no DDL (a read-only role can search: the schema is
created by the writers), and the connection is opened again after the server restarted or
dropped it: a request fails (``IndexUnavailable``) only when a fresh connection fails too.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.errors
from psycopg2 import sql

from embedloop.index.store import (
    FINGERPRINT,
    ROW_COLUMNS,
    SWITCHED,
    UNREACHABLE,
    Hit,
    IndexState,
    IndexSwitched,
    IndexUnavailable,
    truncate,
)

STATE_TABLE = "embedloop_index_state"
NO_INDEX = "no production index yet: run `embedloop run` first (or materialize production_index)"
# A search that ran into another build: its column or table is gone, or has other dims.
_SWITCH_ERRORS = (
    psycopg2.errors.UndefinedColumn,
    psycopg2.errors.UndefinedTable,
    psycopg2.errors.DataException,
)
_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError)
T = TypeVar("T")
log = logging.getLogger(__name__)


def column(dim: int, native: int) -> str:
    return "embedding" if dim == native else f"embedding_{int(dim)}"


def _id(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _failed(err: Exception) -> IndexUnavailable:
    """A database error a reader cannot fix, logged here and answered without detail."""
    log.warning("index database: %s", str(err).strip() or type(err).__name__)
    return IndexUnavailable(
        "the index database could not answer (the server's log says why); retrying on the "
        "next request"
    )


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
        self.table = table
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        self._url = url
        self._conn: Any = None
        self._vector = False  # pgvector's type registered on this connection (lazily)
        self._connection()  # fail early (IndexUnavailable) when the server is unreachable

    # Connections: one, opened again when the server dropped it.
    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = None
            try:
                conn = psycopg2.connect(self._url, connect_timeout=10)
            except psycopg2.OperationalError as err:
                log.warning("index database: %s", str(err).strip())
                raise IndexUnavailable(UNREACHABLE) from None
            self._conn, self._vector = conn, False
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg2.Error):
                conn.close()

    def _transaction(self, work: Callable[[Any], T], retry: bool = True) -> T:
        """``work(cursor)`` in one transaction; on a dropped connection, once more on a
        fresh one (``retry``), else IndexUnavailable."""
        for attempt in range(2 if retry else 1):
            conn = self._connection()
            try:
                with conn, conn.cursor() as cur:
                    return work(cur)
            except _CONNECTION_ERRORS as err:
                log.warning("index database: %s", str(err).strip() or type(err).__name__)
                self._drop_connection()
                if attempt or not retry:
                    break
        raise IndexUnavailable(UNREACHABLE)

    # Reading: no DDL, so a read-only role can search.
    def state(self) -> IndexState | None:
        try:
            return self._transaction(self._read_state)
        except psycopg2.Error as err:
            raise _failed(err) from None

    def _read_state(self, cur: Any) -> IndexState | None:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [STATE_TABLE])
        if not cur.fetchone()[0]:
            return None
        cur.execute(
            sql.SQL("SELECT state FROM {} WHERE name = %s").format(_id(STATE_TABLE)),
            [self.table],
        )
        row = cur.fetchone()
        return IndexState.from_json(row[0]) if row else None

    def fingerprints(self) -> pd.DataFrame:
        def read(cur: Any) -> pd.DataFrame:
            if self._read_state(cur) is None:
                return pd.DataFrame(columns=FINGERPRINT)
            cur.execute(
                sql.SQL("SELECT {} FROM {}").format(
                    sql.SQL(", ").join(map(_id, FINGERPRINT)), _id(self.table)
                )
            )
            return pd.DataFrame(cur.fetchall(), columns=FINGERPRINT)

        try:
            return self._transaction(read)
        except psycopg2.Error as err:
            raise _failed(err) from None

    def search(self, vector: np.ndarray, k: int, dim: int) -> tuple[list[Hit], str]:
        query = truncate(np.asarray(vector, dtype=np.float32)[None, :], dim)[0]

        def run(cur: Any) -> tuple[list[Hit], str]:
            # ef_search below k would return fewer than k rows: at least k for this search.
            cur.execute(
                sql.SQL("SET LOCAL hnsw.ef_search = {}").format(
                    sql.Literal(max(int(self.ef_search), int(k)))
                )
            )
            state = self._read_state(cur)
            if state is None:
                raise IndexUnavailable(NO_INDEX)
            if dim not in state.dims:
                raise IndexSwitched(SWITCHED)
            self._register(cur)
            col = _id(column(dim, state.dim))
            cur.execute(
                sql.SQL(
                    "SELECT chunk_id, doc_id, heading_path, text, model_version, "
                    "1 - ({col} <=> %s) AS score, "
                    "(SELECT state FROM {states} WHERE name = %s) AS state "
                    "FROM {table} ORDER BY {col} <=> %s LIMIT %s"
                ).format(col=col, states=_id(STATE_TABLE), table=_id(self.table)),
                [query, self.table, query, int(k)],
            )
            rows = cur.fetchall()
            hits = [Hit(r[0], r[1], r[2], r[3], float(r[5]), r[4]) for r in rows]
            return hits, IndexState.from_json(rows[0][6]).generation if rows else state.generation

        try:
            return self._transaction(run)
        except _SWITCH_ERRORS as err:
            if isinstance(err, psycopg2.errors.DataException) and "dimensions" not in str(err):
                raise _failed(err) from None
            raise IndexSwitched(SWITCHED) from None
        except psycopg2.Error as err:
            raise _failed(err) from None

    def _register(self, cur: Any) -> None:
        """pgvector's types on this connection, once (a writer created the extension)."""
        from pgvector.psycopg2 import register_vector

        if not self._vector:
            register_vector(cur.connection)
            self._vector = True

    # Writing: the schema when missing, then one transaction under the writers' lock.
    def _write(self, work: Callable[[Any], None]) -> None:
        def locked(cur: Any) -> None:
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"embedloop_index:{self.table}"]
            )
            self._ensure_schema(cur)
            work(cur)

        self._transaction(locked, retry=False)

    def _ensure_schema(self, cur: Any) -> None:
        cur.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        if cur.fetchone() is None:
            try:
                cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg2.Error:
                raise IndexUnavailable(
                    "the index database has no pgvector extension and this user cannot "
                    "create it: CREATE EXTENSION vector as a superuser"
                ) from None
        cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (name TEXT PRIMARY KEY, state TEXT)").format(
                _id(STATE_TABLE)
            )
        )
        self._register(cur)

    def update(
        self, delete: list[str], rows: pd.DataFrame, vectors: np.ndarray, state: IndexState
    ) -> None:
        def work(cur: Any) -> None:
            if delete:
                cur.execute(
                    sql.SQL("DELETE FROM {} WHERE chunk_id = ANY(%s)").format(_id(self.table)),
                    [list(delete)],
                )
            self._insert(cur, self.table, rows, vectors, state)
            self._set_state(cur, state)

        self._write(work)

    def rebuild(
        self,
        rows: pd.DataFrame,
        vectors: np.ndarray,
        state: IndexState,
        before_switch: Callable[[], None] | None = None,
    ) -> None:
        def work(cur: Any) -> None:
            build, old = f"{self.table}__build", f"{self.table}__old"
            tag = f"{self.table}_{uuid.uuid4().hex[:8]}"
            vector_columns = sql.SQL(", ").join(
                sql.SQL("{} vector({}) NOT NULL").format(
                    _id(column(d, state.dim)), sql.Literal(int(d))
                )
                for d in state.dims
            )
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_id(build)))
            cur.execute(
                sql.SQL(
                    "CREATE TABLE {build} (chunk_id TEXT NOT NULL, doc_id TEXT, "
                    "heading_path TEXT, text TEXT, text_hash TEXT, model_version TEXT, "
                    "{vectors}, CONSTRAINT {pkey} PRIMARY KEY (chunk_id))"
                ).format(build=_id(build), vectors=vector_columns, pkey=_id(f"{tag}_pkey"))
            )
            self._insert(cur, build, rows, vectors, state)
            for d in state.dims:
                cur.execute(
                    sql.SQL(
                        "CREATE INDEX {name} ON {build} USING hnsw ({col} vector_cosine_ops) "
                        "WITH (m = {m}, ef_construction = {ef})"
                    ).format(
                        name=_id(f"{tag}_hnsw_{int(d)}"),
                        build=_id(build),
                        col=_id(column(d, state.dim)),
                        m=sql.Literal(int(self.m)),
                        ef=sql.Literal(int(self.ef_construction)),
                    )
                )
            if before_switch is not None:  # built, not yet visible to any reader
                before_switch()
            readers = self._readers(cur)
            cur.execute(
                sql.SQL("ALTER TABLE IF EXISTS {} RENAME TO {}").format(_id(self.table), _id(old))
            )
            cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(_id(build), _id(self.table)))
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_id(old)))
            for role in readers:  # a read-only role granted SELECT keeps it
                cur.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(_id(self.table), _id(role)))
            self._set_state(cur, state)

        self._write(work)

    def _readers(self, cur: Any) -> list[str]:
        """The roles other than this one granted SELECT on the live table."""
        cur.execute(
            "SELECT DISTINCT grantee FROM information_schema.role_table_grants "
            "WHERE table_schema = current_schema() AND table_name = %s "
            "AND privilege_type = 'SELECT' AND grantee <> current_user",
            [self.table],
        )
        return [row[0] for row in cur.fetchall()]

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
        statement = sql.SQL("INSERT INTO {} ({}) VALUES %s").format(
            _id(table), sql.SQL(", ").join(map(_id, columns))
        )
        execute_values(cur, statement.as_string(cur), values, page_size=500)

    def _set_state(self, cur: Any, state: IndexState) -> None:
        cur.execute(
            sql.SQL(
                "INSERT INTO {} (name, state) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state"
            ).format(_id(STATE_TABLE)),
            [self.table, state.to_json()],
        )

    def close(self) -> None:
        self._drop_connection()
