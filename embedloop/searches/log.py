"""The search log: every search and every piece of searcher feedback, append-only.

Beside the index: a SQLite file ``<data_dir>/search_log.sqlite`` for the embedded DuckDB
index, three tables in the index's PostgreSQL database when ``$EMBEDLOOP_INDEX_URL`` is
set. SQLite, not DuckDB, for the embedded case: DuckDB lets one process hold a file, so a
Dagster run reading the log would make the API drop searches meanwhile; SQLite's WAL lets
the API append while a run reads.

Three tables, each with a ``seq`` that only grows, so a reader keeps a cursor per table and
never re-reads the log (``read_since``):

- ``searches``: one row per search (query, k, dim, model version, index generation, the
  returned chunk ids and scores in rank order, latency, the caller's ``user`` hashed);
- ``search_feedback``: the latest verdict per (search, chunk, user); a changed verdict is a
  new row (the old one deleted), a repeated one changes nothing; ``chunk_id`` ``''`` is
  "none of the hits helped";
- ``search_purges``: every purge (``purge``), so readers drop what the log no longer holds.

A search never fails because logging failed: ``SearchLog.record`` is called inside a guard
by the searcher, which counts failures for ``/health``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

NONE_HELPFUL = ""  # chunk_id of "none of the returned passages helped"
ANONYMOUS = ""  # user_hash of a caller that passed no user
LOCK_WAIT_S = 0.5  # a search waits at most this long for a locked log, then answers unlogged

SEARCH_COLUMNS = [
    "seq",
    "search_id",
    "searched_at",
    "query",
    "k",
    "dim",
    "model_version",
    "index_generation",
    "chunk_ids",
    "scores",
    "latency_ms",
    "user_hash",
    "origin",
]
FEEDBACK_COLUMNS = ["seq", "search_id", "chunk_id", "user_hash", "helpful", "rank", "created_at"]
PURGE_COLUMNS = ["seq", "before", "purged_at", "searches"]


class UnknownSearch(LookupError):
    """Feedback for a search the log does not hold (never logged, or purged): HTTP 404."""


class NotReturned(ValueError):
    """Feedback for a chunk the search did not return: HTTP 422."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def hash_user(user: str | None) -> str:
    """The stored form of a caller's opaque ``user``: a hash, never the value."""
    if not user:
        return ANONYMOUS
    return hashlib.sha256(f"embedloop-user\x1f{user}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class LoggedSearch:
    query: str
    k: int
    dim: int
    model_version: str
    index_generation: str
    chunk_ids: list[str]
    scores: list[float]
    latency_ms: float
    user: str | None = None
    origin: str = "api"  # api | cli


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in the log's SQL."""

    name: str
    serial: str  # the seq column's type
    param: str  # the placeholder of a parameter

    def sql(self, text: str) -> str:
        return text.replace("?", self.param)


SQLITE = Dialect("sqlite", "INTEGER PRIMARY KEY AUTOINCREMENT", "?")
POSTGRES = Dialect("postgres", "BIGSERIAL PRIMARY KEY", "%s")


def _schema(d: Dialect, prefix: str) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}searches (seq {d.serial}, "
        "search_id TEXT NOT NULL UNIQUE, searched_at TEXT NOT NULL, query TEXT NOT NULL, "
        "k INTEGER NOT NULL, dim INTEGER NOT NULL, model_version TEXT NOT NULL, "
        "index_generation TEXT NOT NULL, hits TEXT NOT NULL, latency_ms REAL NOT NULL, "
        "user_hash TEXT NOT NULL, origin TEXT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {prefix}search_feedback (seq {d.serial}, "
        "search_id TEXT NOT NULL, chunk_id TEXT NOT NULL, user_hash TEXT NOT NULL, "
        "helpful INTEGER NOT NULL, rank INTEGER, created_at TEXT NOT NULL, "
        "UNIQUE (search_id, chunk_id, user_hash))",
        f"CREATE TABLE IF NOT EXISTS {prefix}search_purges (seq {d.serial}, "
        "before TEXT NOT NULL, purged_at TEXT NOT NULL, searches INTEGER NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {prefix}searches_time ON {prefix}searches (searched_at)",
    ]


class SearchLog:
    """The log in SQLite (``path``) or PostgreSQL (``url``); thread-safe, one writer at a time."""

    def __init__(self, path: Path | None = None, url: str | None = None) -> None:
        if (path is None) == (url is None):
            raise ValueError("a search log lives in a SQLite file or a PostgreSQL database")
        self.path, self.url = path, url
        self.dialect = SQLITE if url is None else POSTGRES
        self.prefix = "" if url is None else "embedloop_"
        self.where = str(path) if path is not None else "the index database"
        self._lock = threading.Lock()
        self._pg: Any = None
        self._ready = False

    # Connections: SQLite per operation (cheap; a deleted file is recreated), PostgreSQL kept
    # and reopened once when the server went away.
    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._lock:
            if self.url is None:
                yield from self._sqlite()
            else:
                yield from self._postgres()

    def _sqlite(self) -> Iterator[Any]:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            if not self._ready:
                for statement in _schema(SQLITE, ""):
                    conn.execute(statement)
                self._ready = True
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            conn.close()

    def _postgres(self) -> Iterator[Any]:
        import psycopg2

        for attempt in (1, 2):
            if self._pg is None or self._pg.closed:
                self._pg = psycopg2.connect(self.url, connect_timeout=5)
                self._ready = False
            try:
                if not self._ready:
                    with self._pg, self._pg.cursor() as cur:
                        for statement in _schema(POSTGRES, self.prefix):
                            cur.execute(statement)
                    self._ready = True
                break
            except psycopg2.OperationalError:
                self._pg = None
                if attempt == 2:
                    raise
        with self._pg, self._pg.cursor() as cur:
            # One writer at a time: a reader's cursor must never pass a seq that a slower
            # transaction commits later.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('embedloop_search_log'))")
            yield cur

    def _q(self, text: str) -> str:
        return self.dialect.sql(text.replace("{p}", self.prefix))

    # Writing.
    def record(self, search: LoggedSearch) -> str:
        """Append one search; its ``search_id``."""
        search_id = uuid.uuid4().hex
        hits = json.dumps(
            [[c, round(float(s), 6)] for c, s in zip(search.chunk_ids, search.scores, strict=True)]
        )
        with self._transaction() as cur:
            cur.execute(
                self._q(
                    "INSERT INTO {p}searches (search_id, searched_at, query, k, dim, "
                    "model_version, index_generation, hits, latency_ms, user_hash, origin) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    search_id,
                    now_iso(),
                    search.query,
                    int(search.k),
                    int(search.dim),
                    search.model_version,
                    search.index_generation,
                    hits,
                    round(float(search.latency_ms), 3),
                    hash_user(search.user),
                    search.origin,
                ],
            )
        return search_id

    def feedback(
        self, search_id: str, chunk_id: str | None, helpful: bool, user: str | None = None
    ) -> bool:
        """Record a verdict (``chunk_id`` None: none of the hits helped). True when it
        changed what the log holds; False when the same verdict was there already.

        Raises UnknownSearch for a search the log does not hold, NotReturned for a chunk
        the search did not return."""
        who, chunk = hash_user(user), chunk_id or NONE_HELPFUL
        with self._transaction() as cur:
            cur.execute(self._q("SELECT hits FROM {p}searches WHERE search_id = ?"), [search_id])
            row = cur.fetchone()
            if row is None:
                raise UnknownSearch(f"search_id: no logged search {search_id!r} (or purged)")
            returned = [c for c, _ in json.loads(row[0])]
            if chunk != NONE_HELPFUL and chunk not in returned:
                raise NotReturned(f"chunk_id: {chunk_id!r} was not returned by this search")
            rank = returned.index(chunk) + 1 if chunk != NONE_HELPFUL else None
            key = [search_id, chunk, who]
            cur.execute(
                self._q(
                    "SELECT helpful FROM {p}search_feedback "
                    "WHERE search_id = ? AND chunk_id = ? AND user_hash = ?"
                ),
                key,
            )
            before = cur.fetchone()
            if before is not None and bool(before[0]) == bool(helpful):
                return False
            cur.execute(
                self._q(
                    "DELETE FROM {p}search_feedback "
                    "WHERE search_id = ? AND chunk_id = ? AND user_hash = ?"
                ),
                key,
            )
            cur.execute(
                self._q(
                    "INSERT INTO {p}search_feedback (search_id, chunk_id, user_hash, helpful, "
                    "rank, created_at) VALUES (?, ?, ?, ?, ?, ?)"
                ),
                [*key, int(bool(helpful)), rank, now_iso()],
            )
        return True

    def purge(self, before: datetime, record_empty: bool = True) -> int:
        """Delete every search logged before ``before`` and its feedback; the count. The
        purge is recorded for readers (unless it deleted nothing and ``record_empty`` is
        off, as for the retention sweep on every run)."""
        stamp = before.astimezone(UTC).isoformat(timespec="microseconds")
        with self._transaction() as cur:
            old = self._q("SELECT search_id FROM {p}searches WHERE searched_at < ?")
            cur.execute(
                self._q(f"DELETE FROM {{p}}search_feedback WHERE search_id IN ({old})"), [stamp]
            )
            cur.execute(self._q("DELETE FROM {p}searches WHERE searched_at < ?"), [stamp])
            deleted = int(cur.rowcount or 0)
            if deleted == 0 and not record_empty:
                return 0
            cur.execute(
                self._q(
                    "INSERT INTO {p}search_purges (before, purged_at, searches) VALUES (?, ?, ?)"
                ),
                [stamp, now_iso(), deleted],
            )
        return deleted

    # Reading.
    def read_since(self, cursor: LogCursor) -> LogBatch:
        """Everything appended after ``cursor``, and the cursor after it."""
        with self._transaction() as cur:
            stored = [c for c in SEARCH_COLUMNS if c not in ("chunk_ids", "scores")] + ["hits"]
            searches = self._frame(
                cur,
                f"SELECT {', '.join(stored)} FROM {{p}}searches WHERE seq > ? ORDER BY seq",
                cursor.searches,
                stored,
            )
            feedback = self._frame(
                cur,
                f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM {{p}}search_feedback "
                "WHERE seq > ? ORDER BY seq",
                cursor.feedback,
                FEEDBACK_COLUMNS,
            )
            purges = self._frame(
                cur,
                f"SELECT {', '.join(PURGE_COLUMNS)} FROM {{p}}search_purges WHERE seq > ? "
                "ORDER BY seq",
                cursor.purges,
                PURGE_COLUMNS,
            )
        hits = [json.loads(h) for h in searches.pop("hits")]
        searches["chunk_ids"] = [[c for c, _ in h] for h in hits]
        searches["scores"] = [[float(s) for _, s in h] for h in hits]
        after = LogCursor(
            _last(searches, cursor.searches),
            _last(feedback, cursor.feedback),
            _last(purges, cursor.purges),
        )
        return LogBatch(searches[SEARCH_COLUMNS], feedback, purges, after)

    def _frame(self, cur: Any, sql: str, since: int, columns: list[str]) -> pd.DataFrame:
        cur.execute(self._q(sql), [int(since)])
        return pd.DataFrame(cur.fetchall(), columns=columns)

    def counts(self) -> dict[str, int]:
        """Rows per table, and the newest seq of each (what a sensor compares)."""
        out: dict[str, int] = {}
        with self._transaction() as cur:
            for table in ("searches", "search_feedback", "search_purges"):
                cur.execute(self._q(f"SELECT count(*), coalesce(max(seq), 0) FROM {{p}}{table}"))
                n, last = cur.fetchone()
                out[table], out[f"{table}_seq"] = int(n), int(last)
        return out

    def close(self) -> None:
        if self._pg is not None:
            self._pg.close()
            self._pg = None


@dataclass(frozen=True)
class LogCursor:
    """The newest seq a reader has of each table."""

    searches: int = 0
    feedback: int = 0
    purges: int = 0

    def dumps(self) -> str:
        return json.dumps(
            {"searches": self.searches, "feedback": self.feedback, "purges": self.purges}
        )

    @classmethod
    def parse(cls, raw: str | None) -> LogCursor:
        data = json.loads(raw) if raw else {}
        return cls(
            int(data.get("searches", 0)), int(data.get("feedback", 0)), int(data.get("purges", 0))
        )


@dataclass(frozen=True)
class LogBatch:
    searches: pd.DataFrame  # SEARCH_COLUMNS
    feedback: pd.DataFrame  # FEEDBACK_COLUMNS
    purges: pd.DataFrame  # PURGE_COLUMNS
    cursor: LogCursor


def _last(frame: pd.DataFrame, default: int) -> int:
    return int(frame["seq"].max()) if len(frame) else default


def search_log_path(data_dir: Path) -> Path:
    return data_dir / "search_log.sqlite"


def open_search_log(data_dir: Path, postgres_url: str | None) -> SearchLog:
    """The log beside the index: the index's PostgreSQL database, else a SQLite file."""
    if postgres_url:
        return SearchLog(url=postgres_url)
    return SearchLog(path=search_log_path(data_dir))
