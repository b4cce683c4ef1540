"""Retrieve chunks for a question with the production model (the base model until one is
promoted) on the serving backend, reusing the chunk embeddings the pipeline cached."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from embedloop.config import Settings
from embedloop.embedding_cache import encode_with_cache
from embedloop.encoders import encode
from embedloop.models import production_encoder
from embedloop.warehouse import DOCUMENT_CHUNKS, EMBEDDING_CACHE, read_table


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    doc_id: str
    heading_path: str
    text: str
    score: float


def search_chunks(settings: Settings, question: str, k: int = 5) -> list[Hit]:
    if not settings.warehouse_path.is_file():
        raise LookupError(f"no warehouse at {settings.warehouse_path}: run `embedloop run` first")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        cache = read_table(conn, EMBEDDING_CACHE)
    if chunks.empty:
        raise LookupError("the corpus is empty: no document_chunks yet, run `embedloop run`")
    encoder = production_encoder(settings)
    encoded = encode_with_cache(
        encoder.model, list(chunks["chunk_id"]), list(chunks["text"]), cache, encoder.key
    )
    query = encode(encoder.model, [question])[0]
    scores = encoded.vectors @ query
    top = np.argsort(-scores)[:k]
    return [
        Hit(
            chunk_id=chunks["chunk_id"].iat[i],
            doc_id=chunks["doc_id"].iat[i],
            heading_path=chunks["heading_path"].iat[i],
            text=chunks["text"].iat[i],
            score=float(scores[i]),
        )
        for i in top
    ]
