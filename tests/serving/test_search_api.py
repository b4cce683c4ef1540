"""The search API (FastAPI's TestClient on the real app and index) and `embedloop search`:
the same validation, and a promotion followed without a restart."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from embedloop.config import Settings
from embedloop.index.build import IndexTarget
from embedloop.serving.app import create_app
from embedloop.serving.searcher import Searcher
from orchestration.cli import main
from tests.helpers.serving import QUESTION, build, serving_config
from tests.serving.conftest import promote


@pytest.fixture
def client(target: IndexTarget, settings: Settings, chunks: pd.DataFrame):  # type: ignore[no-untyped-def]
    build(settings, target, chunks)
    searcher = Searcher(settings, target)
    with TestClient(create_app(searcher)) as test_client:
        yield test_client
    searcher.close()


def test_search_and_health(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] == "base"
    assert health["index_size"] == 30 and health["dims"] == [384, 128]
    body = client.post("/search", json={"query": QUESTION, "k": 3}).json()
    assert body["model_version"] == "base" and body["dim"] == 384
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3]
    top = body["hits"][0]
    assert top["chunk_id"] == "c04" and top["heading_path"] == "secret store"
    assert top["doc_id"] == "docs:page1.md" and 0 < top["score"] <= 1
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    small = client.post("/search", json={"query": QUESTION, "k": 1, "dim": 128}).json()
    assert small["dim"] == 128 and small["hits"][0]["chunk_id"] == "c04"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": "", "k": 3}, "query must not be empty"),
        ({"query": "   ", "k": 3}, "query must not be empty"),
        ({"query": QUESTION, "k": 0}, "greater than or equal to 1"),
        ({"query": QUESTION, "k": -1}, "greater than or equal to 1"),
        ({"query": QUESTION, "k": 101}, "less than or equal to 100"),
        ({"query": QUESTION, "k": "many"}, "valid integer"),
        ({"k": 3}, "Field required"),
        ({"query": QUESTION, "top": 3}, "Extra inputs are not permitted"),
        ({"query": "x" * 1001}, "at most 1000 characters"),
        ({"query": QUESTION, "dim": 200}, "200 is not indexed; one of 384, 128"),
    ],
)
def test_bad_requests_are_422_with_a_message(client: TestClient, body: dict, message: str) -> None:
    response = client.post("/search", json=body)
    assert response.status_code == 422
    assert message in response.text


def test_follows_a_promotion_without_restart(
    target: IndexTarget, settings: Settings, chunks: pd.DataFrame, prompted_dir: Path
) -> None:
    build(settings, target, chunks)
    searcher = Searcher(settings, target)
    with TestClient(create_app(searcher)) as client:
        before = client.post("/search", json={"query": QUESTION, "k": 1}).json()
        promote(settings, prompted_dir, 2)
        build(settings, target, chunks)  # production_index after the promotion
        after = client.post("/search", json={"query": QUESTION, "k": 1}).json()
        assert client.get("/health").json()["model_version"] == "2"
    searcher.close()
    assert before["model_version"] == "base" and after["model_version"] == "2"
    # The promoted (prompted) model encoded the query: another score for the same chunk.
    assert after["hits"][0]["chunk_id"] == before["hits"][0]["chunk_id"] == "c04"
    assert after["hits"][0]["score"] != pytest.approx(before["hits"][0]["score"], abs=1e-3)


def test_no_index_is_503(settings: Settings) -> None:
    searcher = Searcher(settings, IndexTarget(None))
    with TestClient(create_app(searcher)) as client:
        response = client.post("/search", json={"query": QUESTION})
        assert response.status_code == 503 and "no production index yet" in response.text
        assert client.get("/health").status_code == 503


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", "--k", "3"], "query: query must not be empty"),
        ([QUESTION, "--k", "0"], "k: Input should be greater than or equal to 1"),
        ([QUESTION, "--k", "-1"], "k: Input should be greater than or equal to 1"),
        ([QUESTION, "--k", "101"], "k: Input should be less than or equal to 100"),
        ([QUESTION, "--dim", "100"], "dim: 100 is not indexed; one of 384, 128"),
    ],
)
def test_cli_search_refuses_what_the_api_refuses(
    settings: Settings,
    chunks: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.delenv("EMBEDLOOP_INDEX_URL", raising=False)
    build(settings, IndexTarget(None), chunks)
    assert main(["--config", serving_config(settings, tmp_path), "search", *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_cli_search_prints_ranked_hits_from_the_index(
    settings: Settings,
    chunks: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMBEDLOOP_INDEX_URL", raising=False)
    config = serving_config(settings, tmp_path)
    assert main(["--config", config, "search", QUESTION]) == 2
    assert "no production index yet" in capsys.readouterr().err
    build(settings, IndexTarget(None), chunks)
    assert main(["--config", config, "search", QUESTION, "--k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1. [") and "secret store  (docs:page1.md)" in lines[0]
    assert lines[2].startswith("2. [")
    assert lines[-2] == "(model version base, duckdb index)"
    assert lines[-1].startswith("search_id ") and len(lines[-1].split()[1]) == 32


def test_a_missing_index_model_is_503_saying_why(
    settings: Settings, chunks: pd.DataFrame, prompted_dir: Path
) -> None:
    import shutil

    promote(settings, prompted_dir, 2)
    build(settings, IndexTarget(None), chunks)
    shutil.rmtree(settings.data_dir / "models")  # e.g. a server without the data dir's models
    searcher = Searcher(settings, IndexTarget(None))
    with TestClient(create_app(searcher)) as client:
        response = client.post("/search", json={"query": QUESTION})
    searcher.close()
    assert response.status_code == 503
    assert "built by model version 2" in response.text and "does not have" in response.text
