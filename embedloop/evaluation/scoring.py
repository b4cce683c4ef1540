"""Per-query retrieval metrics for every set and Matryoshka dim, from one encoding.

sentence-transformers' InformationRetrievalEvaluator reports only means; the bootstrap
needs each query's score. So the corpus and every set's queries are encoded once at the
native dim and, per dim, truncated, re-normalized (cosine, as a Matryoshka consumer sees
them) and ranked here with numpy, ties broken by chunk id like the evaluator. The metric
definitions are the evaluator's: the means equal its aggregates
(tests/core/evaluation/test_evaluation_sets.py), and trec_eval's
(tests/core/evaluation/test_metrics_reference.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from embedloop.evaluation.sets import EvalSet
from embedloop.metrics import METRIC_KEYS, PRIMARY, Metrics

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

K = 10
MAP_K = 100
_QUERY_BLOCK = 256


@dataclass(frozen=True)
class SetScores:
    """One model on one set: mean metrics per dim and nDCG@10 per query per dim."""

    metrics: Metrics
    ndcg: dict[int, list[float]]  # dim -> per query, in query_ids order
    query_ids: list[str]
    dropped: int = 0  # queries none of whose relevant chunks is in the corpus


def _encode(
    model: SentenceTransformer, texts: Sequence[str], query: bool, batch: int
) -> np.ndarray:
    encode = model.encode_query if query else model.encode_document
    vectors = encode(list(texts), batch_size=batch, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def rank(queries: np.ndarray, corpus: np.ndarray, depth: int = MAP_K) -> np.ndarray:
    """Indices of the ``depth`` best corpus rows per query, best first, ties by index."""
    depth = min(depth, corpus.shape[0])
    out = np.empty((queries.shape[0], depth), dtype=np.int64)
    for start in range(0, queries.shape[0], _QUERY_BLOCK):
        scores = queries[start : start + _QUERY_BLOCK] @ corpus.T
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        out[start : start + _QUERY_BLOCK] = np.take_along_axis(top, order, axis=1)
    return out


def query_metrics(ranked: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """The evaluator's metrics for one query, from its ranked chunk ids."""
    hits = np.array([1.0 if c in relevant else 0.0 for c in ranked[:MAP_K]])
    n_rel = len(relevant)
    discounts = 1.0 / np.log2(np.arange(2, K + 2))
    idcg = discounts[: min(n_rel, K)].sum()
    first = np.flatnonzero(hits[:K])
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return {
        "ndcg@10": float((hits[:K] * discounts[: len(hits[:K])]).sum() / idcg),
        "mrr@10": float(1.0 / (first[0] + 1)) if len(first) else 0.0,
        "recall@1": float(hits[:1].sum() / n_rel),
        "recall@5": float(hits[:5].sum() / n_rel),
        "recall@10": float(hits[:K].sum() / n_rel),
        "map@100": float((precisions * hits).sum() / min(MAP_K, n_rel)),
    }


def score_sets(
    model: SentenceTransformer,
    sets: Mapping[str, EvalSet],
    corpus: Mapping[str, str],
    dims: Sequence[int],
    batch_size: int = 64,
) -> dict[str, SetScores]:
    """Every set's metrics at each of ``dims`` the model can produce, with every chunk of
    ``corpus`` (chunk_id -> text) as a candidate."""
    native = model.get_embedding_dimension() or max(dims)
    dims = sorted({d for d in dims if d <= native}, reverse=True)
    corpus_ids = sorted(corpus)
    corpus_vectors = _encode(model, [corpus[c] for c in corpus_ids], False, batch_size)
    texts = sorted({t for s in sets.values() for t in s.queries.values()})
    query_vectors = _encode(model, texts, True, batch_size) if texts else np.zeros((0, native))
    row = {t: i for i, t in enumerate(texts)}
    known = set(corpus_ids)
    results = {}
    for name, eval_set in sets.items():
        qids = [q for q in sorted(eval_set.queries) if eval_set.relevant.get(q, set()) & known]
        vectors = query_vectors[[row[eval_set.queries[q]] for q in qids]]
        metrics: Metrics = {}
        ndcg: dict[int, list[float]] = {}
        for dim in dims:
            per_query = _score_dim(vectors, corpus_vectors, dim, qids, corpus_ids, eval_set, known)
            metrics[dim] = {
                m: float(np.mean([p[m] for p in per_query])) if qids else 0.0 for m in METRIC_KEYS
            }
            ndcg[dim] = [p[PRIMARY] for p in per_query]
        results[name] = SetScores(metrics, ndcg, qids, len(eval_set.queries) - len(qids))
    return results


def _score_dim(
    queries: np.ndarray,
    corpus: np.ndarray,
    dim: int,
    qids: list[str],
    corpus_ids: list[str],
    eval_set: EvalSet,
    known: set[str],
) -> list[dict[str, float]]:
    if not qids:
        return []
    ranked = rank(_unit(queries[:, :dim]), _unit(corpus[:, :dim]))
    return [
        query_metrics([corpus_ids[i] for i in ranked[j]], eval_set.relevant[q] & known)
        for j, q in enumerate(qids)
    ]
