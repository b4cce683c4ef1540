"""The serving edge on a real uvicorn: hostile input is a 4xx, never a 500; a 10 MB body
is refused before it is read; off loopback the API needs its key; /health answers while a
search holds the model; and the index's own backend encodes the queries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import uvicorn

from embedloop.config import Settings
from embedloop.embedding_cache import model_key
from embedloop.encoders import encoder_key
from embedloop.index.build import IndexTarget
from embedloop.index.store import ROW_COLUMNS, IndexState, IndexUnavailable
from embedloop.searches.log import open_search_log
from embedloop.serving.app import create_app
from embedloop.serving.searcher import Searcher, SearchRequest, is_hub_id
from orchestration.cli import main
from orchestration.cli_serving import is_loopback
from tests.helpers.services import free_port
from tests.helpers.serving import QUESTION, build, serving_config
from tests.serving.conftest import make_settings

KEY = "s3cret-key-for-tests"


@pytest.fixture
def server(settings: Settings, chunks: pd.DataFrame) -> Iterator[tuple[str, Searcher]]:
    """The app with an API key on a real uvicorn, in a thread of this process."""
    build(settings, IndexTarget(None), chunks)
    searcher = Searcher(settings, IndexTarget(None), open_search_log(settings.data_dir, None))
    searcher.refresh()  # as serve() does before it listens
    port = free_port()
    config = uvicorn.Config(
        create_app(searcher, KEY), host="127.0.0.1", port=port, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", searcher
    instance.should_exit = True
    thread.join(10)
    searcher.close()


AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"query": "\\ud800"}', "lone surrogate (U+D800)"),
        ('{"query": "where \\udfff keys"}', "lone surrogate"),
        ('{"query": "a\\u0000b"}', "control character (U+0000)"),
        ('{"query": "ring \\u0007 the bell"}', "control character (U+0007)"),
        ('{"query": "ok", "user": "\\u001b[31m"}', "control character (U+001B)"),
        ('{"query": ', "JSON decode error"),
        ("[1, 2]", "Input should be a valid dictionary"),
    ],
)
def test_hostile_bodies_are_422(server: tuple[str, Searcher], raw: str, message: str) -> None:
    url, _ = server
    response = httpx.post(
        f"{url}/search", content=raw, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 422 and message in response.text, response.text


def test_a_query_with_tabs_and_newlines_is_fine(server: tuple[str, Searcher]) -> None:
    url, _ = server
    response = httpx.post(f"{url}/search", json={"query": "where do\tAPI keys\ngo"}, headers=AUTH)
    assert response.status_code == 200 and response.json()["hits"]


def test_a_huge_body_is_413_before_it_is_read(server: tuple[str, Searcher]) -> None:
    url, _ = server
    huge = json.dumps({"query": "x" * 10_000_000})
    response = httpx.post(
        f"{url}/search", content=huge, headers={**AUTH, "content-type": "application/json"}
    )
    assert response.status_code == 413 and "serve.max_body_bytes" in response.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "'
        for _ in range(200):
            yield b"x" * 10_000
        yield b'"}'

    streamed = httpx.post(
        f"{url}/search", content=chunks(), headers={**AUTH, "content-type": "application/json"}
    )
    assert streamed.status_code == 413


def test_the_api_key_guards_everything_but_health(server: tuple[str, Searcher]) -> None:
    url, _ = server
    assert httpx.get(f"{url}/health").status_code == 200
    for path in ("/docs", "/openapi.json"):
        assert httpx.get(f"{url}{path}").status_code == 401
    body = {"query": QUESTION}
    assert httpx.post(f"{url}/search", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    refused = httpx.post(f"{url}/search", json=body, headers=wrong)
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert httpx.post(f"{url}/search", json=body, headers=AUTH).status_code == 200
    assert httpx.get(f"{url}/docs", headers=AUTH).status_code == 200


def test_health_answers_while_a_search_holds_the_model(server: tuple[str, Searcher]) -> None:
    url, searcher = server
    with searcher._lock:  # a search (or a model reload) in progress
        started = time.perf_counter()
        response = httpx.get(f"{url}/health", timeout=5)
        waited = time.perf_counter() - started
    assert response.status_code == 200 and waited < 2


def test_serve_refuses_a_public_bind_without_a_key(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMBEDLOOP_API_KEY", raising=False)
    config = serving_config(settings, tmp_path)
    assert main(["--config", config, "serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in capsys.readouterr().err
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("::")


def test_cli_refuses_control_characters_as_the_api_does(
    settings: Settings,
    chunks: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EMBEDLOOP_INDEX_URL", raising=False)
    build(settings, IndexTarget(None), chunks)
    assert main(["--config", serving_config(settings, tmp_path), "search", "ring \x07 it"]) == 2
    assert "control character (U+0007)" in capsys.readouterr().err
    # A file name in argv that is not UTF-8 arrives as a lone surrogate.
    assert main(["--config", serving_config(settings, tmp_path), "search", "bad \udcff byte"]) == 2
    assert "lone surrogate" in capsys.readouterr().err


def test_the_index_backend_encodes_queries_whatever_serving_is_configured(
    tmp_path: Path, chunks: pd.DataFrame
) -> None:
    pytest.importorskip("openvino")
    built_torch = make_settings(tmp_path / "data")
    build(built_torch, IndexTarget(None), chunks)
    served_ov = make_settings(tmp_path / "data", model={"backend": "openvino"})
    torch_searcher = Searcher(built_torch, IndexTarget(None))
    ov_searcher = Searcher(served_ov, IndexTarget(None))
    try:
        request = {"query": QUESTION, "k": 3}
        expected = torch_searcher.search(SearchRequest(**request))
        got = ov_searcher.search(SearchRequest(**request))
    finally:
        torch_searcher.close()
        ov_searcher.close()
    # Torch vectors in the index: the torch model encodes the query, not OpenVINO's.
    assert [h.score for h in got.hits] == [h.score for h in expected.hits]
    assert type(ov_searcher._model[0].auto_model).__module__.startswith("transformers")


def test_hub_ids_are_told_from_paths() -> None:
    assert is_hub_id("sentence-transformers/all-MiniLM-L6-v2") and is_hub_id("bert-base")
    assert not is_hub_id("/srv/models/2") and not is_hub_id("a/b/c")


def test_an_index_built_from_a_hub_id_is_loaded_from_the_hub_not_refused(
    settings: Settings,
) -> None:
    """A hub id as model.base_model is the index's model_path: the searcher asks the hub
    (offline here, so a 503 saying it could not be loaded), not the file system."""
    hub_id = "sentence-transformers/all-MiniLM-L6-v2"
    key = model_key(hub_id)
    dims = (384, 128)
    state = IndexState("g1", key, encoder_key(key, "torch"), hub_id, "base", 384, dims, 1, "t", "t")
    store = IndexTarget(None).open(settings)
    rows = pd.DataFrame({c: ["c1"] for c in ROW_COLUMNS} | {"model_version": ["base"]})[ROW_COLUMNS]
    store.rebuild(rows, np.ones((1, 384), dtype=np.float32) / np.sqrt(384), state)
    store.close()
    searcher = Searcher(settings, IndexTarget(None))
    try:
        with pytest.raises(IndexUnavailable) as err:
            searcher.refresh()
    finally:
        searcher.close()
    assert "could not be loaded" in str(err.value) and "does not have" not in str(err.value)
