"""Round-trip consistency with a fixed model: can a query find its own passage?

InPars/Promptagator-style: a pair is kept only when the *base* model (fixed, so the filter
does not drift as models are promoted) ranks the positive among the top k of all chunks for
the query, or scores it within ``margin`` of the k-th. Chunks of the positive's own section
do not compete: they answer the query too (every chunk of a section is relevant).
Chunk vectors come from the warehouse's embedding cache, so only new texts are encoded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from embedloop.config import Settings
from embedloop.embedding_cache import encode_with_cache
from embedloop.models import Encoder

# Queries scored against the whole corpus per matrix product: bounds memory at 10k chunks.
_QUERY_BLOCK = 512


@dataclass
class RoundTrip:
    rank: np.ndarray  # chunks outside the positive's section that score above the positive
    keep: np.ndarray  # bool: rank < k, or positive score within margin of the k-th
    cache: pd.DataFrame  # embedding cache rows of the chunks and queries (base model)
    encoded: int


def base_encoder(settings: Settings) -> Encoder:
    """The configured base model on the serving backend, keyed like the production one."""
    from embedloop.embedding_cache import model_key
    from embedloop.encoders import encoder_key
    from embedloop.models import hub_offline, load_encoder, serving_backend

    path = settings.model.resolved_base_model()
    backend = serving_backend(settings)
    model = load_encoder(path, backend, settings.cache_dir, hub_offline(settings))
    return Encoder(model, path, backend, encoder_key(model_key(path), backend))


def round_trip(
    encoder: Encoder,
    pairs: pd.DataFrame,
    chunks: pd.DataFrame,
    cache: pd.DataFrame,
    k: int,
    margin: float,
    batch_size: int = 64,
) -> RoundTrip:
    """Score ``pairs`` (pair_id, chunk_id, query) against every chunk of ``chunks``."""
    chunk_enc = encode_with_cache(
        encoder.model,
        list(chunks["chunk_id"]),
        list(chunks["text"]),
        cache,
        encoder.key,
        batch_size,
        "chunks (round trip)",
        role="document",
    )
    query_enc = encode_with_cache(
        encoder.model,
        list(pairs["pair_id"]),
        list(pairs["query"]),
        cache,
        encoder.key,
        batch_size,
        "queries (round trip)",
        role="query",
    )
    index = {cid: i for i, cid in enumerate(chunks["chunk_id"])}
    sections = pd.factorize(chunks["doc_id"] + "\x1f" + chunks["heading_path"])[0]
    positive = np.array([index[c] for c in pairs["chunk_id"]], dtype=np.int64)
    rank, keep = rank_positives(query_enc.vectors, chunk_enc.vectors, positive, sections, k, margin)
    return RoundTrip(
        rank=rank,
        keep=keep,
        cache=pd.concat([chunk_enc.cache, query_enc.cache], ignore_index=True),
        encoded=chunk_enc.encoded + query_enc.encoded,
    )


def rank_positives(
    queries: np.ndarray,
    chunks: np.ndarray,
    positive: np.ndarray,
    sections: np.ndarray,
    k: int,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each query's positive among chunks outside its section, and the keep mask."""
    rank = np.zeros(len(positive), dtype=np.int64)
    keep = np.zeros(len(positive), dtype=bool)
    for start in range(0, len(positive), _QUERY_BLOCK):
        part = slice(start, start + _QUERY_BLOCK)
        scores = queries[part] @ chunks.T
        rows = np.arange(scores.shape[0])
        pos_score = scores[rows, positive[part]]
        others = np.where(sections[None, :] == sections[positive[part]][:, None], -np.inf, scores)
        rank[part] = (others > pos_score[:, None]).sum(axis=1)
        # The k-th best competitor; -inf when fewer than k chunks compete (always kept).
        if others.shape[1] >= k:
            kth = -np.partition(-others, k - 1, axis=1)[:, k - 1]
        else:
            kth = np.full(len(rows), -np.inf)
        keep[part] = pos_score + margin >= kth
    return rank, keep
