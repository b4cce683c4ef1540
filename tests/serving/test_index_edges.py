"""The production index stores at their edges, on a real DuckDB file and a real PostgreSQL:
a reserved word as the table name, ef_search below k, a reader racing a switch, a server
restart, a read-only role, two writers at once, and errors that name no server."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from embedloop.config import ConfigError, IndexSettings, Settings, parse_settings
from embedloop.index.build import IndexTarget, duckdb_index_path
from embedloop.index.duckdb_store import GRACE_S, DuckDBIndex, prune
from embedloop.index.pgvector_store import PgVectorIndex
from embedloop.index.store import ROW_COLUMNS, IndexState, IndexSwitched, IndexUnavailable
from embedloop.serving.searcher import MAX_K
from tests.serving.conftest import make_settings

RNG = np.random.default_rng(7)


def _rows(n: int, version: str = "1") -> pd.DataFrame:
    ids = [f"c{i:04d}" for i in range(n)]
    return pd.DataFrame(
        {
            "chunk_id": ids,
            "doc_id": ["d"] * n,
            "heading_path": ["H"] * n,
            "text": [f"text {i}" for i in ids],
            "text_hash": ids,
            "model_version": [version] * n,
        }
    )[ROW_COLUMNS]


def _vectors(n: int, dim: int) -> np.ndarray:
    v = RNG.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _state(dims: tuple[int, ...], n: int, generation: str | None = None) -> IndexState:
    gen = generation or uuid.uuid4().hex[:12]
    return IndexState(gen, "w", "e", "/m", "1", dims[0], dims, n, "t0", "t0")


def _build(
    store: Any, n: int = 40, dims: tuple[int, ...] = (8, 4)
) -> tuple[np.ndarray, IndexState]:
    vectors, state = _vectors(n, dims[0]), _state(dims, n)
    store.rebuild(_rows(n), vectors, state)
    return vectors, state


def test_ef_search_below_the_largest_k_is_refused() -> None:
    assert IndexSettings.MIN_EF_SEARCH == MAX_K
    with pytest.raises(ConfigError, match=r"ef_search.*at least 100, the largest k"):
        parse_settings({"index": {"ef_search": 40}})
    assert parse_settings({"index": {"ef_search": 100}}).index.ef_search == 100


def test_pgvector_raises_ef_search_to_k_per_search(pg_url: str) -> None:
    store = PgVectorIndex(pg_url, "production_index", ef_search=10)  # below k: not via config
    vectors, _ = _build(store, n=2000)  # enough rows for the planner to use the HNSW index
    hits, _ = store.search(vectors[0], 60, 8)
    store.close()
    assert len(hits) == 60 and hits[0].chunk_id == "c0000"


@pytest.mark.parametrize("backend", ["duckdb", "pgvector"])
def test_a_reserved_word_is_a_table_name(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    settings = make_settings(tmp_path / "data", index={"table": "order"})
    target = IndexTarget(request.getfixturevalue("pg_url") if backend == "pgvector" else None)
    store = target.open(settings)
    vectors, state = _build(store)
    store.update(["c0001"], _rows(1).assign(chunk_id="c9999"), vectors[:1], state)
    store.close()

    reader = target.open(settings)
    hits, generation = reader.search(vectors[0], 3, 4)
    fingerprints = reader.fingerprints()
    reader.close()
    assert generation == state.generation and hits[0].chunk_id in {"c0000", "c9999"}
    assert len(fingerprints) == 40 and "c0001" not in set(fingerprints["chunk_id"])


def _duckdb(settings: Settings) -> DuckDBIndex:
    return DuckDBIndex(duckdb_index_path(settings), settings.index.table)


def test_duckdb_keeps_a_replaced_file_for_readers_that_resolved_the_link(
    settings: Settings,
) -> None:
    writer = _duckdb(settings)
    _build(writer)
    resolved = os.path.realpath(duckdb_index_path(settings))  # a reader, just before a switch
    _, new = _build(writer)

    import duckdb

    with duckdb.connect(resolved, read_only=True) as conn:  # still there to open
        assert conn.execute("SELECT count(*) FROM production_index").fetchone() == (40,)
    reader = _duckdb(settings)
    assert reader.state() == new and reader.search(_vectors(1, 8)[0], 2, 8)[1] == new.generation


def test_duckdb_prunes_files_replaced_longer_ago_than_the_grace_period(tmp_path: Path) -> None:
    now = time.time()
    ages = {"a": 500.0, "b": 400.0, "c": 300.0, "d": 30.0, "e": 10.0}  # e is live
    for name, age in ages.items():
        path = tmp_path / f"{name}.duckdb"
        path.touch()
        os.utime(path, (now - age, now - age))

    deleted = prune(tmp_path, tmp_path / "e.duckdb", now=now)

    # b was replaced 300 s ago (by c), a 400 s ago: both gone. c was replaced 30 s ago (by d),
    # within GRACE_S; d and e are the two newest.
    assert GRACE_S < 300
    assert sorted(p.name for p in deleted) == ["a.duckdb", "b.duckdb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.duckdb", "d.duckdb", "e.duckdb"]


def test_duckdb_readers_follow_switches_without_failing(settings: Settings) -> None:
    """A writer switching as fast as it can while a reader searches: every search answers
    from one whole build, and none fails."""
    writer = _duckdb(settings)
    initial = _build(writer)[1]
    built: list[IndexState] = []
    stop = threading.Event()

    def switch() -> None:
        while not stop.is_set() and len(built) < 15:
            built.append(_build(writer, n=40 + len(built))[1])

    thread = threading.Thread(target=switch)
    thread.start()
    reader, seen = _duckdb(settings), set()
    try:
        while thread.is_alive():
            state = reader.state()
            hits, generation = reader.search(_vectors(1, 8)[0], 100, 8)
            assert state is not None and len(hits) >= 40
            seen.add(generation)
    finally:
        stop.set()
        thread.join()
    assert seen <= {initial.generation} | {s.generation for s in built}
    assert reader.state() == built[-1]


def test_no_index_is_index_unavailable_naming_no_path(settings: Settings) -> None:
    store = _duckdb(settings)
    with pytest.raises(IndexUnavailable, match="no production index yet") as err:
        store.search(_vectors(1, 8)[0], 3, 8)
    assert str(settings.data_dir) not in str(err.value)


def test_an_unreachable_database_names_neither_url_nor_password() -> None:
    url = "postgresql://embedloop:s3cret@127.0.0.1:1/index?connect_timeout=2"
    with pytest.raises(IndexUnavailable, match="index database is unreachable") as err:
        PgVectorIndex(url, "production_index")
    assert "s3cret" not in str(err.value) and "127.0.0.1" not in str(err.value)


def _database(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).path.lstrip("/")


def _stop(server: Any) -> None:
    from pgserver import _commands

    _commands.pg_ctl(  # type: ignore[attr-defined]  # made at import, one per executable
        ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )


def test_pgvector_reconnects_after_the_server_restarts(pg_server: Any, pg_url: str) -> None:
    store = PgVectorIndex(pg_url, "production_index")
    vectors, state = _build(store)
    assert store.search(vectors[0], 3, 8)[0][0].chunk_id == "c0000"

    _stop(pg_server)  # down
    with pytest.raises(IndexUnavailable, match="unreachable") as err:
        store.search(vectors[0], 3, 8)
    assert pg_url not in str(err.value)
    pg_server.ensure_postgres_running()  # up again, same data directory and socket
    assert str(pg_server.get_uri(_database(pg_url))) == pg_url

    hits, generation = store.search(vectors[0], 3, 8)  # the same object, reconnected
    assert hits[0].chunk_id == "c0000" and generation == state.generation
    assert store.state() == state
    store.close()


def test_a_read_only_role_searches_and_keeps_its_grant_across_rebuilds(
    pg_server: Any, pg_url: str
) -> None:
    database = _database(pg_url)
    role = f"reader_{uuid.uuid4().hex[:8]}"
    reader_url = pg_url.replace("postgres:@", f"{role}:@", 1)
    assert reader_url != pg_url
    pg_server.psql(f"CREATE ROLE {role} LOGIN;")
    empty = PgVectorIndex(reader_url, "production_index")  # no DDL: nothing to create
    assert empty.state() is None
    with pytest.raises(IndexUnavailable, match="no production index yet"):
        empty.search(_vectors(1, 8)[0], 3, 8)

    writer = PgVectorIndex(pg_url, "production_index")
    vectors, state = _build(writer)
    grant = f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};"
    pg_server.psql(f'\\c "{database}"\n{grant}')
    assert empty.search(vectors[0], 3, 8)[0][0].chunk_id == "c0000"

    vectors, state = _build(writer)  # a rebuild: a new table, the grant carried over
    hits, generation = empty.search(vectors[0], 3, 8)
    assert hits[0].chunk_id == "c0000" and generation == state.generation
    writer.close()
    empty.close()


def test_a_search_asking_a_dim_the_new_build_lacks_is_index_switched(pg_url: str) -> None:
    reader = PgVectorIndex(pg_url, "production_index")
    writer = PgVectorIndex(pg_url, "production_index")
    vectors, _ = _build(writer, dims=(8, 4))
    assert reader.search(vectors[0], 3, 4)[0]  # the searcher saw dims (8, 4) ...
    _build(writer, dims=(16,))  # ... then a promotion to a 16-d model switched the index
    with pytest.raises(IndexSwitched):
        reader.search(vectors[0, :4], 3, 4)
    with pytest.raises(IndexSwitched):
        reader.search(vectors[0], 3, 8)
    reader.close()
    writer.close()


def test_two_pgvector_writers_never_build_at_once(pg_url: str) -> None:
    first, second = (PgVectorIndex(pg_url, "production_index") for _ in range(2))
    later = _state((8,), 30)
    done = threading.Event()

    def other_host() -> None:
        second.rebuild(_rows(30, "2"), _vectors(30, 8), later)
        done.set()

    thread = threading.Thread(target=other_host)

    def while_built() -> None:  # the first build is complete, not yet switched in
        thread.start()
        assert not done.wait(1.5), "the second writer ran while the first held the index"

    first.rebuild(_rows(20), _vectors(20, 8), _state((8,), 20), before_switch=while_built)
    thread.join(timeout=60)
    assert done.is_set()
    reader = PgVectorIndex(pg_url, "production_index")
    assert reader.state() == later
    assert len(reader.fingerprints()) == 30
    for store in (first, second, reader):
        store.close()
