"""The benchmark's measure of choosing the base share on real questions
(``bench/weight_averages.chosen_on_halves``): every question must be scored by a share that
was chosen without it, or the figure would flatter the choice the way a test-set choice does.
"""

from __future__ import annotations

import pytest

from bench.weight_averages import _half, chosen_on_halves
from embedloop.evaluation.scoring import SetScores

IDS = [f"q{i}" for i in range(40)]


def _scores(per_query: list[float]) -> SetScores:
    mean = sum(per_query) / len(per_query)
    return SetScores({384: {"ndcg@10": mean}}, {384: per_query}, IDS)


def test_each_half_is_served_the_share_chosen_on_the_other() -> None:
    halves = [_half(q) for q in IDS]
    assert 0 < sum(halves) < len(IDS)  # both halves hold questions
    # Share 0.5 is perfect on half 0's questions only, share 0 on half 1's only.
    mid = _scores([1.0 if h == 0 else 0.0 for h in halves])
    tuned = _scores([0.0 if h == 0 else 1.0 for h in halves])
    base = _scores([0.5] * len(IDS))
    lines = chosen_on_halves({0.0: tuned, 0.5: mid}, base, default=0.25, margin=0.005)
    # Chosen on half 1, half 0 gets share 0 (which fails it), and the other way round:
    # a choice that could see the scored half would have served 1.0 everywhere.
    assert "half 0" in lines[1] and "w = 0," in lines[1]
    assert "half 1" in lines[2] and "w = 0.5," in lines[2]
    assert "nDCG@10 at 384-d 0.0000 vs base 0.5000 (-100.0%" in lines[3]


def test_a_share_better_everywhere_is_chosen_for_both_halves_and_ties_go_to_the_base() -> None:
    better = _scores([0.9] * len(IDS))
    by_weight = {0.0: _scores([0.6] * 40), 0.5: better, 0.75: better}
    lines = chosen_on_halves(by_weight, better, default=0.0, margin=0.005)
    assert all("w = 0.75," in line for line in lines[1:3])
    assert "0.9000 vs base 0.9000 (+0.0%" in lines[3]


def test_the_default_share_stays_unless_another_is_better_by_the_margin() -> None:
    by_weight = {0.5: _scores([0.600] * 40), 0.75: _scores([0.604] * 40)}
    kept = chosen_on_halves(by_weight, _scores([0.5] * 40), default=0.5, margin=0.005)
    assert all("w = 0.5," in line for line in kept[1:3])
    moved = chosen_on_halves(by_weight, _scores([0.5] * 40), default=0.5, margin=0.003)
    assert all("w = 0.75," in line for line in moved[1:3])


def test_models_scored_on_different_questions_are_refused() -> None:
    other = SetScores({384: {"ndcg@10": 0.5}}, {384: [0.5] * 40}, [f"x{i}" for i in range(40)])
    with pytest.raises(ValueError, match="different questions"):
        chosen_on_halves({0.0: other}, _scores([0.5] * 40), default=0.0, margin=0.0)
