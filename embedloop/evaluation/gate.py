"""The promotion gate: promote only a gain that holds on real questions, with confidence.

Every set is judged on the paired bootstrap over its queries, never on a point difference,
and only a set large enough to say something takes part:

- A set with fewer than ``min_real_queries`` queries neither promotes nor blocks; the
  reason names it as ignored, with its size. One harvested question cannot veto a model.
- The primary set is ``questions`` + ``human`` + ``searches`` (real questions: question
  files and FAQs, what annotators wrote, what people searched and reviewers judged) once
  together they hold at least ``min_real_queries`` queries; until then ``synthetic``,
  which then promotes on its interval whatever its size (a small set gives a wide
  interval, which rarely reaches the margin). Once real questions gate, ``synthetic`` is
  reported but judges nothing: generated queries flatter every finetune, and the people
  who ask questions decide.

A candidate is promoted only when

1. on the primary set, the lower bound of the paired-bootstrap interval of its nDCG@10 gain
   over the incumbent at the native dim reaches ``margin``, and
2. on no judged set and at no dim is it surely worse by more than ``tolerance``: the
   regression (incumbent - candidate) has its lower bound, the interval's far end, beyond
   the tolerance. Where a report carries no per-query scores for a dim (reports written
   before they were kept), the point difference stands in.

Every failing rule is named with its numbers; the reason always names the primary set, its
size, the difference and its interval, and every set it ignored and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from embedloop.evaluation.bootstrap import Interval, paired_bootstrap
from embedloop.evaluation.sets import REAL_SETS
from embedloop.metrics import PRIMARY, Metrics

_EPS = 1e-9  # a gain equal to the margin must not fail on float rounding


@dataclass(frozen=True)
class SetComparison:
    """Candidate and incumbent on one set: mean metrics per dim, nDCG@10 per query at the
    native dim, and per query at every dim where known (the same queries, in one order)."""

    candidate: Metrics
    incumbent: Metrics
    candidate_ndcg: Sequence[float]
    incumbent_ndcg: Sequence[float]
    # dim -> (candidate, incumbent) nDCG@10 per query.
    ndcg_by_dim: Mapping[int, tuple[Sequence[float], Sequence[float]]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.candidate_ndcg)

    def per_query(self, dim: int, native: int) -> tuple[Sequence[float], Sequence[float]] | None:
        if dim in self.ndcg_by_dim:
            return self.ndcg_by_dim[dim]
        if dim == native and self.n:
            return self.candidate_ndcg, self.incumbent_ndcg
        return None


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
    primary: str  # the real sets joined with "+" ("questions+human+searches", ...) or "synthetic"
    interval: Interval | None
    ignored: tuple[str, ...] = ()  # sets that neither promoted nor blocked


def primary_sets(sizes: Mapping[str, int], min_real_queries: int) -> list[str]:
    """The real sets when together they hold ``min_real_queries`` queries, else synthetic."""
    real = [s for s in REAL_SETS if sizes.get(s, 0) > 0]
    if real and sum(sizes[s] for s in real) >= min_real_queries:
        return real
    return ["synthetic"]


def real_questions_gate(sizes: Mapping[str, int], min_real_queries: int) -> bool:
    """Whether people's questions, not generated ones, decide promotion."""
    return primary_sets(sizes, min_real_queries) != ["synthetic"]


def judged_sets(sizes: Mapping[str, int], min_real_queries: int) -> tuple[list[str], list[str]]:
    """The sets that may block, and the reasons the others are only reported."""
    primary = primary_sets(sizes, min_real_queries)
    real_gate = primary != ["synthetic"]
    judged, ignored = [], []
    for name in sorted(sizes):
        n = sizes[name]
        if n == 0:
            continue
        if name == "synthetic" and real_gate:
            ignored.append("synthetic (reported only: real questions gate)")
        elif name not in primary and n < min_real_queries:
            ignored.append(f"{name} (n={n} < {min_real_queries} queries)")
        else:
            judged.append(name)
    return judged, ignored


def _why_primary(sizes: Mapping[str, int], primary: list[str], minimum: int) -> str:
    if primary != ["synthetic"]:
        return ""
    real = sum(sizes.get(s, 0) for s in REAL_SETS)
    return f" ({' + '.join(REAL_SETS)} hold {real} < {minimum} queries)"


def _regression(comp: SetComparison, dim: int, gate: GateSettings) -> str | None:
    """Why ``comp`` surely regresses at ``dim`` beyond the tolerance, or None."""
    cand, inc = comp.candidate[dim][PRIMARY], comp.incumbent[dim][PRIMARY]
    scores = comp.per_query(dim, gate.native_dim)
    if scores is None:  # no per-query scores: the point difference
        if inc - cand > gate.tolerance + _EPS:
            return f"regresses by {inc - cand:.4f} ({inc:.4f} -> {cand:.4f}; point estimate)"
        return None
    interval = paired_bootstrap(*scores, gate.resamples, gate.confidence, gate.seed)
    least_loss = -interval.high  # the regression's lower bound
    if least_loss > gate.tolerance + _EPS:
        return (
            f"regresses by {-interval.difference:.4f} ({inc:.4f} -> {cand:.4f}), at least "
            f"{least_loss:.4f} at {gate.confidence:.0%} confidence"
        )
    return None


def _regressions(
    sets: Mapping[str, SetComparison], judged: Sequence[str], gate: GateSettings
) -> list[str]:
    out = []
    for name in judged:
        comp = sets[name]
        for dim in sorted(set(comp.candidate) & set(comp.incumbent), reverse=True):
            why = _regression(comp, dim, gate)
            if why:
                out.append(f"{name} at dim {dim} {why}, beyond the tolerance {gate.tolerance:.4f}")
    return out


def decide(sets: Mapping[str, SetComparison], gate: GateSettings) -> GateDecision:
    """Apply both rules; see the module docstring."""
    sizes = {name: comp.n for name, comp in sets.items()}
    primary = primary_sets(sizes, gate.min_real_queries)
    judged, ignored = judged_sets(sizes, gate.min_real_queries)
    label = "+".join(primary)
    parts = [sets[s] for s in primary if s in sets]
    cand = [v for p in parts for v in p.candidate_ndcg]
    inc = [v for p in parts for v in p.incumbent_ndcg]
    tail = f"; ignored: {', '.join(ignored)}" if ignored else ""
    if not cand:
        reason = f"not promoted: the {label} set has no queries{tail}"
        return GateDecision(False, reason, label, None, tuple(ignored))
    interval = paired_bootstrap(cand, inc, gate.resamples, gate.confidence, gate.seed)
    head = (
        f"on {label} (n={interval.n}){_why_primary(sizes, primary, gate.min_real_queries)} "
        f"{PRIMARY} at dim {gate.native_dim} changes {interval.describe()} "
        f"({gate.resamples} paired bootstrap resamples)"
    )
    failures = []
    if interval.low + _EPS < gate.margin:
        failures.append(f"lower bound {interval.low:+.4f} is below the margin {gate.margin:+.4f}")
    failures += _regressions(sets, [s for s in judged if s in sets], gate)
    if failures:
        reason = f"not promoted: {head}; " + "; ".join(failures) + tail
        return GateDecision(False, reason, label, interval, tuple(ignored))
    reason = (
        f"promoted: {head}; lower bound {interval.low:+.4f} >= margin {gate.margin:+.4f}; "
        f"no judged set surely regresses more than {gate.tolerance:.4f} at any dim{tail}"
    )
    return GateDecision(True, reason, label, interval, tuple(ignored))
