"""Our per-query metrics against trec_eval's (pytrec_eval, what BEIR reports with).

``embedloop.evaluation.scoring.query_metrics`` is hand-written because the bootstrap needs
per-query scores in numpy; this pins it to the reference implementation on random rankings
with one or many relevant chunks, hits anywhere, at the top, below the cut or nowhere.
"""

from __future__ import annotations

import random

import pytest
import pytrec_eval

from embedloop.evaluation.scoring import MAP_K, query_metrics

# Our name -> trec_eval's measure (MRR@10 is recip_rank over the top 10 only).
MEASURES = {
    "ndcg@10": "ndcg_cut_10",
    "recall@1": "recall_1",
    "recall@5": "recall_5",
    "recall@10": "recall_10",
    "map@100": "map_cut_100",
}


def _cases(seed: int, n: int = 300) -> list[tuple[list[str], set[str]]]:
    rng = random.Random(seed)
    corpus = [f"c{i:03d}" for i in range(150)]
    cases = []
    for _ in range(n):
        ranked = rng.sample(corpus, MAP_K)
        relevant = set(rng.sample(corpus, rng.choice([1, 1, 2, 3, 7, 15])))
        if rng.random() < 0.3:  # a hit near the top, so high scores are covered too
            relevant.add(ranked[rng.randrange(3)])
        cases.append((ranked, relevant))
    return cases


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_query_metrics_equal_trec_eval(seed: int) -> None:
    cases = _cases(seed)
    qrels = {f"q{i}": {c: 1 for c in relevant} for i, (_, relevant) in enumerate(cases)}
    # Strictly falling scores: trec_eval orders by score, so the ranking is ours exactly.
    run = {f"q{i}": {c: float(MAP_K - r) for r, c in enumerate(ranked)} for i, (ranked, _) in
           enumerate(cases)}  # fmt: skip
    top10 = {q: {c: s for c, s in docs.items() if s > MAP_K - 10} for q, docs in run.items()}
    reference = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES.values())).evaluate(run)
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    hits_in_top10 = 0
    for i, (ranked, relevant) in enumerate(cases):
        ours = query_metrics(ranked, relevant)
        theirs = reference[f"q{i}"]
        for name, measure in MEASURES.items():
            assert ours[name] == pytest.approx(theirs[measure], abs=1e-9), (i, name)
        assert ours["mrr@10"] == pytest.approx(mrr[f"q{i}"]["recip_rank"], abs=1e-9), i
        hits_in_top10 += ours["ndcg@10"] > 0
    assert 0.2 * len(cases) < hits_in_top10 < len(cases)  # both kinds of query were checked


def test_our_paired_bootstrap_gives_scipys_percentile_interval() -> None:
    """Same method as ``scipy.stats.bootstrap(paired=True, method="percentile")``: with
    many resamples both land on the same interval, up to Monte Carlo noise."""
    import numpy as np
    from scipy import stats

    from embedloop.evaluation.bootstrap import paired_bootstrap

    rng = np.random.default_rng(3)
    base = rng.random(200)
    tuned = np.clip(base + rng.normal(0.03, 0.2, 200), 0, 1)
    ours = paired_bootstrap(tuned, base, resamples=20_000, confidence=0.9)
    reference = stats.bootstrap(
        (tuned, base),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        confidence_level=0.9,
        method="percentile",
        random_state=1,
    ).confidence_interval
    width = reference.high - reference.low
    assert ours.low == pytest.approx(reference.low, abs=0.03 * width)
    assert ours.high == pytest.approx(reference.high, abs=0.03 * width)
    assert ours.difference == pytest.approx(float(np.mean(tuned - base)))
