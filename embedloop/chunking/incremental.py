"""Re-chunk only what changed.

Per-document chunks are cached under (doc_id, content_hash, chunker_key); a document is
re-chunked only when its content or the chunker settings changed. De-duplication across
documents is cheap, so it runs over the whole cache every time.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from embedloop.chunking.chunker import (
    Chunk,
    HFTokenCounter,
    TokenCounter,
    chunk_document,
    dedupe_chunks,
)
from embedloop.config import Settings
from embedloop.warehouse import CHUNK_CACHE, DOCUMENT_CHUNKS

# Bump when the chunking algorithm changes so every cached chunk is recomputed.
CHUNKER_VERSION = 1


@dataclass(frozen=True)
class ChunkerParams:
    model: str
    max_tokens: int
    overlap_tokens: int
    min_tokens: int

    @property
    def key(self) -> str:
        payload = json.dumps({**self.__dict__, "version": CHUNKER_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def chunker_for(settings: Settings) -> tuple[HFTokenCounter, ChunkerParams]:
    """The tokenizer and chunking parameters; the chunk quality check uses the same."""
    model = settings.model.resolved_base_model()
    counter = HFTokenCounter.from_model(model)
    # One token budget for chunking, training and evaluation: by default a chunk fits the
    # training sequence length whole (training.max_seq_length, else the model's own).
    if settings.training.max_seq_length:
        counter.max_seq_length = min(counter.max_seq_length, settings.training.max_seq_length)
    params = ChunkerParams(
        model=model,
        max_tokens=settings.chunking.max_tokens or counter.content_budget,
        overlap_tokens=settings.chunking.overlap_tokens,
        min_tokens=settings.chunking.min_tokens,
    )
    return counter, params


@dataclass
class ChunkRefresh:
    cache: pd.DataFrame
    chunks: pd.DataFrame
    counts: Counter[str] = field(default_factory=Counter)


def refresh_chunks(
    documents: pd.DataFrame,
    previous_cache: pd.DataFrame,
    counter: TokenCounter,
    params: ChunkerParams,
) -> ChunkRefresh:
    live = documents[~documents["deleted"].astype(bool)]
    key = params.key
    cached = previous_cache[previous_cache["chunker_key"] == key]
    cached_versions = set(zip(cached["doc_id"], cached["content_hash"], strict=True))

    current = set(zip(live["doc_id"], live["content_hash"], strict=True))
    # numpy masks, not lists: indexing a frame with an empty list selects no *columns*.
    reused = cached[
        np.array(
            [v in current for v in zip(cached["doc_id"], cached["content_hash"], strict=True)],
            dtype=bool,
        )
    ]
    versions = zip(live["doc_id"], live["content_hash"], strict=True)
    stale = live[np.array([v not in cached_versions for v in versions], dtype=bool)]
    counts: Counter[str] = Counter(
        documents_rechunked=len(stale),
        documents_reused=len(current) - len(stale),
        documents_removed=len(set(previous_cache["doc_id"]) - set(live["doc_id"])),
    )

    fresh_rows = _chunk_rows(stale, counter, params)
    cache = pd.concat(
        [reused, pd.DataFrame(fresh_rows, columns=CHUNK_CACHE.columns)], ignore_index=True
    )
    cache = cache.sort_values(["doc_id", "position"], ignore_index=True)
    counts["chunks_computed"] = len(fresh_rows)

    deduped = dedupe_chunks(
        (row.doc_id, Chunk(row.heading_path, row.text, int(row.n_tokens), int(row.position)))
        for row in cache.itertuples(index=False)
    )
    chunks = pd.DataFrame(
        [{**d.__dict__, "doc_ids": list(d.doc_ids)} for d in deduped],
        columns=DOCUMENT_CHUNKS.columns,
    )
    counts["duplicates_collapsed"] = len(cache) - len(chunks)
    return ChunkRefresh(cache=cache, chunks=chunks, counts=counts)


def _chunk_rows(
    documents: pd.DataFrame, counter: TokenCounter, params: ChunkerParams
) -> list[dict]:
    """Chunk cache rows for ``documents``."""
    rows: list[dict] = []
    for doc in documents.itertuples(index=False):
        for chunk in chunk_document(
            doc.text,
            counter,
            max_tokens=params.max_tokens,
            overlap_tokens=params.overlap_tokens,
            min_tokens=params.min_tokens,
            title=doc.title,
        ):
            rows.append(
                {"doc_id": doc.doc_id, "content_hash": doc.content_hash, "chunker_key": params.key}
                | chunk.__dict__
            )
    return rows
