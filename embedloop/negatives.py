"""Hard-negative mining over the chunk corpus.

Follows the semantics of ``sentence_transformers.util.mine_hard_negatives`` (rank range,
relative margin, top sampling) but adds what that function cannot express: excluding chunks
of the positive's own section, and working on cached embeddings instead of re-encoding the
corpus on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from embedloop.config import HardNegativeSettings
from embedloop.embedding_cache import Encoded, encode_with_cache
from embedloop.warehouse import EMBEDDING_CACHE, HARD_NEGATIVES, PAIR_RETRIEVAL


@dataclass(frozen=True)
class MinedNegative:
    query_index: int
    chunk_index: int
    rank: int  # 0-based rank among all chunks for the query
    score: float


@dataclass
class MiningResult:
    negatives: list[MinedNegative]
    positive_rank: np.ndarray  # (n_queries,) 0-based rank of the positive chunk
    positive_score: np.ndarray  # (n_queries,)
    excluded_false_negatives: int  # candidates dropped by the margin (likely paraphrases)
    excluded_same_section: int


def mine(
    query_vectors: np.ndarray,
    chunk_vectors: np.ndarray,
    positive_index: Sequence[int],
    section_of_chunk: Sequence[str],
    settings: HardNegativeSettings,
    batch_size: int = 256,
) -> MiningResult:
    """Vectors must be L2-normalized, so the dot product is the cosine similarity."""
    chunks = torch.from_numpy(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
    positives = torch.as_tensor(list(positive_index), dtype=torch.long)
    sections = np.asarray(section_of_chunk, dtype=object)
    n_queries = len(positives)
    depth = min(settings.range_max + 1, chunks.shape[0])  # +1: the positive may be inside
    result = MiningResult([], np.zeros(n_queries, int), np.zeros(n_queries), 0, 0)

    for start in range(0, n_queries, batch_size):
        queries = torch.from_numpy(query_vectors[start : start + batch_size].astype(np.float32))
        scores = queries @ chunks.T
        pos = positives[start : start + batch_size]
        pos_scores = scores.gather(1, pos.unsqueeze(1)).squeeze(1)
        result.positive_score[start : start + len(pos)] = pos_scores.numpy()
        result.positive_rank[start : start + len(pos)] = (
            (scores > pos_scores.unsqueeze(1)).sum(dim=1).numpy()
        )
        top_scores, top_idx = scores.topk(depth, dim=1)
        for row in range(len(pos)):
            _pick_negatives(
                start + row,
                int(pos[row]),
                float(pos_scores[row]),
                top_idx[row].tolist(),
                top_scores[row].tolist(),
                sections,
                settings,
                result,
            )
    return result


def _pick_negatives(
    query_index: int,
    positive: int,
    positive_score: float,
    ranked: list[int],
    scores: list[float],
    sections: np.ndarray,
    settings: HardNegativeSettings,
    result: MiningResult,
) -> None:
    picked = 0
    rank = -1
    for chunk, score in zip(ranked, scores, strict=True):
        if chunk == positive:
            continue
        rank += 1  # rank among non-positive chunks, as in mine_hard_negatives
        if rank < settings.range_min:
            continue
        if rank >= settings.range_max or picked >= settings.num_negatives:
            break
        if sections[chunk] == sections[positive]:
            result.excluded_same_section += 1
            continue
        if score > positive_score * settings.relative_margin:
            result.excluded_false_negatives += 1
            continue
        result.negatives.append(MinedNegative(query_index, chunk, rank, score))
        picked += 1


@dataclass
class MinedTables:
    """What the hard_negatives asset writes, and how the work went."""

    negatives: pd.DataFrame  # table hard_negatives
    retrieval: pd.DataFrame  # table pair_retrieval
    cache: pd.DataFrame  # table embedding_cache: other models' rows, and this model's vectors
    # of exactly these chunks and queries
    mining: MiningResult
    texts_encoded: int


def _encode_by_role(
    model: object,
    model_id: str,
    chunks: pd.DataFrame,
    pairs: pd.DataFrame,
    cache: pd.DataFrame,
    settings: HardNegativeSettings,
) -> tuple[Encoded, Encoded]:
    """Chunks as passages (encode_document), queries as queries (encode_query)."""
    batch = settings.batch_size
    chunk_enc = encode_with_cache(
        model, list(chunks["chunk_id"]), list(chunks["text"]), cache, model_id, batch,
        "chunks", role="document",
    )  # fmt: skip
    query_enc = encode_with_cache(
        model, list(pairs["pair_id"]), list(pairs["query"]), cache, model_id, batch,
        "queries", role="query",
    )  # fmt: skip
    return chunk_enc, query_enc


def mine_pairs(
    model: object,
    model_id: str,
    chunks: pd.DataFrame,
    pairs: pd.DataFrame,
    cache: pd.DataFrame,
    settings: HardNegativeSettings,
) -> MinedTables:
    """Encode chunks and queries (reusing ``cache``) and mine negatives for every pair."""
    chunk_enc, query_enc = _encode_by_role(model, model_id, chunks, pairs, cache, settings)
    index = {cid: i for i, cid in enumerate(chunks["chunk_id"])}
    sections = (chunks["doc_id"] + "\x1f" + chunks["heading_path"]).tolist()
    mined = mine(
        query_enc.vectors,
        chunk_enc.vectors,
        [index[c] for c in pairs["chunk_id"]],
        sections,
        settings,
    )
    negatives = pd.DataFrame(
        [
            {
                "pair_id": pairs["pair_id"].iat[n.query_index],
                "negative_chunk_id": chunks["chunk_id"].iat[n.chunk_index],
                "rank": n.rank,
                "score": n.score,
                "positive_score": float(mined.positive_score[n.query_index]),
                "model_key": model_id,
            }
            for n in mined.negatives
        ],
        columns=HARD_NEGATIVES.columns,
    )
    retrieval = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "positive_rank": mined.positive_rank,
            "positive_score": mined.positive_score,
            "model_key": model_id,
        },
        columns=PAIR_RETRIEVAL.columns,
    )
    return MinedTables(
        negatives=negatives,
        retrieval=retrieval,
        # Other models' rows stay (the round-trip filter's base model): dropping them would
        # re-encode the corpus next run. This model's rows: exactly these chunks and queries.
        cache=pd.concat(
            [cache[cache["model_key"] != model_id], chunk_enc.cache, query_enc.cache],
            ignore_index=True,
        )[EMBEDDING_CACHE.columns],
        mining=mined,
        texts_encoded=chunk_enc.encoded + query_enc.encoded,
    )
