"""One encoding rule everywhere: queries through ``encode_query``, passages through
``encode_document``. With a prompted model (e5-style ``query: `` / ``passage: ``) the two
differ, so each path that encodes is checked against the evaluation's own encoding:
mining, the round-trip filter, review vectors, the index and search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedloop.config import Settings, parse_settings
from embedloop.embedding_cache import model_key
from embedloop.encoders import encode, encoder_key
from embedloop.evaluation.scoring import _encode as evaluation_encode
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.models import Encoder, load_encoder, production_encoder
from embedloop.negatives import mine_pairs
from embedloop.pairs.roundtrip import round_trip
from embedloop.review.vectors import QueryVectors
from embedloop.serving.searcher import Searcher, SearchRequest
from embedloop.warehouse import EMBEDDING_CACHE
from tests.helpers.training import tiny_tables
from tests.serving.conftest import promote

QUERIES = ["what does the secret store do", "where do step outputs go"]


@pytest.fixture(scope="module")
def prompted(prompted_dir: Path):  # type: ignore[no-untyped-def]
    return load_encoder(str(prompted_dir), "torch")


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    return tiny_tables()


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _cached(cache: pd.DataFrame, keys: list[str]) -> np.ndarray:
    by_key = dict(zip(cache["key"], cache["embedding"], strict=True))
    return np.stack([np.frombuffer(by_key[k], dtype=np.float32) for k in keys])


def test_the_prompts_matter_and_key_the_cache(prompted, prompted_dir: Path, base_path: str):  # type: ignore[no-untyped-def]
    queries = encode(prompted, QUERIES, role="query")
    passages = encode(prompted, QUERIES, role="document")
    # Were the roles ignored, every check below would pass vacuously.
    assert np.abs((queries * passages).sum(axis=1)).max() < 0.99
    assert np.allclose(queries, _unit(evaluation_encode(prompted, QUERIES, True, 8)), atol=1e-5)
    assert np.allclose(passages, _unit(evaluation_encode(prompted, QUERIES, False, 8)), atol=1e-5)
    assert model_key(str(prompted_dir)) != model_key(base_path)
    with pytest.raises(ValueError, match="role must be"):
        encode(prompted, QUERIES, role="passage")  # type: ignore[arg-type]


def test_mining_and_round_trip_encode_by_role(prompted, prompted_dir: Path, tables) -> None:  # type: ignore[no-untyped-def]
    chunks, pairs = tables
    pairs = pairs.head(6)
    key = encoder_key(model_key(str(prompted_dir)), "torch")
    expected_q = encode(prompted, list(pairs["query"]), role="query")
    expected_d = encode(prompted, list(chunks["text"]), role="document")

    mined = mine_pairs(
        prompted, key, chunks, pairs, EMBEDDING_CACHE.empty(), parse_settings({}).hard_negatives
    )
    assert np.allclose(_cached(mined.cache, list(pairs["pair_id"])), expected_q, atol=1e-5)
    assert np.allclose(_cached(mined.cache, list(chunks["chunk_id"])), expected_d, atol=1e-5)

    encoder = Encoder(prompted, str(prompted_dir), "torch", key)
    trip = round_trip(encoder, pairs, chunks, EMBEDDING_CACHE.empty(), k=5, margin=0.0)
    assert np.allclose(_cached(trip.cache, list(pairs["pair_id"])), expected_q, atol=1e-5)
    assert np.allclose(_cached(trip.cache, list(chunks["chunk_id"])), expected_d, atol=1e-5)


def test_review_vectors_are_query_vectors(prompted, prompted_dir: Path, tables) -> None:  # type: ignore[no-untyped-def]
    _, pairs = tables
    rows = pairs.head(4).assign(chunk_state="current")
    vectors = QueryVectors(str(prompted_dir), EMBEDDING_CACHE.empty(), "torch")(rows)
    expected = encode(prompted, list(rows["query"]), role="query")
    assert np.allclose(np.array(vectors), expected, atol=1e-5)


def test_index_holds_passages_and_search_encodes_queries(
    prompted,
    prompted_dir: Path,
    settings: Settings,
    tables,  # type: ignore[no-untyped-def]
) -> None:
    chunks, _ = tables
    promote(settings, prompted_dir, 2)
    store = IndexTarget(None).open(settings)
    refresh_index(store, chunks, production_encoder(settings), settings, EMBEDDING_CACHE.empty())
    store.close()
    searcher = Searcher(settings, IndexTarget(None))
    response = searcher.search(SearchRequest(query=QUERIES[0], k=3))
    searcher.close()
    texts = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    query = encode(prompted, [QUERIES[0]], role="query")[0]
    for hit in response.hits:
        passage = encode(prompted, [texts[hit.chunk_id]], role="document")[0]
        assert hit.score == pytest.approx(float(query @ passage), abs=1e-4)
    assert response.model_version == "2"
