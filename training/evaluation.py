"""Query -> chunk retrieval metrics at every Matryoshka dimension.

The evaluator is sentence-transformers' InformationRetrievalEvaluator, one per dimension
(``truncate_dim``), with one twist: the corpus is encoded once at the native dimension and
sliced for the smaller ones, since truncation is exactly that slice. Scoring is cosine at
every dimension: truncated embeddings are no longer unit length, so dot product would
rank them differently from how a Matryoshka consumer (who re-normalizes) sees them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
from sentence_transformers.util import cos_sim

from embedloop.evaluation.bootstrap import paired_bootstrap
from embedloop.evaluation.gate import primary_sets
from embedloop.evaluation.scoring import SetScores, score_sets
from embedloop.evaluation.sets import EvalSet, set_hashes
from embedloop.metrics import METRIC_KEYS, PRIMARY, Metrics, matryoshka_dims, metrics_for_metadata
from training.data import IRInputs

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "METRIC_KEYS",
    "MatryoshkaIREvaluator",
    "evaluate_model",
    "evaluation_report",
    "matryoshka_dims",
    "score_models",
]
MODELS = ("base", "candidate", "incumbent")

SCORE_NAME = "cosine"


class MatryoshkaIREvaluator(BaseEvaluator):
    """IR metrics for each dim; usable as the trainer's evaluator and stand-alone."""

    def __init__(
        self, inputs: IRInputs, dims: Iterable[int], name: str = "ir", batch_size: int = 64
    ) -> None:
        super().__init__()
        self.inputs = inputs
        self.dims = sorted(set(dims), reverse=True)
        self.name = name
        self.batch_size = batch_size
        # The evaluator is typed for multimodal inputs; ours are plain strings.
        queries: dict[str, Any] = dict(inputs.queries)
        corpus: dict[str, Any] = dict(inputs.corpus)
        self.evaluators = {
            dim: InformationRetrievalEvaluator(
                queries=queries,
                corpus=corpus,
                relevant_docs=inputs.relevant_docs,
                mrr_at_k=[10],
                ndcg_at_k=[10],
                accuracy_at_k=[1, 5, 10],
                precision_recall_at_k=[1, 5, 10],
                map_at_k=[100],
                batch_size=batch_size,
                name=f"{name}_dim{dim}",
                write_csv=False,
                truncate_dim=dim,
                score_functions={SCORE_NAME: cos_sim},
            )
            for dim in self.dims
        }
        self.primary_metric = self.metric_key(self.dims[0], PRIMARY)

    def metric_key(self, dim: int, metric: str) -> str:
        return f"{self.name}_dim{dim}_{metric}"

    def evaluate(self, model: SentenceTransformer) -> Metrics:
        """``{dim: {metric: value}}`` for the dims this model can produce."""
        native = model.get_embedding_dimension() or max(self.dims)
        dims = [d for d in self.dims if d <= native]
        corpus_ids = list(self.inputs.corpus)
        corpus_embeddings = model.encode_document(
            [self.inputs.corpus[c] for c in corpus_ids],
            batch_size=self.batch_size,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        results: Metrics = {}
        for dim in dims:
            evaluator = self.evaluators[dim]
            if evaluator.corpus_ids != corpus_ids:  # embeddings are matched to ids by position
                raise RuntimeError("evaluator corpus order differs from the encoded corpus")
            # Annotated as dict[str, float] upstream; it is {score_fn: {metric: {k: value}}}.
            scores = cast(
                dict[str, Any],
                evaluator.compute_all_metrics(model, corpus_embeddings=corpus_embeddings[:, :dim]),
            )
            results[dim] = _flatten(scores[SCORE_NAME])
        return results

    def __call__(
        self,
        model: SentenceTransformer,  # type: ignore[override]
        output_path: str | None = None,
        epoch: int = -1,
        steps: int = -1,
    ) -> dict[str, float]:
        metrics = self.evaluate(model)
        return {
            self.metric_key(dim, key): value
            for dim, values in metrics.items()
            for key, value in values.items()
        }


def _flatten(scores: Mapping[str, Mapping[int, float]]) -> dict[str, float]:
    # Keys as in METRIC_KEYS; "recall" is the evaluator's recall (share of relevant chunks
    # found), which differs from its accuracy (any hit) only for multi-chunk queries.
    return {
        "ndcg@10": float(scores["ndcg@k"][10]),
        "mrr@10": float(scores["mrr@k"][10]),
        "recall@1": float(scores["recall@k"][1]),
        "recall@5": float(scores["recall@k"][5]),
        "recall@10": float(scores["recall@k"][10]),
        "map@100": float(scores["map@k"][100]),
    }


def evaluate_model(
    model: SentenceTransformer, inputs: IRInputs, dims: Iterable[int], batch_size: int = 64
) -> Metrics:
    """IR metrics of ``model`` at each of ``dims`` it can produce (larger dims are skipped)."""
    return MatryoshkaIREvaluator(inputs, dims, name="test", batch_size=batch_size).evaluate(model)


def score_models(
    models: Mapping[str, SentenceTransformer | None],
    sets: Mapping[str, EvalSet],
    corpus: Mapping[str, str],
    dims: Iterable[int],
) -> dict[str, dict[str, SetScores]]:
    """Every model on every set, in one step; a None model is scored as the base model."""
    dims = list(dims)
    scores = {
        label: score_sets(model, sets, corpus, dims)
        for label, model in models.items()
        if model is not None
    }
    return {label: scores.get(label, scores["base"]) for label in models}


def _combined(parts: list[tuple[int, Metrics]]) -> Metrics:
    """Means over the union of several sets' queries (each set's mean weighted by its n)."""
    total = sum(n for n, _ in parts)
    dims = set.intersection(*(set(m) for _, m in parts)) if parts else set()
    return {
        d: {k: sum(n * m[d][k] for n, m in parts) / total if total else 0.0 for k in METRIC_KEYS}
        for d in dims
    }


def _set_report(
    name: str,
    sets: Mapping[str, EvalSet],
    scores: Mapping[str, Mapping[str, SetScores]],
    native: int,
    bootstrap: Mapping[str, Any],
) -> dict[str, Any]:
    cand, inc = scores["candidate"][name], scores["incumbent"][name]
    interval = paired_bootstrap(cand.ndcg.get(native, []), inc.ndcg.get(native, []), **bootstrap)
    return {
        "n": len(cand.query_ids),
        "dropped": cand.dropped,
        "notes": list(sets[name].notes),
        **{label: metrics_for_metadata(scores[label][name].metrics) for label in MODELS},
        "interval": interval.as_dict(),
        "per_query_ndcg": {
            "query_ids": cand.query_ids,
            **{label: scores[label][name].ndcg.get(native, []) for label in MODELS},
            # Every dim, so the gate judges a regression at any dim on its interval.
            "by_dim": {
                str(dim): {label: scores[label][name].ndcg.get(dim, []) for label in MODELS}
                for dim in sorted(cand.ndcg, reverse=True)
            },
        },
    }


def evaluation_report(
    sets: Mapping[str, EvalSet],
    scores: Mapping[str, Mapping[str, SetScores]],
    native: int,
    min_real_queries: int,
    bootstrap: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Per set and dim metrics of base, candidate and incumbent, each set's bootstrap
    interval of candidate - incumbent at the native dim, and the gate's primary set.

    ``bootstrap``: resamples, confidence and seed for ``paired_bootstrap``."""
    per_set = {name: _set_report(name, sets, scores, native, bootstrap or {}) for name in sets}
    primary = primary_sets({n: r["n"] for n, r in per_set.items()}, min_real_queries)
    summary = {
        label: metrics_for_metadata(
            _combined(
                [(per_set[s]["n"], scores[label][s].metrics) for s in primary if per_set[s]["n"]]
            )
        )
        for label in MODELS
    }
    return {
        "native_dim": native,
        "primary_set": "+".join(primary),
        "test_set_hash": set_hashes(sets),
        "sets": per_set,
        **summary,
    }
