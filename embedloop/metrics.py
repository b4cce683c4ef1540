"""The metric table shared by evaluation, promotion and the run summaries (no heavy imports)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Metrics = dict[int, dict[str, float]]  # embedding dim -> metric name -> value
METRIC_KEYS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "map@100")
PRIMARY = "ndcg@10"


def metrics_for_metadata(metrics: Mapping[int, Mapping[str, float]]) -> dict[str, Any]:
    """ZenML metadata and JSON need string keys."""
    return {str(dim): dict(values) for dim, values in metrics.items()}


def metrics_from_metadata(raw: Mapping[Any, Mapping[str, float]]) -> Metrics:
    return {int(dim): {k: float(v) for k, v in values.items()} for dim, values in raw.items()}


def matryoshka_dims(requested: Iterable[int], native_dim: int) -> list[int]:
    """Requested dims that the model can produce, always including its native dim.

    Largest first. The native dim must be trained and evaluated: it is what the model
    serves by default and what the promotion gate compares.
    """
    return sorted({d for d in requested if 0 < d <= native_dim} | {native_dim}, reverse=True)
