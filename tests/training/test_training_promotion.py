"""The promotion gate: a paired bootstrap on the primary set, no regression anywhere.

Per-query scores are built here, so each case states exactly what the models did.
"""

from __future__ import annotations

import numpy as np
import pytest

from embedloop.config import TrainingSettings
from embedloop.evaluation.bootstrap import paired_bootstrap
from embedloop.evaluation.gate import GateSettings, SetComparison, decide, primary_sets
from training.promotion import decide_from_report

GATE = GateSettings(native_dim=384, margin=0.005, tolerance=0.02, min_real_queries=30, seed=7)


def scores(n: int, mean: float, spread: float = 0.2, seed: int = 0) -> np.ndarray:
    return np.clip(np.random.default_rng(seed).normal(mean, spread, n), 0, 1)


def comparison(cand: np.ndarray, inc: np.ndarray, small_dim_drop: float = 0.0) -> SetComparison:
    """The same per-query scores at 384 and 128, the candidate's lowered by ``small_dim_drop``
    at 128 (per query, so the interval sees it too)."""
    small = np.clip(cand - small_dim_drop, 0, 1)

    def table(big: np.ndarray, small: np.ndarray) -> dict[int, dict[str, float]]:
        return {384: {"ndcg@10": float(big.mean())}, 128: {"ndcg@10": float(small.mean())}}

    by_dim = {384: (list(cand), list(inc)), 128: (list(small), list(inc))}
    return SetComparison(table(cand, small), table(inc, inc), list(cand), list(inc), by_dim)


def test_the_bootstrap_is_seeded_and_brackets_the_mean_difference() -> None:
    a, b = scores(80, 0.6, seed=1), scores(80, 0.5, seed=2)
    first = paired_bootstrap(a, b, resamples=1000, seed=3)
    assert first == paired_bootstrap(a, b, resamples=1000, seed=3)
    assert first.low < first.difference < first.high and first.n == 80
    assert first.difference == pytest.approx(float((a - b).mean()))
    assert paired_bootstrap(a, a).as_dict() | {"n": 0} == {
        "n": 0, "difference": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95, "resamples": 1000,
    }  # fmt: skip
    with pytest.raises(ValueError, match="one length"):
        paired_bootstrap(a, b[:10])


def test_a_clearly_better_candidate_on_real_questions_is_promoted() -> None:
    inc = scores(40, 0.5, seed=1)
    cand = np.clip(inc + 0.15 + np.random.default_rng(2).normal(0, 0.05, 40), 0, 1)
    decision = decide(
        {"questions": comparison(cand[:25], inc[:25]), "human": comparison(cand[25:], inc[25:]),
         "synthetic": comparison(scores(50, 0.7), scores(50, 0.7))},
        GATE,
    )  # fmt: skip
    assert decision.promote and decision.primary == "questions+human"
    assert decision.interval is not None and decision.interval.low > 0.1
    assert decision.reason.startswith("promoted: on questions+human (n=40) ndcg@10 at dim 384")
    assert f"95% CI [{decision.interval.low:+.4f}, {decision.interval.high:+.4f}]" in (
        decision.reason
    )


@pytest.mark.parametrize("shift", [0.0, 0.01, -0.1])
def test_noise_or_a_worse_candidate_is_refused_with_the_interval_in_the_reason(
    shift: float,
) -> None:
    inc = scores(60, 0.5, seed=1)
    cand = np.clip(inc + shift + np.random.default_rng(5).normal(0, 0.15, 60), 0, 1)
    decision = decide({"questions": comparison(cand, inc)}, GATE)
    assert not decision.promote and decision.interval is not None
    assert decision.interval.low < GATE.margin
    assert decision.reason.startswith("not promoted: on questions (n=60) ndcg@10 at dim 384")
    assert f"95% CI [{decision.interval.low:+.4f}, {decision.interval.high:+.4f}]" in (
        decision.reason
    )
    assert "is below the margin +0.0050" in decision.reason


def test_better_on_synthetic_but_worse_on_real_questions_is_refused() -> None:
    synthetic_inc = scores(200, 0.5, seed=1)
    real_inc = scores(35, 0.6, seed=2)
    decision = decide(
        {"synthetic": comparison(np.clip(synthetic_inc + 0.2, 0, 1), synthetic_inc),
         "questions": comparison(np.clip(real_inc - 0.05, 0, 1), real_inc)},
        GATE,
    )  # fmt: skip
    assert not decision.promote and decision.primary == "questions"
    assert "on questions (n=35)" in decision.reason and "questions at dim 384 regresses" in (
        decision.reason
    )
    assert "ignored: synthetic (reported only: real questions gate)" in decision.reason


def test_too_few_real_questions_make_synthetic_primary_and_say_so() -> None:
    sizes = {"synthetic": 100, "questions": 12, "human": 10}
    assert primary_sets(sizes, 30) == ["synthetic"] and primary_sets(sizes, 22) == [
        "questions",
        "human",
    ]
    inc = scores(100, 0.5)
    decision = decide(
        {"synthetic": comparison(np.clip(inc + 0.1, 0, 1), inc),
         "questions": comparison(scores(12, 0.5), scores(12, 0.5))},
        GATE,
    )  # fmt: skip
    assert decision.primary == "synthetic" and decision.promote
    why = "on synthetic (n=100) (questions + human + searches hold 12 < 30 queries)"
    assert why in decision.reason


def test_a_regression_at_a_small_dim_of_any_set_blocks_a_significant_gain() -> None:
    inc = scores(50, 0.5)
    cand = np.clip(inc + 0.1, 0, 1)
    decision = decide({"synthetic": comparison(cand, inc, small_dim_drop=0.15)}, GATE)
    assert not decision.promote
    assert (
        "synthetic at dim 128 regresses by" in decision.reason
        and "margin" not in (decision.reason.split(";", 1)[1])
    )


def test_a_set_smaller_than_min_real_queries_neither_blocks_nor_promotes() -> None:
    """Issue 20: one harvested question vetoed a model that was better on real questions."""
    inc = scores(200, 0.5, seed=3)
    cand = np.clip(inc + 0.08, 0, 1)
    one = comparison(np.array([0.3392]), np.array([0.4372]), small_dim_drop=0.1)
    decision = decide({"synthetic": comparison(cand, inc), "questions": one}, GATE)
    assert decision.promote and decision.primary == "synthetic"
    assert decision.ignored == ("questions (n=1 < 30 queries)",)
    assert "ignored: questions (n=1 < 30 queries)" in decision.reason
    # The same loss on 40 questions is evidence: it blocks.
    real = scores(40, 0.6, spread=0.1, seed=4)
    forty = comparison(np.clip(real - 0.1, 0, 1), real)
    blocked = decide({"synthetic": comparison(cand, inc), "human": forty}, GATE)
    assert not blocked.promote and blocked.primary == "human"
    assert "human at dim 384 regresses by" in blocked.reason
    # A lone question cannot promote either: synthetic decides while real ones are few.
    up = comparison(np.array([0.9]), np.array([0.1]))
    flat = comparison(inc, inc)
    assert not decide({"synthetic": flat, "questions": up}, GATE).promote


def test_regressions_are_judged_on_their_interval_not_the_point_difference() -> None:
    rng = np.random.default_rng(11)
    inc = scores(300, 0.5, spread=0.05, seed=5)
    gain = np.clip(inc + 0.1, 0, 1)
    # At 128 the candidate loses about 0.03 on average, but query by query it swings both
    # ways: the interval reaches past zero, so the loss is not sure and does not block...
    noisy = np.clip(inc + rng.normal(-0.03, 0.25, 300), 0, 1)
    comp = SetComparison(
        {384: {"ndcg@10": float(gain.mean())}, 128: {"ndcg@10": float(noisy.mean())}},
        {384: {"ndcg@10": float(inc.mean())}, 128: {"ndcg@10": float(inc.mean())}},
        list(gain), list(inc), {384: (list(gain), list(inc)), 128: (list(noisy), list(inc))},
    )  # fmt: skip
    assert float(inc.mean() - noisy.mean()) > 0.02  # past the tolerance as a point
    small = GateSettings(native_dim=384, margin=0.005, tolerance=0.02, min_real_queries=30)
    assert decide({"synthetic": comp}, small).promote
    # ...while a steady loss of the same size does.
    steady = comparison(gain, inc, small_dim_drop=0.13)
    decision = decide({"synthetic": steady}, small)
    assert not decision.promote and "at 95% confidence" in decision.reason


def test_equal_models_pass_a_zero_margin_and_an_empty_primary_set_never_passes() -> None:
    same = scores(40, 0.5)
    zero = GateSettings(native_dim=384, margin=0.0, tolerance=0.0, min_real_queries=30)
    assert decide({"synthetic": comparison(same, same)}, zero).promote
    assert not decide({"synthetic": comparison(same, same)}, GATE).promote
    empty = decide({"synthetic": SetComparison({}, {}, [], [])}, zero)
    assert not empty.promote and "has no queries" in empty.reason


def test_the_gate_reads_an_evaluation_report_with_the_configured_settings() -> None:
    inc = scores(40, 0.5)
    cand = np.clip(inc + 0.2, 0, 1)

    def entry(c: np.ndarray, i: np.ndarray) -> dict:
        return {
            "candidate": {"384": {"ndcg@10": float(c.mean())}},
            "incumbent": {"384": {"ndcg@10": float(i.mean())}},
            "per_query_ndcg": {"candidate": list(c), "incumbent": list(i)},
        }

    report = {"native_dim": 384, "sets": {"questions": entry(cand, inc)}}
    decision = decide_from_report(report, TrainingSettings(min_real_queries=40))
    assert decision.promote and decision.primary_set == "questions"
    assert decision.interval is not None and decision.interval["resamples"] == 1000
    strict = decide_from_report(report, TrainingSettings(min_real_queries=41))
    assert strict.primary_set == "synthetic" and not strict.promote
