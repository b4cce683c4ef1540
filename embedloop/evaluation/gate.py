"""The promotion gate: promote only a gain that holds on real questions, with confidence.

The primary set is ``questions`` + ``human`` (real questions) once they hold at least
``min_real_queries`` queries, else ``synthetic``. A candidate is promoted only when

1. on the primary set, the lower bound of the paired-bootstrap interval of its nDCG@10 gain
   over the incumbent at the native dim reaches ``margin``, and
2. on no set and at no dim does its nDCG@10 (point estimate) fall more than ``tolerance``
   below the incumbent's.

Every failing rule is named with its numbers; the reason always names the primary set, its
size, the difference and its interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from embedloop.evaluation.bootstrap import Interval, paired_bootstrap
from embedloop.evaluation.sets import REAL_SETS
from embedloop.metrics import PRIMARY, Metrics

_EPS = 1e-9  # a gain equal to the margin must not fail on float rounding


@dataclass(frozen=True)
class SetComparison:
    """Candidate and incumbent on one set: mean metrics per dim, nDCG@10 per query at the
    native dim (the same queries, in the same order)."""

    candidate: Metrics
    incumbent: Metrics
    candidate_ndcg: Sequence[float]
    incumbent_ndcg: Sequence[float]

    @property
    def n(self) -> int:
        return len(self.candidate_ndcg)


@dataclass(frozen=True)
class GateSettings:
    native_dim: int
    margin: float
    tolerance: float
    min_real_queries: int
    resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str
    primary: str  # "questions+human", "questions", "human" or "synthetic"
    interval: Interval | None


def primary_sets(sizes: Mapping[str, int], min_real_queries: int) -> list[str]:
    """The real sets when together they hold ``min_real_queries`` queries, else synthetic."""
    real = [s for s in REAL_SETS if sizes.get(s, 0) > 0]
    if real and sum(sizes[s] for s in real) >= min_real_queries:
        return real
    return ["synthetic"]


def _why_primary(sizes: Mapping[str, int], primary: list[str], minimum: int) -> str:
    if primary != ["synthetic"]:
        return ""
    real = sum(sizes.get(s, 0) for s in REAL_SETS)
    return f" (questions + human hold {real} < {minimum} queries)"


def _regressions(sets: Mapping[str, SetComparison], tolerance: float) -> list[str]:
    out = []
    for name, comp in sets.items():
        if comp.n == 0:
            continue
        for dim in sorted(set(comp.candidate) & set(comp.incumbent), reverse=True):
            cand, inc = comp.candidate[dim][PRIMARY], comp.incumbent[dim][PRIMARY]
            if inc - cand > tolerance + _EPS:
                out.append(
                    f"{name} at dim {dim} regresses by {inc - cand:.4f} "
                    f"({inc:.4f} -> {cand:.4f}), more than the tolerance {tolerance:.4f}"
                )
    return out


def decide(sets: Mapping[str, SetComparison], gate: GateSettings) -> GateDecision:
    """Apply both rules; see the module docstring."""
    sizes = {name: comp.n for name, comp in sets.items()}
    primary = primary_sets(sizes, gate.min_real_queries)
    label = "+".join(primary)
    parts = [sets[s] for s in primary if s in sets]
    cand = [v for p in parts for v in p.candidate_ndcg]
    inc = [v for p in parts for v in p.incumbent_ndcg]
    if not cand:
        return GateDecision(False, f"not promoted: the {label} set has no queries", label, None)
    interval = paired_bootstrap(cand, inc, gate.resamples, gate.confidence, gate.seed)
    head = (
        f"on {label} (n={interval.n}){_why_primary(sizes, primary, gate.min_real_queries)} "
        f"{PRIMARY} at dim {gate.native_dim} changes {interval.describe()} "
        f"({gate.resamples} paired bootstrap resamples)"
    )
    failures = []
    if interval.low + _EPS < gate.margin:
        failures.append(f"lower bound {interval.low:+.4f} is below the margin {gate.margin:+.4f}")
    failures += _regressions(sets, gate.tolerance)
    if failures:
        return GateDecision(False, f"not promoted: {head}; " + "; ".join(failures), label, interval)
    reason = (
        f"promoted: {head}; lower bound {interval.low:+.4f} >= margin {gate.margin:+.4f}; "
        f"no set or dim regresses more than {gate.tolerance:.4f}"
    )
    return GateDecision(True, reason, label, interval)
