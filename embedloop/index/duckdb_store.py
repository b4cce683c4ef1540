"""The embedded production index: one DuckDB file, exact (brute-force cosine) search.

A reader holds the live file's vectors in memory (numpy): about 1.5 KB per chunk at 384
dims, so 1M chunks take 1.5 GB; past a few hundred thousand chunks use PostgreSQL. They are
loaded through Arrow into one float32 matrix, never as Python floats (those take ~9 times
the memory while loading).

Its own file, not a table of the warehouse: DuckDB lets one process write a file and no
other process open it meanwhile, and the warehouse is held by every pipeline run, so a
search API reading the warehouse would fail during each run. Every change is written to a
new file in ``<data_dir>/<index.table>.d/`` and the symlink ``<data_dir>/<index.table>.duckdb``
is renamed over to point at it. A reader resolves the link once and reads the state and the
rows from that one file through one connection, so it never mixes two builds; a file stays
on disk for ``GRACE_S`` seconds after it was replaced (and the two newest always stay), so
a reader in another process that resolved the link just before a switch still finds it,
and one that is later still retries once on the new link. New file names, not one name
rewritten: DuckDB shares one open database per path within a process, so a reopened path
could still show the old file. No server, no extension: `make demo`'s index.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb
import numpy as np
import pandas as pd

from embedloop.index.store import (
    FINGERPRINT,
    ROW_COLUMNS,
    Hit,
    IndexState,
    IndexUnavailable,
    truncate,
)

# How long a replaced file stays for readers in other processes that resolved the link
# just before the switch (opening a file takes milliseconds; a minute is ample).
GRACE_S = 60.0
T = TypeVar("T")
UNREADABLE = "the production index file cannot be read; retrying on the next request"
log = logging.getLogger(__name__)
NO_INDEX = "no production index yet: run `embedloop run` first (or materialize production_index)"


def quote(name: str) -> str:
    """An SQL identifier, quoted: a table may be called ``order``."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Loaded:
    """One live file's rows, read whole through one connection."""

    path: str
    state: IndexState
    meta: list[list[str]]  # chunk_id, doc_id, heading_path, text, model_version
    vectors: dict[int, np.ndarray]


class DuckDBIndex:
    backend = "duckdb"

    def __init__(self, path: Path, table: str) -> None:
        self.path = Path(path)
        self.files = self.path.with_suffix(".d")
        self.table = table
        self._state: tuple[str, IndexState | None] | None = None  # (file, its state)
        self._memory: _Loaded | None = None

    # Reading: resolve the link once, then read that one file (closed again at once).
    def _read(self, what: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[str, T | None]:
        """``what`` run on the live file, with that file's path; (``""``, None) without an
        index. A file that vanished between resolving and opening: once more, on the new
        link."""
        for attempt in range(2):
            live = os.path.realpath(self.path)
            if not os.path.isfile(live):
                return "", None
            try:
                with duckdb.connect(live, read_only=True) as conn:
                    return live, what(conn)
            except duckdb.IOException:
                if attempt or os.path.isfile(live):
                    raise IndexUnavailable(UNREADABLE) from None
            except duckdb.Error as err:  # a file another version wrote, or damaged
                log.warning("production index %s: %s", live, err)
                raise IndexUnavailable(UNREADABLE) from None
        raise AssertionError("unreachable")

    def state(self) -> IndexState | None:
        live = os.path.realpath(self.path)
        if self._state is None or self._state[0] != live:  # a live file never changes
            self._state = self._read(_read_state)
        return self._state[1]

    def fingerprints(self) -> pd.DataFrame:
        columns = ", ".join(FINGERPRINT)
        _, frame = self._read(lambda c: c.execute(f"SELECT {columns} FROM {self._t}").df())
        return pd.DataFrame(columns=FINGERPRINT) if frame is None else frame

    @property
    def _t(self) -> str:
        return quote(self.table)

    def search(self, vector: np.ndarray, k: int, dim: int) -> tuple[list[Hit], str]:
        """Exact cosine search on the live file's vectors, held in memory: a live file
        never changes (every change is a new file), so they load once per file."""
        loaded = self._loaded()
        state, meta, vectors = loaded.state, loaded.meta, loaded.vectors
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

    def _loaded(self) -> _Loaded:
        live = os.path.realpath(self.path)
        if self._memory is None or self._memory.path != live:
            self._memory = None  # the old file's vectors go before the new ones load
            path, loaded = self._read(self._load)
            if loaded is None:
                raise IndexUnavailable(NO_INDEX)
            loaded.path = path
            self._memory = loaded
        return self._memory

    def _load(self, conn: duckdb.DuckDBPyConnection) -> _Loaded | None:
        """State and rows of one file through one connection; the vectors through Arrow."""
        state = _read_state(conn)
        if state is None:
            return None
        table = conn.sql(
            "SELECT chunk_id, doc_id, heading_path, text, model_version, embedding "
            f"FROM {self._t} ORDER BY chunk_id"
        ).to_arrow_table()
        meta = [table.column(i).to_pylist() for i in range(5)]
        embedding = table.column(5).combine_chunks()
        flat = embedding.flatten().to_numpy(zero_copy_only=False)
        matrix = np.ascontiguousarray(flat, dtype=np.float32).reshape(-1, state.dim)
        return _Loaded("", state, meta, {state.dim: matrix})

    def close(self) -> None:
        self._state, self._memory = None, None

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
                        f"DELETE FROM {self._t} WHERE chunk_id IN (SELECT unnest(?))",
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
                    f"CREATE TABLE {self._t} (chunk_id VARCHAR PRIMARY KEY, doc_id VARCHAR, "
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
        prune(self.files, live)

    def _insert(
        self, conn: duckdb.DuckDBPyConnection, rows: pd.DataFrame, vectors: np.ndarray
    ) -> None:
        if rows.empty:
            return
        frame = rows[ROW_COLUMNS].reset_index(drop=True).copy()
        frame["embedding"] = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        conn.register("incoming", frame)
        conn.execute(
            f"INSERT INTO {self._t} SELECT {', '.join(ROW_COLUMNS)}, "
            "embedding::FLOAT[] FROM incoming"
        )
        conn.unregister("incoming")

    @staticmethod
    def _set_state(conn: duckdb.DuckDBPyConnection, state: IndexState) -> None:
        conn.execute("DELETE FROM index_state")
        conn.execute("INSERT INTO index_state VALUES (?)", [state.to_json()])


def _read_state(conn: duckdb.DuckDBPyConnection) -> IndexState | None:
    rows = conn.execute("SELECT state FROM index_state").fetchall()
    return IndexState.from_json(rows[0][0]) if rows else None


def prune(files: Path, live: Path, now: float | None = None) -> list[Path]:
    """Delete the files replaced more than ``GRACE_S`` ago, keeping ``live`` and the two
    newest whatever their age; return what was deleted. A file was replaced when the next
    newer one was written (its mtime)."""
    now = time.time() if now is None else now
    dated = []
    for path in files.glob("*.duckdb"):
        try:
            dated.append((path.stat().st_mtime, path))
        except FileNotFoundError:  # another writer pruned it
            continue
    dated.sort(reverse=True)
    deleted = []
    for i in range(2, len(dated)):
        replaced_at, path = dated[i - 1][0], dated[i][1]
        if path != live and now - replaced_at > GRACE_S:
            path.unlink(missing_ok=True)
            deleted.append(path)
    return deleted
