"""Keep the production index equal to the live chunks embedded by the production model.

The same model (same weights and backend) as the index was built with: only chunks that
are new or whose text, document or heading changed are embedded, and removed chunks are
deleted, in one transaction. Another model (a promotion or a rollback) or other indexed
dims: every chunk is embedded again into a new index built beside the live one and
switched in atomically. Chunk vectors already in the warehouse's embedding cache (hard
negative mining encodes the corpus with the production model) are reused either way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from embedloop.config import Settings
from embedloop.embedding_cache import Encoded, encode_with_cache, model_key, text_hash
from embedloop.index.duckdb_store import DuckDBIndex
from embedloop.index.store import FINGERPRINT, ROW_COLUMNS, IndexState, IndexStore
from embedloop.models import MODEL_MARKER, Encoder, model_version


@dataclass(frozen=True)
class IndexTarget:
    """Where the index lives: a PostgreSQL URL (pgvector), or None for the DuckDB file."""

    postgres_url: str | None = None

    def open(self, settings: Settings) -> IndexStore:
        cfg = settings.index
        if self.postgres_url:
            from embedloop.index.pgvector_store import PgVectorIndex

            return PgVectorIndex(
                self.postgres_url, cfg.table, cfg.hnsw_m, cfg.hnsw_ef_construction, cfg.ef_search
            )
        return DuckDBIndex(duckdb_index_path(settings), cfg.table)


def duckdb_index_path(settings: Settings) -> Path:
    return settings.data_dir / f"{settings.index.table}.duckdb"


@dataclass(frozen=True)
class IndexUpdate:
    mode: str  # created | rebuilt | incremental | unchanged
    reason: str
    state: IndexState
    added: int = 0
    changed: int = 0
    removed: int = 0
    encoded: int = 0  # texts run through the model (the rest came from a cache)
    seconds: float = 0.0


def indexed_dims(native: int, matryoshka: Sequence[int], enabled: bool) -> tuple[int, ...]:
    """The native dim first, then each configured Matryoshka dim below it."""
    lower = sorted({int(d) for d in matryoshka if 0 < d < native}, reverse=True)
    return (native, *(lower if enabled else []))


def serving_model_path(encoder: Encoder, data_dir: Path) -> str:
    """Where readers load the index's model: the version's own export
    (``<data_dir>/models/<n>``), which stays put when production moves on, if it holds the
    same weights; else the path the index was built from."""
    version = model_version(encoder.path)
    if version != "base":
        pinned = data_dir / "models" / version
        if (pinned / MODEL_MARKER).is_file() and model_key(str(pinned)) == model_key(encoder.path):
            return str(pinned.resolve())
    return encoder.path


def chunk_rows(chunks: pd.DataFrame, version: str) -> pd.DataFrame:
    rows = chunks[["chunk_id", "doc_id", "heading_path", "text"]].reset_index(drop=True).copy()
    rows["heading_path"] = rows["heading_path"].fillna("")
    rows["text_hash"] = [text_hash(t) for t in rows["text"]]
    rows["model_version"] = version
    return rows[ROW_COLUMNS]


def refresh_index(
    store: IndexStore,
    chunks: pd.DataFrame,
    encoder: Encoder,
    settings: Settings,
    cache: pd.DataFrame,
    before_switch: Callable[[], None] | None = None,
) -> IndexUpdate:
    """Bring ``store`` up to ``chunks`` (document_chunks) under ``encoder``."""
    started = time.perf_counter()
    if chunks["chunk_id"].duplicated().any():
        raise ValueError("document_chunks has duplicate chunk ids: cannot index it")
    native = int(encoder.model.get_embedding_dimension() or 0)
    if native <= 0:
        raise ValueError(f"cannot tell the embedding dimension of {encoder.path}")
    now = datetime.now(UTC).isoformat()
    rows = chunk_rows(chunks, model_version(encoder.path))
    wanted = IndexState(
        generation=uuid.uuid4().hex[:12],
        weights_key=model_key(encoder.path),
        encoder_key=encoder.key,
        model_path=serving_model_path(encoder, settings.data_dir),
        model_version=model_version(encoder.path),
        dim=native,
        dims=indexed_dims(native, settings.training.matryoshka_dims, settings.index.matryoshka),
        n_chunks=len(rows),
        built_at=now,
        updated_at=now,
    )
    previous = store.state()
    reason = _rebuild_reason(previous, wanted)
    if reason is None and previous is not None:
        update = _incremental(store, rows, encoder, cache, previous, wanted)
    else:
        encoded = _encode(encoder, rows, cache)
        store.rebuild(rows, encoded.vectors, wanted, before_switch)
        mode = "created" if previous is None else "rebuilt"
        update = IndexUpdate(mode, reason or "", wanted, added=len(rows), encoded=encoded.encoded)
    return replace(update, seconds=time.perf_counter() - started)


def _rebuild_reason(previous: IndexState | None, wanted: IndexState) -> str | None:
    if previous is None:
        return "no index yet"
    if previous.weights_key == wanted.weights_key and previous.encoder_key != wanted.encoder_key:
        return "the inference backend changed (model.backend)"
    if previous.encoder_key != wanted.encoder_key:
        return (
            f"the production model changed (version {previous.model_version} -> "
            f"{wanted.model_version})"
        )
    if previous.dims != wanted.dims:
        return f"indexed dims changed ({list(previous.dims)} -> {list(wanted.dims)})"
    return None


def _incremental(
    store: IndexStore,
    rows: pd.DataFrame,
    encoder: Encoder,
    cache: pd.DataFrame,
    previous: IndexState,
    wanted: IndexState,
) -> IndexUpdate:
    old = store.fingerprints()
    old_keys = set(old[FINGERPRINT].itertuples(index=False, name=None))
    new_keys = list(rows[FINGERPRINT].itertuples(index=False, name=None))
    stale = [key not in old_keys for key in new_keys]
    live_ids = set(rows["chunk_id"])
    old_ids = set(old["chunk_id"])
    removed = sorted(old_ids - live_ids)
    todo = rows[stale].reset_index(drop=True)
    state = replace(wanted, generation=previous.generation, built_at=previous.built_at)
    if todo.empty and not removed:
        return IndexUpdate("unchanged", "no chunk changed", previous)
    encoded = _encode(encoder, todo, cache)
    changed = sorted(set(todo["chunk_id"]) & old_ids)
    store.update(changed + removed, todo, encoded.vectors, state)
    return IndexUpdate(
        "incremental",
        "same model: only new and changed chunks embedded",
        state,
        added=len(todo) - len(changed),
        changed=len(changed),
        removed=len(removed),
        encoded=encoded.encoded,
    )


def _encode(encoder: Encoder, rows: pd.DataFrame, cache: pd.DataFrame) -> Encoded:
    if rows.empty:
        dim = int(encoder.model.get_embedding_dimension() or 0)
        return Encoded(np.zeros((0, dim), dtype=np.float32), cache.iloc[0:0], 0)
    return encode_with_cache(
        encoder.model,
        list(rows["chunk_id"]),
        list(rows["text"]),
        cache,
        encoder.key,
        what="chunks (production index)",
        role="document",
    )
