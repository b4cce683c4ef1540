"""``training.init``: base vs production over consecutive retrainings, on real questions.

Starts from the work dir of a finished in-corpus real-question bench (its ingested corpus,
training data, question file and ZenML store), copies it once per mode, and runs the
training job ``--runs`` times in each copy with ``training.init`` set to that mode: the
same data and budget, as a team retraining on a schedule would. After each run the served
candidate and the production model are scored on the bench's questions with the bench's
scorer. Printed per mode and run: whether the gate promoted, nDCG@10 at 384 and 128 of the
candidate and of production, relative to base.

With no production model in the source run, run 1 of ``init: production`` starts from the
base model, so it is also what every ``init: base`` run trains (same data, same start, same
seed): ``--modes production`` alone measures both, at a third of the cost. Production only
moves when the gate promotes, so on a budget this small pass a lenient gate (``--set``).

    python -m bench.debian_faq_bench --max-steps 38 --work-dir W     # once, first
    python -m bench.init_runs --bench debian-faq --work-dir W [--runs 3] [--max-steps 12]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.real_questions import (
    add_overrides,
    corpus_chunks,
    evaluate,
    question_set,
    run_job,
)
from bench.real_questions_cli import _relative
from bench.run_copies import SETUPS, bench_of, copy_run
from embedloop.config import load_settings
from embedloop.models import production_dir


def one_mode(
    name: str, source: Path, mode: str, runs: int, max_steps: int, overrides: list[str]
) -> list[str]:
    settings_overrides = [
        f"training.init={mode}",
        f"training.max_steps={max_steps}",
        "training.max_minutes=null",
        *overrides,
    ]
    work = copy_run(source, f"init-{mode}", settings_overrides)
    config = work / "train" / "embedloop.yaml"
    bench = bench_of(name, work)
    settings = load_settings(config)
    dims = list(settings.training.matryoshka_dims)
    chunks = corpus_chunks(bench)
    questions = question_set(bench, chunks)
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    base = evaluate(settings.model.resolved_base_model(), questions, corpus, dims)
    rows = []
    for run in range(1, runs + 1):
        meta = run_job(config, "training_job")
        tuned = evaluate(
            str(meta["finetuned_embedding_model"]["export_dir"]), questions, corpus, dims
        )
        production = production_dir(settings)
        prod = evaluate(str(production), questions, corpus, dims) if production.is_dir() else base
        cells = []
        for scores in (tuned, prod):
            for dim in (max(dims), 128):
                b, t = base.metrics[dim]["ndcg@10"], scores.metrics[dim]["ndcg@10"]
                cells.append(f"{t:.4f} ({_relative(t, b):+.1%})")
        verdict = meta["embedding_evaluation"].get("stage")
        rows.append(f"| {mode} | {run} | {verdict} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bench", choices=sorted(SETUPS), required=True)
    parser.add_argument("--work-dir", type=Path, required=True, help="a finished bench's")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=12)
    parser.add_argument("--modes", default="base,production")
    # A lenient gate (promotion_margin=0, confidence=0.51) promotes any candidate ahead on
    # the point estimate, so that production moves and init: production has a start.
    add_overrides(parser, "training.promotion_margin=0 (for every run)")
    args = parser.parse_args()
    source = args.work_dir.resolve()
    head = [
        "| init | run | stage after | candidate @384 | candidate @128 | production @384 | "
        "production @128 |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in args.modes.split(","):
        head += one_mode(args.bench, source, mode, args.runs, args.max_steps, args.overrides)
        print("\n".join(head), flush=True)


if __name__ == "__main__":
    main()
