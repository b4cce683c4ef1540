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

from embedloop.metrics import METRIC_KEYS, PRIMARY, Metrics, matryoshka_dims
from training.data import IRInputs

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["METRIC_KEYS", "MatryoshkaIREvaluator", "evaluate_model", "matryoshka_dims"]

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
