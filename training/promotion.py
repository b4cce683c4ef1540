"""The promotion gate applied to an evaluation report (see ``embedloop.evaluation.gate``).

Pure functions of the report the evaluation step wrote, so the rule is unit-testable and
the ZenML ``promote`` step only applies its verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from embedloop.config import TrainingSettings
from embedloop.evaluation.gate import GateSettings, SetComparison, decide
from embedloop.metrics import metrics_from_metadata


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    primary_set: str = ""
    interval: dict[str, float | int] | None = None
    ignored: tuple[str, ...] = ()  # sets that neither promoted nor blocked, and why


def gate_settings(ts: TrainingSettings, native_dim: int) -> GateSettings:
    """The promotion gate's parameters from the training settings.

    Args:
        ts: The ``training`` settings.
        native_dim: The candidate's native dimension, the one the gate compares.

    Returns:
        Margin, tolerance, bootstrap and real-question thresholds for ``decide``.
    """
    return GateSettings(
        native_dim=native_dim,
        margin=ts.promotion_margin,
        tolerance=ts.regression_tolerance,
        min_real_queries=ts.min_real_queries,
        resamples=ts.bootstrap_resamples,
        confidence=ts.confidence,
        seed=ts.seed,
    )


def comparisons(report: Mapping[str, Any]) -> dict[str, SetComparison]:
    """Candidate vs incumbent on each set of an ``evaluate_models`` report."""
    out = {}
    for name, entry in report["sets"].items():
        per_query = entry["per_query_ndcg"]
        out[name] = SetComparison(
            candidate=metrics_from_metadata(entry["candidate"]),
            incumbent=metrics_from_metadata(entry["incumbent"]),
            candidate_ndcg=[float(v) for v in per_query["candidate"]],
            incumbent_ndcg=[float(v) for v in per_query["incumbent"]],
            ndcg_by_dim={
                int(dim): (
                    [float(v) for v in lists["candidate"]],
                    [float(v) for v in lists["incumbent"]],
                )
                for dim, lists in per_query.get("by_dim", {}).items()
            },
        )
    return out


def decide_from_report(report: Mapping[str, Any], ts: TrainingSettings) -> Decision:
    """Promote or not, and why, by the gate's two rules."""
    decision = decide(comparisons(report), gate_settings(ts, int(report["native_dim"])))
    interval = decision.interval.as_dict() if decision.interval else None
    return Decision(decision.promote, decision.reason, decision.primary, interval, decision.ignored)
