"""The search log and the feedback endpoint, on the real app and index (TestClient) with
the log in SQLite beside the DuckDB index and in PostgreSQL beside pgvector: every search
logged with what it returned, feedback idempotent per search, chunk and user, bad feedback
a 4xx, and a log that fails never failing a search."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from embedloop.config import Settings
from embedloop.index.build import IndexTarget
from embedloop.searches.log import LogCursor, SearchLog, hash_user, open_search_log
from embedloop.serving.app import create_app
from embedloop.serving.searcher import Searcher
from tests.helpers.serving import QUESTION, build


@pytest.fixture
def served(
    target: IndexTarget, settings: Settings, chunks: pd.DataFrame
) -> Iterator[tuple[TestClient, Searcher]]:
    build(settings, target, chunks)
    searcher = Searcher(settings, target, open_search_log(settings.data_dir, target.postgres_url))
    with TestClient(create_app(searcher)) as client:
        yield client, searcher
    searcher.close()


def _log(settings: Settings, target: IndexTarget) -> SearchLog:
    return open_search_log(settings.data_dir, target.postgres_url)


def test_every_search_is_logged_with_what_it_returned(
    served: tuple[TestClient, Searcher], settings: Settings, target: IndexTarget
) -> None:
    client, _ = served
    body = client.post("/search", json={"query": QUESTION, "k": 3, "user": "ann@example.org"})
    answer = body.json()
    assert body.status_code == 200 and len(answer["search_id"]) == 32
    client.post("/search", json={"query": "restart the worker", "k": 2, "dim": 128})
    batch = _log(settings, target).read_since(LogCursor())
    first, second = batch.searches.to_dict("records")
    assert first["search_id"] == answer["search_id"] and first["query"] == QUESTION
    assert first["chunk_ids"] == [h["chunk_id"] for h in answer["hits"]]
    assert first["scores"] == [h["score"] for h in answer["hits"]]
    assert (first["k"], first["dim"], first["model_version"]) == (3, 384, "base")
    assert first["user_hash"] == hash_user("ann@example.org") != "ann@example.org"
    assert first["latency_ms"] > 0 and first["origin"] == "api"
    assert (second["dim"], second["user_hash"]) == (128, "")
    assert batch.cursor.searches == second["seq"] > first["seq"]
    assert _log(settings, target).read_since(batch.cursor).searches.empty  # the cursor holds
    assert client.get("/health").json()["search_log"] == {
        "enabled": True,
        "logged": 2,
        "failures": 0,
    }


def test_feedback_is_idempotent_and_refuses_what_the_search_did_not_return(
    served: tuple[TestClient, Searcher], settings: Settings, target: IndexTarget
) -> None:
    client, _ = served
    answer = client.post("/search", json={"query": QUESTION, "k": 2}).json()
    sid, top = answer["search_id"], answer["hits"][0]["chunk_id"]
    said = {"search_id": sid, "chunk_id": top, "helpful": True, "user": "u1"}
    assert client.post("/feedback", json=said).json()["recorded"] is True
    assert client.post("/feedback", json=said).json()["recorded"] is False  # the same again
    assert client.post("/feedback", json={**said, "user": "u2"}).json()["recorded"] is True
    assert client.post("/feedback", json={**said, "helpful": False}).json()["recorded"] is True
    nothing = {"search_id": sid, "none_helpful": True}
    assert client.post("/feedback", json=nothing).status_code == 200

    unknown = client.post("/feedback", json={**said, "search_id": "f" * 32})
    assert unknown.status_code == 404 and "no logged search" in unknown.text
    other = client.post("/feedback", json={**said, "chunk_id": "c99"})
    assert other.status_code == 422 and "was not returned by this search" in other.text
    for bad, message in [
        ({"search_id": sid}, "give chunk_id and helpful, or none_helpful"),
        ({"search_id": sid, "chunk_id": top}, "give chunk_id and helpful"),
        ({**nothing, "chunk_id": top}, "none_helpful: true takes no chunk_id"),
        ({**said, "helpful": "perhaps"}, "valid boolean"),
        ({**said, "extra": 1}, "Extra inputs are not permitted"),
    ]:
        response = client.post("/feedback", json=bad)
        assert response.status_code == 422 and message in response.text, (bad, response.text)

    raw = '{"search_id": "\\ud800", "none_helpful": true}'  # JSON's escape, as a client sends it
    surrogate = client.post("/feedback", content=raw, headers={"content-type": "application/json"})
    assert surrogate.status_code == 422 and "search_id" in surrogate.text

    feedback = _log(settings, target).read_since(LogCursor()).feedback
    got = {
        (r.chunk_id, r.user_hash, int(r.helpful), None if pd.isna(r.rank) else int(r.rank))
        for r in feedback.itertuples()
    }
    assert got == {
        (top, hash_user("u1"), 0, 1),  # the changed verdict replaced the first
        (top, hash_user("u2"), 1, 1),
        ("", "", 0, None),
    }


def test_purge_deletes_searches_and_their_feedback(
    served: tuple[TestClient, Searcher], settings: Settings, target: IndexTarget
) -> None:
    client, _ = served
    answer = client.post("/search", json={"query": QUESTION, "k": 1}).json()
    hit = answer["hits"][0]["chunk_id"]
    said = {"search_id": answer["search_id"], "chunk_id": hit, "helpful": True}
    client.post("/feedback", json=said)
    log = _log(settings, target)
    assert log.purge(datetime.now(UTC) - timedelta(days=1)) == 0  # nothing that old
    assert log.purge(datetime.now(UTC) + timedelta(seconds=1)) == 1
    batch = log.read_since(LogCursor())
    assert batch.searches.empty and batch.feedback.empty
    assert list(batch.purges["searches"]) == [0, 1]
    gone = client.post("/feedback", json=said)  # feedback for a search purged meanwhile
    assert gone.status_code == 404


@pytest.mark.parametrize("target", ["duckdb"], indirect=True)
def test_a_locked_or_missing_log_never_fails_a_search(
    served: tuple[TestClient, Searcher], settings: Settings
) -> None:
    client, searcher = served
    path = searcher.search_log.path  # type: ignore[union-attr]
    assert client.post("/search", json={"query": QUESTION}).json()["search_id"]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than we wait
    try:
        locked = client.post("/search", json={"query": QUESTION})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.status_code == 200 and locked.json()["search_id"] is None
    assert locked.json()["hits"]
    Path(path).unlink()
    Path(path).mkdir()  # the log's place taken: it cannot even be opened
    gone = client.post("/search", json={"query": QUESTION})
    assert gone.status_code == 200 and gone.json()["search_id"] is None
    health = client.get("/health").json()["search_log"]
    assert health == {"enabled": True, "logged": 1, "failures": 2}
    feedback = client.post(
        "/feedback", json={"search_id": "a" * 32, "chunk_id": "c04", "helpful": True}
    )
    assert feedback.status_code == 503


@pytest.mark.parametrize("target", ["duckdb"], indirect=True)
def test_logging_can_be_switched_off(
    target: IndexTarget, settings: Settings, chunks: pd.DataFrame
) -> None:
    build(settings, target, chunks)
    quiet = settings.model_copy(
        update={"serve": settings.serve.model_copy(update={"log_searches": False})}
    )
    searcher = Searcher(quiet, target, open_search_log(settings.data_dir, None))
    with TestClient(create_app(searcher)) as client:
        answer = client.post("/search", json={"query": QUESTION}).json()
        assert answer["search_id"] is None and answer["hits"]
        refused = client.post(
            "/feedback", json={"search_id": "a" * 32, "chunk_id": "c04", "helpful": True}
        )
        assert refused.status_code == 404 and "not logged" in refused.text
    searcher.close()
    assert not (settings.data_dir / "search_log.sqlite").exists()
