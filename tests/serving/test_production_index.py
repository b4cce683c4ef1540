"""The production index on DuckDB (the default) and on a real PostgreSQL with pgvector:
incremental re-embedding, the atomic switch on promotion and rollback, a search during a
rebuild, and the HNSW indexes it builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedloop.config import Settings
from embedloop.encoders import encode
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.index.store import IndexState
from embedloop.models import load_encoder, production_encoder
from embedloop.warehouse import EMBEDDING_CACHE
from tests.serving.conftest import back_to_base, promote

EMPTY = EMBEDDING_CACHE.empty()


def _edit(chunks: pd.DataFrame) -> pd.DataFrame:
    """One chunk rewritten, one removed, one added; 27 unchanged."""
    edited = chunks[chunks["chunk_id"] != "c29"].copy()
    edited.loc[edited["chunk_id"] == "c05", "text"] = "Kubernetes pods restart on failure."
    added = edited.iloc[[0]].assign(chunk_id="c30", text="The gateway routes HTTP requests.")
    return pd.concat([edited, added], ignore_index=True)


def _top(target: IndexTarget, settings: Settings, vector: np.ndarray, dim: int = 384):
    store = target.open(settings)
    try:
        hits, generation = store.search(vector, 3, dim)
        return hits, generation, store.state()
    finally:
        store.close()


def test_incremental_update_embeds_only_changed_chunks(
    target: IndexTarget, settings: Settings, chunks: pd.DataFrame
) -> None:
    encoder = production_encoder(settings)
    store = target.open(settings)
    created = refresh_index(store, chunks, encoder, settings, EMPTY)
    assert (created.mode, created.encoded, created.state.n_chunks) == ("created", 30, 30)
    assert created.state.dims == (384, 128) and created.state.model_version == "base"

    again = refresh_index(store, chunks, encoder, settings, EMPTY)
    assert (again.mode, again.encoded) == ("unchanged", 0)

    edited = _edit(chunks)
    update = refresh_index(store, edited, encoder, settings, EMPTY)
    assert update.mode == "incremental"
    assert (update.added, update.changed, update.removed, update.encoded) == (1, 1, 1, 2)
    assert update.state.generation == created.state.generation  # same model, same build
    store.close()

    vectors = encode(encoder.model, ["Kubernetes pods restart on failure."], role="document")
    hits, _, state = _top(target, settings, vectors[0])
    assert hits[0].chunk_id == "c05" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert state is not None and state.n_chunks == 30
    gone = encode(encoder.model, [chunks.loc[29, "text"]], role="document")[0]
    assert "c29" not in [h.chunk_id for h in _top(target, settings, gone)[0]]
    # Matryoshka: the 128-d index answers too, with the truncated vectors.
    assert _top(target, settings, vectors[0], dim=128)[0][0].chunk_id == "c05"


def test_promotion_and_rollback_switch_atomically_with_searches_during_rebuild(
    target: IndexTarget, settings: Settings, chunks: pd.DataFrame, prompted_dir: Path
) -> None:
    base = production_encoder(settings)
    store = target.open(settings)
    first = refresh_index(store, chunks, base, settings, EMPTY).state
    question = "where do API keys go"
    base_query = encode(base.model, [question], role="query")[0]
    before = [(h.chunk_id, round(h.score, 4)) for h in _top(target, settings, base_query)[0]]

    seen: list[tuple[str, str, int]] = []

    def search_now() -> None:  # runs when the new index is complete but not yet live
        hits, generation, state = _top(target, settings, base_query)
        assert state is not None
        seen.append((generation, state.model_version, len(hits)))

    promote(settings, prompted_dir, 2)
    promoted = production_encoder(settings)
    update = refresh_index(store, chunks, promoted, settings, EMPTY, before_switch=search_now)
    assert update.mode == "rebuilt" and "version base -> 2" in update.reason
    assert update.encoded == 30
    assert seen == [(first.generation, "base", 3)]  # the old index, whole, during the build
    hits, generation, state = _top(target, settings, base_query)
    assert state is not None and generation == state.generation
    assert generation != first.generation, (generation, first)
    assert state.model_version == "2" and {h.model_version for h in hits} == {"2"}
    # Readers load the version's own export, which stays when production moves on.
    assert Path(state.model_path) == (settings.data_dir / "models" / "2").resolve()
    # The rows are the promoted model's passage vectors: its query finds c04 at its score.
    model = load_encoder(state.model_path, "torch")
    query = encode(model, [question], role="query")[0]
    top = _top(target, settings, query)[0][0]
    passage = encode(model, [chunks.loc[4, "text"]], role="document")[0]
    assert top.chunk_id == "c04" and top.score == pytest.approx(float(query @ passage), abs=1e-4)

    seen.clear()
    back_to_base(settings)
    rolled = refresh_index(
        store, chunks, production_encoder(settings), settings, EMPTY, before_switch=search_now
    )
    store.close()
    assert rolled.mode == "rebuilt" and seen == [(state.generation, "2", 3)]
    after = _top(target, settings, base_query)
    assert after[2] is not None and after[2].model_version == "base"
    assert [(h.chunk_id, round(h.score, 4)) for h in after[0]] == before


def test_pgvector_builds_hnsw_per_dim_and_swaps_tables(
    pg_url: str, settings: Settings, chunks: pd.DataFrame, prompted_dir: Path
) -> None:
    import psycopg2

    target = IndexTarget(pg_url)
    store = target.open(settings)
    refresh_index(store, chunks, production_encoder(settings), settings, EMPTY)
    promote(settings, prompted_dir, 2)
    refresh_index(store, chunks, production_encoder(settings), settings, EMPTY)
    store.close()
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'production_index' "
            "AND indexdef LIKE '%hnsw%' ORDER BY indexdef"
        )
        definitions = [row[0] for row in cur.fetchall()]
        cur.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'production_index%'")
        tables = sorted(row[0] for row in cur.fetchall())
        cur.execute("SELECT count(*), count(DISTINCT model_version) FROM production_index")
        counts = cur.fetchone()
    assert len(definitions) == 2
    assert any("(embedding vector_cosine_ops)" in d for d in definitions)
    assert any("(embedding_128 vector_cosine_ops)" in d for d in definitions)
    assert tables == ["production_index"]  # the build table was renamed, the old dropped
    assert counts == (30, 1)


def test_state_round_trips_and_bad_chunks_are_refused(
    settings: Settings, chunks: pd.DataFrame
) -> None:
    state = IndexState("g", "w", "e", "/m", "3", 384, (384, 128), 2, "t0", "t1")
    assert IndexState.from_json(state.to_json()) == state
    doubled = pd.concat([chunks, chunks.iloc[[0]]], ignore_index=True)
    store = IndexTarget(None).open(settings)
    with pytest.raises(ValueError, match="duplicate chunk ids"):
        refresh_index(store, doubled, production_encoder(settings), settings, EMPTY)


def test_another_backend_rebuilds(settings: Settings, chunks: pd.DataFrame) -> None:
    from tests.serving.conftest import make_settings

    store = IndexTarget(None).open(settings)
    refresh_index(store, chunks, production_encoder(settings), settings, EMPTY)
    int8 = make_settings(settings.data_dir, model={"backend": "torch-int8"})
    update = refresh_index(store, chunks, production_encoder(int8), int8, EMPTY)
    store.close()
    assert (update.mode, update.reason) == (
        "rebuilt",
        "the inference backend changed (model.backend)",
    )
    assert update.state.model_version == "base" and update.encoded == 30
