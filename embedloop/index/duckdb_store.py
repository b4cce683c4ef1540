"""The embedded production index: one DuckDB file, exact (brute-force cosine) search.

A reader holds the live file's vectors in memory (numpy): about 1.5 KB per chunk at 384
dims, so 1M chunks take 1.5 GB; past a few hundred thousand chunks use PostgreSQL.

Its own file, not a table of the warehouse: DuckDB lets one process write a file and no
other process open it meanwhile, and the warehouse is held by every pipeline run, so a
search API reading the warehouse would fail during each run. Every change is written to a
new file in ``<data_dir>/<index.table>.d/`` and the symlink ``<data_dir>/<index.table>.duckdb``
is renamed over to point at it: a reader that opened the old file keeps reading it whole
(the inode stays until it closes) and sees the new one on its next look. New file names,
not one name rewritten: DuckDB shares one open database per path within a process, so a
reopened path could still show the old file. No server, no extension: `make demo`'s index.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from embedloop.index.store import FINGERPRINT, ROW_COLUMNS, Hit, IndexState, truncate


class DuckDBIndex:
    backend = "duckdb"

    def __init__(self, path: Path, table: str) -> None:
        self.path = Path(path)
        self.files = self.path.with_suffix(".d")
        self.table = table
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._live: str | None = None
        self._memory: tuple[list[list[str]], dict[int, np.ndarray], IndexState] | None = None
        self._state: IndexState | None = None

    # Reading: one read-only connection to the live file, reopened when it was replaced.
    def _reader(self) -> duckdb.DuckDBPyConnection | None:
        live = os.path.realpath(self.path)
        if not os.path.isfile(live):
            self.close()
            return None
        if self._conn is None or live != self._live:
            self.close()
            self._conn = duckdb.connect(live, read_only=True)
            self._live = live
        return self._conn

    def state(self) -> IndexState | None:
        conn = self._reader()
        if conn is None:
            return None
        if self._state is None:  # a live file never changes: read once per file
            row = conn.execute("SELECT state FROM index_state").fetchone()
            self._state = IndexState.from_json(row[0]) if row else None
        return self._state

    def fingerprints(self) -> pd.DataFrame:
        conn = self._reader()
        if conn is None:
            return pd.DataFrame(columns=FINGERPRINT)
        return conn.execute(f"SELECT {', '.join(FINGERPRINT)} FROM {self.table}").df()

    def search(self, vector: np.ndarray, k: int, dim: int) -> tuple[list[Hit], str]:
        """Exact cosine search on the live file's vectors, held in memory: a live file
        never changes (every change is a new file), so they load once per file."""
        meta, vectors, state = self._loaded()
        if dim not in vectors:
            vectors[dim] = truncate(vectors[state.dim], dim)
        query = truncate(np.asarray(vector, dtype=np.float32)[None, :], dim)[0]
        scores = vectors[dim] @ query
        k = min(int(k), len(scores))
        if k <= 0:
            return [], state.generation
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first, ties by chunk id
        hits = [
            Hit(meta[0][i], meta[1][i], meta[2][i], meta[3][i], float(scores[i]), meta[4][i])
            for i in top
        ]
        return hits, state.generation

    def _loaded(self) -> tuple[list[list[str]], dict[int, np.ndarray], IndexState]:
        conn = self._reader()
        state = self.state()
        if conn is None or state is None:
            raise LookupError(f"no production index at {self.path}")
        if self._memory is None or self._memory[2].generation != state.generation:
            rows = conn.execute(
                "SELECT chunk_id, doc_id, heading_path, text, model_version, embedding "
                f"FROM {self.table} ORDER BY chunk_id"
            ).fetchall()
            meta = [[r[i] for r in rows] for i in range(5)]
            matrix = np.asarray([r[5] for r in rows], dtype=np.float32).reshape(-1, state.dim)
            self._memory = (meta, {state.dim: matrix}, state)
        return self._memory

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn, self._live, self._memory, self._state = None, None, None, None

    # Writing: a copy beside the live file, renamed over it.
    def update(
        self, delete: list[str], rows: pd.DataFrame, vectors: np.ndarray, state: IndexState
    ) -> None:
        staging = self._staging()
        try:
            shutil.copyfile(os.path.realpath(self.path), staging)
            with duckdb.connect(str(staging)) as conn:
                conn.execute("BEGIN")
                if delete:
                    conn.execute(
                        f"DELETE FROM {self.table} WHERE chunk_id IN (SELECT unnest(?))",
                        [list(delete)],
                    )
                self._insert(conn, rows, vectors)
                self._set_state(conn, state)
                conn.execute("COMMIT")
            self._switch(staging)
        finally:
            staging.unlink(missing_ok=True)

    def rebuild(
        self,
        rows: pd.DataFrame,
        vectors: np.ndarray,
        state: IndexState,
        before_switch: Callable[[], None] | None = None,
    ) -> None:
        staging = self._staging()
        try:
            with duckdb.connect(str(staging)) as conn:
                conn.execute(
                    f"CREATE TABLE {self.table} (chunk_id VARCHAR PRIMARY KEY, doc_id VARCHAR, "
                    "heading_path VARCHAR, text VARCHAR, text_hash VARCHAR, "
                    "model_version VARCHAR, embedding FLOAT[])"
                )
                conn.execute("CREATE TABLE index_state (state VARCHAR)")
                self._insert(conn, rows, vectors)
                self._set_state(conn, state)
            if before_switch is not None:
                before_switch()
            self._switch(staging)
        finally:
            staging.unlink(missing_ok=True)

    def _staging(self) -> Path:
        self.files.mkdir(parents=True, exist_ok=True)
        return self.files / f".staging-{uuid.uuid4().hex[:12]}"

    def _switch(self, staging: Path) -> None:
        """Make ``staging`` the live file: rename it, then the symlink over the old one."""
        live = self.files / f"{uuid.uuid4().hex[:12]}.duckdb"
        os.replace(staging, live)
        link = self.files / f".link-{uuid.uuid4().hex[:8]}"
        os.symlink(live.relative_to(self.path.parent), link)
        os.replace(link, self.path)
        for old in self.files.glob("*.duckdb"):  # readers that have one open keep it
            if old != live:
                old.unlink(missing_ok=True)

    def _insert(
        self, conn: duckdb.DuckDBPyConnection, rows: pd.DataFrame, vectors: np.ndarray
    ) -> None:
        if rows.empty:
            return
        frame = rows[ROW_COLUMNS].reset_index(drop=True).copy()
        frame["embedding"] = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        conn.register("incoming", frame)
        conn.execute(
            f"INSERT INTO {self.table} SELECT {', '.join(ROW_COLUMNS)}, "
            "embedding::FLOAT[] FROM incoming"
        )
        conn.unregister("incoming")

    @staticmethod
    def _set_state(conn: duckdb.DuckDBPyConnection, state: IndexState) -> None:
        conn.execute("DELETE FROM index_state")
        conn.execute("INSERT INTO index_state VALUES (?)", [state.to_json()])
