"""The arms ``bench.precision_runs`` trains: every precision at equal steps, each at what
the budget bought it, and an arm that is both trained once (a retraining costs minutes)."""

from __future__ import annotations

from bench.precision_runs import plan


def _arms(*args):  # type: ignore[no-untyped-def]
    return [(a.precision, a.steps, a.why) for a in plan(*args)]


def test_equal_steps_default_to_the_first_precisions_budget_and_train_once() -> None:
    arms = _arms(["fp32", "bf16"], None, {"fp32": 37, "bf16": 49}, "15 CPU-min")
    assert arms == [
        ("fp32", 37, "equal steps; 15 CPU-min"),
        ("bf16", 37, "equal steps"),
        ("bf16", 49, "15 CPU-min"),
    ]


def test_given_steps_without_a_budget_train_each_precision_once() -> None:
    assert _arms(["fp32", "bf16"], 38, {}, "") == [
        ("fp32", 38, "equal steps"),
        ("bf16", 38, "equal steps"),
    ]


def test_given_steps_and_a_budget_keep_both_sets_of_arms() -> None:
    arms = _arms(["fp32", "bf16"], 38, {"fp32": 37, "bf16": 38}, "15 CPU-min")
    assert arms == [
        ("fp32", 38, "equal steps"),
        ("bf16", 38, "equal steps; 15 CPU-min"),
        ("fp32", 37, "15 CPU-min"),
    ]
