"""The promotion gate on fixed metric tables (no models, no ZenML)."""

from __future__ import annotations

import pytest

from training.promotion import decide_promotion


def table(ndcg_384: float, ndcg_128: float, ndcg_64: float) -> dict[int, dict[str, float]]:
    return {
        384: {"ndcg@10": ndcg_384, "mrr@10": ndcg_384},
        128: {"ndcg@10": ndcg_128, "mrr@10": ndcg_128},
        64: {"ndcg@10": ndcg_64, "mrr@10": ndcg_64},
    }


INCUMBENT = table(0.600, 0.580, 0.540)


def decide(candidate: dict[int, dict[str, float]], margin: float = 0.01, tolerance: float = 0.02):
    return decide_promotion(
        candidate, INCUMBENT, native_dim=384, margin=margin, tolerance=tolerance
    )


def test_a_clear_gain_without_regressions_is_promoted() -> None:
    decision = decide(table(0.640, 0.600, 0.530))  # dim 64 loses 0.010 <= 0.02
    assert decision.promote
    assert decision.reason.startswith("promoted:")
    assert "0.6400 vs incumbent 0.6000 (+0.0400 >= margin 0.0100)" in decision.reason
    assert "-0.0100 (dim 64)" in decision.reason


def test_a_gain_below_the_margin_is_not_promoted() -> None:
    decision = decide(table(0.605, 0.590, 0.545))
    assert not decision.promote
    assert "dim 384 is 0.6050 vs incumbent 0.6000 (+0.0050), below the required margin" in (
        decision.reason
    )
    assert "regresses" not in decision.reason


def test_a_worse_candidate_is_not_promoted() -> None:
    decision = decide(table(0.500, 0.480, 0.440))
    assert not decision.promote
    assert "(-0.1000), below the required margin" in decision.reason


def test_a_regression_at_a_small_dim_blocks_a_gain_at_the_native_dim() -> None:
    decision = decide(table(0.700, 0.600, 0.500))  # dim 64 loses 0.040 > 0.02
    assert not decision.promote
    assert "margin" not in decision.reason
    assert "dim 64 regresses by 0.0400 (0.5400 -> 0.5000), more than the tolerance 0.0200" in (
        decision.reason
    )


def test_both_rules_failing_are_both_reported() -> None:
    decision = decide(table(0.600, 0.500, 0.540))
    assert not decision.promote
    assert "below the required margin" in decision.reason and "dim 128 regresses" in decision.reason


def test_a_gain_exactly_at_the_margin_passes_despite_float_rounding() -> None:
    assert decide(table(0.6 + 0.01, 0.58, 0.54), margin=0.01).promote
    assert decide(table(0.6, 0.58, 0.54), margin=0.0).promote  # equal models, zero margin


def test_dims_only_one_side_has_are_ignored_and_the_native_dim_is_required() -> None:
    candidate = {**table(0.650, 0.600, 0.560), 32: {"ndcg@10": 0.1}}
    assert decide(candidate).promote
    missing = decide_promotion({128: {"ndcg@10": 0.9}}, INCUMBENT, 384, 0.01, 0.02)
    assert not missing.promote and "native dim 384" in missing.reason


@pytest.mark.parametrize("metric", ["ndcg@10", "mrr@10"])
def test_the_gated_metric_can_be_chosen(metric: str) -> None:
    decision = decide_promotion(table(0.7, 0.6, 0.55), INCUMBENT, 384, 0.01, 0.02, metric=metric)
    assert decision.promote and metric in decision.reason
