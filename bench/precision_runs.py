"""``training.precision``: fp32 vs bf16 on real questions, at equal steps and at equal time.

bf16 autocast makes a CPU training step cheaper where the CPU computes bf16 natively
(AVX512-BF16, AMX), so ``training.precision: auto`` takes it there. Two questions decide
whether that default holds:

1. **Equal steps.** Does bf16 arithmetic cost retrieval quality? Each precision retrains
   the same data from the same start for ``--max-steps``; the paired bootstrap interval of
   bf16 minus fp32 per question should contain zero.
2. **Equal time** (``--budget-cpu-minutes``). What does the budget buy? Each precision's
   step is timed as the bench times it (``seconds_per_step``, CPU time, in that precision),
   the budget becomes that precision's step count, and the arm trains that many steps.

Starts from the work dir of a finished in-corpus bench and retrains copies of it
(``bench.run_copies``), so nothing is generated again; ``training.init: base`` and no wall
clock budget in every arm. Scores the served candidate (averaged as the product serves it)
on the bench's questions with the bench's scorer.

    python -m bench.debian_faq_bench --max-steps 38 --work-dir W
    python -m bench.precision_runs --bench debian-faq --work-dir W [--max-steps 38] \\
        [--precisions fp32,bf16] [--budget-cpu-minutes 30]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bench.real_questions import (
    add_overrides,
    corpus_chunks,
    evaluate,
    question_set,
    run_job,
    seconds_per_step,
)
from bench.real_questions_cli import _relative
from bench.run_copies import SETUPS, bench_of, copy_run
from embedloop.config import load_settings
from embedloop.evaluation.bootstrap import paired_bootstrap
from embedloop.evaluation.scoring import SetScores


@dataclass
class Arm:
    """One retraining: a precision and a step count, and what it gave."""

    precision: str
    steps: int
    why: str  # "equal steps" or the budget that bought them
    scores: SetScores | None = None
    samples_per_s: float = 0.0
    resolved: str = ""  # the precision the run reports having used


def _overrides(arm: Arm, extra: list[str]) -> list[str]:
    return [
        f"training.precision={arm.precision}",
        f"training.max_steps={arm.steps}",
        "training.max_minutes=null",
        "training.init=base",
        *extra,
    ]


def budget_steps(source: Path, precision: str, cpu_minutes: float, extra: list[str]) -> int:
    """The steps ``cpu_minutes`` of CPU time buy in ``precision``, timed on the bench's data."""
    work = copy_run(source, f"precision-{precision}-timing", [f"training.precision={precision}"])
    cpu, wall = seconds_per_step(work / "train" / "embedloop.yaml")
    steps = max(1, int(cpu_minutes * 60 / cpu))
    print(f"{precision}: {cpu:.1f} CPU-s ({wall:.1f} s wall) a step → {steps} steps", flush=True)
    return steps


def plan(
    precisions: list[str], max_steps: int | None, bought: dict[str, int], budget: str
) -> list[Arm]:
    """Every precision at equal steps (``max_steps``, else what the budget bought the first
    precision), then each at the steps ``budget`` bought it; an arm that is both runs once."""
    equal = max_steps or bought[precisions[0]]
    arms: dict[tuple[str, int], Arm] = {}
    for p in precisions:
        arms[(p, equal)] = Arm(p, equal, "equal steps")
    for p, steps in bought.items():
        arm = arms.setdefault((p, steps), Arm(p, steps, budget))
        if arm.why != budget:
            arm.why = f"equal steps; {budget}"
    return list(arms.values())


def train(source: Path, arm: Arm, extra: list[str]) -> Path:
    """Retrain a copy of ``source`` as ``arm`` says; the exported candidate's directory."""
    work = copy_run(source, f"precision-{arm.precision}-{arm.steps}", _overrides(arm, extra))
    meta = run_job(work / "train" / "embedloop.yaml", "training_job")
    model = meta["finetuned_embedding_model"]
    arm.samples_per_s = float(model["samples_per_s"])
    arm.resolved = str(model.get("precision", arm.precision)).split()[0]  # "bf16 (why)"
    return Path(str(model["export_dir"]))


def table(arms: list[Arm], base: SetScores, dims: list[int]) -> list[str]:
    """Markdown rows: each arm's nDCG@10 vs base, and paired against the first arm (the
    first precision at equal steps: with the default steps, also that precision's budget)."""
    shown = [max(dims), 128]
    head = " | ".join(f"@{d} (vs base)" for d in shown)
    paired = " | ".join(f"vs first arm @{d}, 95% CI" for d in shown)
    rows = [
        f"| precision | steps | why | samples/s | {head} | {paired} |",
        "|---|---|---|---|" + "---|" * (2 * len(shown)),
    ]
    ref = arms[0]
    for arm in arms:
        assert arm.scores is not None
        cells = []
        for dim in shown:
            b, t = base.metrics[dim]["ndcg@10"], arm.scores.metrics[dim]["ndcg@10"]
            cells.append(f"{t:.4f} ({_relative(t, b):+.1%})")
        for dim in shown:
            if ref is arm:
                cells.append("—")
                continue
            assert ref.scores is not None
            ci = paired_bootstrap(arm.scores.ndcg[dim], ref.scores.ndcg[dim])
            cells.append(f"{ci.difference:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]")
        rows.append(
            f"| {arm.resolved} | {arm.steps} | {arm.why} | {arm.samples_per_s:.2f} | "
            + " | ".join(cells)
            + " |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bench", choices=sorted(SETUPS), required=True)
    parser.add_argument("--work-dir", type=Path, required=True, help="a finished bench's")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="the equal-steps arms (default: what the budget buys the first precision)",
    )
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument(
        "--budget-cpu-minutes", type=float, default=None, help="also each precision at this"
    )
    add_overrides(parser, "training.base_weight=0 (for every arm)")
    args = parser.parse_args()
    if args.max_steps is None and args.budget_cpu_minutes is None:
        parser.error("give --max-steps, --budget-cpu-minutes or both")
    source = args.work_dir.resolve()
    precisions = args.precisions.split(",")
    minutes = args.budget_cpu_minutes
    bought = (
        {p: budget_steps(source, p, minutes, args.overrides) for p in precisions} if minutes else {}
    )
    arms = plan(precisions, args.max_steps, bought, f"{minutes:g} CPU-min" if minutes else "")
    bench = bench_of(args.bench, source)
    settings = load_settings(source / "train" / "embedloop.yaml")
    dims = list(settings.training.matryoshka_dims)
    chunks = corpus_chunks(bench)
    questions = question_set(bench, chunks)
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    base = evaluate(settings.model.resolved_base_model(), questions, corpus, dims)
    for arm in arms:
        model = train(source, arm, args.overrides)
        arm.scores = evaluate(str(model), questions, corpus, dims)
        print("\n".join(table([a for a in arms if a.scores], base, dims)), flush=True)
    print(f"\n{args.bench}: {len(questions.queries)} questions, {len(corpus)} chunks")


if __name__ == "__main__":
    main()
