"""``--base-weights``: the finetuned model averaged with the base model at several base
shares, scored on the real questions, and what choosing the share on real questions
would serve.

The averages are built from the run's unaveraged finetune (the run trains with
``training.base_weight: 0``), so each share is exactly what ``training.base_weight`` would
have served, at no extra training.

The pipeline chooses the share on validation questions people wrote
(``training.averaging.choose_base_weight``). The benchmark has no such split, so it
measures the same rule by halves: the questions are split in two by a hash of their id,
the share is chosen on one half and scored on the other, and the other way round, by the
pipeline's own rule (``pick_share``: the default share unless another is surely better by the
promotion margin). Every question is then scored by a share that was chosen without it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from bench.answer_pages import by_training
from bench.real_questions import Bench, corpus_chunks, evaluate, load_model, question_set
from bench.real_questions_cli import differences, metric_table
from embedloop.config import TrainingSettings, load_settings
from embedloop.evaluation.bootstrap import paired_bootstrap

if TYPE_CHECKING:
    from embedloop.evaluation.scoring import SetScores


def weight_averages(
    bench: Bench, trained: str, weights: list[float], base: SetScores, tuned: SetScores | None
) -> list[str]:
    """Each share's figures against the base model, then the share chosen by halves."""
    from training.averaging import average_with_base

    settings = load_settings(bench.train_config)
    # Runs from before the choice existed served base_weight, 0 unless --set.
    trained_with = bench.meta["finetuned_embedding_model"]
    served = float(trained_with.get("base_weight_served", settings.training.base_weight))
    if served:
        raise SystemExit(
            f"--base-weights averages the unaveraged finetune, but the run in {bench.work} "
            f"served base_weight {served:g}: train it again with --base-weights"
        )
    dims = list(settings.training.matryoshka_dims)
    chunks = corpus_chunks(bench)
    questions = question_set(bench, chunks)
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    base_model = load_model(settings.model.resolved_base_model())
    lines = []
    by_weight = {0.0: tuned} if tuned else {}
    for weight in weights:
        model = average_with_base(load_model(trained), base_model, weight)
        scores = by_weight[weight] = evaluate(model, questions, corpus, dims)
        lines.append(f"\nbase_weight {weight:g} (finetuned share {1 - weight:g}):")
        lines.append(metric_table(base.metrics, scores.metrics, {}))
        lines += differences(base, scores)
        lines.append(by_training(bench, questions, base, scores, f"w={weight:g}"))
    # The run trained with base_weight 0 (UNAVERAGED): the rule's default is the product's.
    default = TrainingSettings()
    return lines + chosen_on_halves(by_weight, base, default.base_weight, default.promotion_margin)


def _half(query_id: str) -> int:
    return int(hashlib.sha256(query_id.encode()).hexdigest(), 16) % 2


def chosen_on_halves(
    by_weight: dict[float, SetScores], base: SetScores, default: float, margin: float
) -> list[str]:
    """nDCG@10 at the native dim when each half is served the share ``pick_share`` chooses
    on the other half, against the base model on the same questions."""
    from training.averaging import pick_share

    native = max(base.metrics)
    ids = base.query_ids
    if any(s.query_ids != ids for s in by_weight.values()):
        raise ValueError("the models were scored on different questions")
    halves = [_half(q) for q in ids]
    served = list(base.ndcg[native])  # every entry is replaced below
    lines = [
        f"\nbase share chosen on one half of the questions, scored on the other (default "
        f"{default:g}, kept unless another share is surely better by {margin:g}):"
    ]
    for half in (0, 1):
        chosen_on = [i for i, h in enumerate(halves) if h != half]
        if not chosen_on or len(chosen_on) == len(ids):
            return [*lines, "  too few questions to split in two"]

        def mean(weight: float, rows: list[int] = chosen_on) -> float:
            return sum(by_weight[weight].ndcg[native][i] for i in rows) / len(rows)

        per_query = {w: [by_weight[w].ndcg[native][i] for i in chosen_on] for w in by_weight}
        weight = pick_share(per_query, default, margin)
        scored = [i for i, h in enumerate(halves) if h == half]
        for i in scored:
            served[i] = by_weight[weight].ndcg[native][i]
        shares = ", ".join(f"{w:g}: {mean(w):.4f}" for w in sorted(by_weight))
        lines.append(
            f"  half {half} ({len(scored)} questions): w = {weight:g}, chosen on the other "
            f"{len(chosen_on)} ({shares})"
        )
    b = sum(base.ndcg[native]) / len(ids)
    s = sum(served) / len(ids)
    interval = paired_bootstrap(served, base.ndcg[native]).describe()
    lines.append(
        f"  served: nDCG@10 at {native}-d {s:.4f} vs base {b:.4f} "
        f"({(s - b) / b:+.1%}; Δ {interval})"
    )
    return lines
