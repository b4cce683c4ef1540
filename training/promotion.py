"""The promotion gate: a pure function of two metric tables, so it is unit-testable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from embedloop.metrics import PRIMARY

# Metric values are sums of floats; a gain equal to the margin must not fail on rounding.
_EPS = 1e-9


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide_promotion(
    candidate: Mapping[int, Mapping[str, float]],
    incumbent: Mapping[int, Mapping[str, float]],
    native_dim: int,
    margin: float,
    tolerance: float,
    metric: str = PRIMARY,
) -> Decision:
    """Promote only if ``metric`` at the native dim beats the incumbent by at least ``margin``
    and no dim evaluated for both loses more than ``tolerance``.

    Both rules are checked and every failing one is named, with its numbers.
    """
    if native_dim not in candidate or native_dim not in incumbent:
        return Decision(False, f"no {metric} at the native dim {native_dim} for both models")

    cand, inc = candidate[native_dim][metric], incumbent[native_dim][metric]
    gain = cand - inc
    failures: list[str] = []
    if gain + _EPS < margin:
        failures.append(
            f"{metric} at dim {native_dim} is {cand:.4f} vs incumbent {inc:.4f} "
            f"({gain:+.4f}), below the required margin {margin:+.4f}"
        )

    shared = sorted(set(candidate) & set(incumbent), reverse=True)
    drops = {d: incumbent[d][metric] - candidate[d][metric] for d in shared}
    regressed = {d: drop for d, drop in drops.items() if drop > tolerance + _EPS}
    for dim, drop in regressed.items():
        failures.append(
            f"{metric} at dim {dim} regresses by {drop:.4f} "
            f"({incumbent[dim][metric]:.4f} -> {candidate[dim][metric]:.4f}), "
            f"more than the tolerance {tolerance:.4f}"
        )

    if failures:
        return Decision(False, "not promoted: " + "; ".join(failures))
    worst_dim = max(drops, key=lambda d: drops[d])
    return Decision(
        True,
        f"promoted: {metric} at dim {native_dim} is {cand:.4f} vs incumbent {inc:.4f} "
        f"({gain:+.4f} >= margin {margin:.4f}); worst change over all dims "
        f"{-drops[worst_dim]:+.4f} (dim {worst_dim}) is within tolerance {tolerance:.4f}",
    )
