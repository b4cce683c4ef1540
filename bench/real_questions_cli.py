"""The command line and the printed report shared by the two real-question benchmarks.

Prints, per Matryoshka dim, nDCG@10 / MRR@10 / Recall@10 of the base and the finetuned
model on the real questions, the relative change and its paired bootstrap interval, and
beside them the synthetic test split figures the loop itself reported, so the gap
between the proxy and reality is visible.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.answer_pages import by_training
from bench.faq_extract import Question, write_question_file
from bench.real_questions import (
    Bench,
    add_overrides,
    corpus_chunks,
    evaluate,
    fresh_work_dir,
    ingest,
    question_set,
    train_and_evaluate,
    write_configs,
)
from embedloop.config import SyntheticSettings, load_settings
from embedloop.metrics import Metrics

if TYPE_CHECKING:  # imported late: --pipeline-only runs on trees without them
    from embedloop.evaluation.scoring import SetScores
    from embedloop.evaluation.sets import EvalSet

# The benchmark's inputs, prepared under a work directory: the training source (a
# `sources` entry), the folder of held-out answer pages and the questions.
Setup = Callable[[Path], tuple[dict[str, Any], Path, list[Question]]]
# What --base-weights trains: the finetuned model as it is, without an average.
UNAVERAGED = ["training.base_weight=0", "training.base_weight_choices=[]"]
SHOWN = ("ndcg@10", "mrr@10", "recall@10")


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    """What to run: the work dir, the training budget and which stages."""
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="emptied and reused (default: $TMPDIR/embedloop-bench-NAME)",
    )
    parser.add_argument(
        "--train-minutes",
        type=float,
        default=30.0,
        help="training budget in CPU-minutes (process CPU time), turned into max_steps",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="skip the calibration")
    parser.add_argument(
        "--base-only",
        action="store_true",
        help="ingest and score the base model only (no training)",
    )
    parser.add_argument(
        "--ablation", action="store_true", help="also train once without each offline strategy"
    )
    add_overrides(parser, "filters.round_trip_top_k=10")


def _scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """What to train on and score, and where the figures go."""
    parser.add_argument(
        "--include",
        default=None,
        help="glob of the manual's pages to train on (default: all of them)",
    )
    parser.add_argument(
        "--pipeline-only",
        action="store_true",
        help="run the loop and keep its work dir, score later with --rescore",
    )
    parser.add_argument(
        "--rescore", action="store_true", help="score the run already in --work-dir again"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep --work-dir's ingested corpus and training data; budget, train, score",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="WORK_DIR",
        help="also score the model an earlier run trained (its work dir) on these questions",
    )
    parser.add_argument(
        "--base-weights",
        default="",
        metavar="W,W,...",
        help="also score weight averages of the finetuned and base model (base share W); "
        "the run itself then serves the unaveraged model (training.base_weight=0)",
    )
    parser.add_argument(
        "--out-of-corpus",
        action="store_true",
        help="the earlier protocol: the answer pages in a second warehouse, never trained on",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")


def arguments(name: str, description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=f"{name}_bench",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _run_arguments(parser)
    _scoring_arguments(parser)
    return parser.parse_args()


def _relative(new: float, old: float) -> float:
    return (new - old) / old if old else float("inf") if new > 0 else 0.0


def synthetic_by_dim(meta: dict[str, dict[str, Any]]) -> dict[int, dict[str, float]]:
    """nDCG@10 per dim on the loop's own (synthetic) test split, as the asset reported it:
    the ``synthetic`` entry of ``ndcg@10_by_set``, or ``ndcg@10_by_dim`` before sets."""
    evaluation = meta.get("embedding_evaluation", {})
    synthetic = (evaluation.get("ndcg@10_by_set") or {}).get("synthetic") or {}
    if synthetic.get("n"):
        return {
            int(dim): {"base": v["base"], "finetuned": v["candidate"]}
            for dim, v in synthetic["by_dim"].items()
        }
    raw = evaluation.get("ndcg@10_by_dim") or {}
    return {int(dim): dict(values) for dim, values in raw.items()}


def metric_table(base: Metrics, tuned: Metrics | None, synthetic: dict[int, Any]) -> str:
    head = ["dim"] + [f"base {m}" for m in SHOWN]
    if tuned:
        head += [f"tuned {m}" for m in SHOWN] + ["Δ nDCG rel", "synthetic nDCG base→tuned (Δ)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for dim in sorted(base, reverse=True):
        row = [str(dim)] + [f"{base[dim][m]:.4f}" for m in SHOWN]
        if tuned:
            row += [f"{tuned[dim][m]:.4f}" for m in SHOWN]
            row.append(f"{_relative(tuned[dim]['ndcg@10'], base[dim]['ndcg@10']):+.1%}")
            s = synthetic.get(dim)
            row.append(
                f"{s['base']:.4f}→{s['finetuned']:.4f} "
                f"({_relative(s['finetuned'], s['base']):+.1%})"
                if s
                else "n/a"
            )
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def differences(base: SetScores, tuned: SetScores) -> list[str]:
    """nDCG@10 of the finetuned against the base model per dim, with the relative change and
    the paired bootstrap interval of the difference (1,000 resamples over the questions); then
    the finetuned model at 128 dims against the base model at its native dim. Figures only:
    what counts as enough is the reader's call."""
    from embedloop.evaluation.bootstrap import paired_bootstrap

    lines = []
    for dim in sorted(tuned.metrics, reverse=True):
        b, t = base.metrics[dim]["ndcg@10"], tuned.metrics[dim]["ndcg@10"]
        ci = paired_bootstrap(tuned.ndcg[dim], base.ndcg[dim]).describe()
        lines.append(f"{dim}-d: finetuned {t:.4f}, base {b:.4f}  ({_relative(t, b):+.1%}; Δ {ci})")
    native, small = max(base.metrics), 128
    if small in tuned.metrics:
        t, b = tuned.metrics[small]["ndcg@10"], base.metrics[native]["ndcg@10"]
        lines.append(
            f"finetuned {small}-d {t:.4f}, base {native}-d {b:.4f}  ({_relative(t, b):+.1%})"
        )
    return lines


def report(bench: Bench, base: SetScores, tuned: SetScores | None, notes: list[str]) -> None:
    print(f"\n=== {bench.name}: {len(bench.questions)} real questions ===")
    for note in notes:
        print(note)
    print(
        metric_table(base.metrics, tuned.metrics if tuned else None, synthetic_by_dim(bench.meta))
    )
    if tuned:
        print("\nfinetuned against base (nDCG@10):")
        print("\n".join(differences(base, tuned)))
        evaluation = bench.meta.get("embedding_evaluation", {})
        print(f"\npromotion by the loop: {evaluation.get('stage')} — {evaluation.get('reason')}")


def summary_notes(bench: Bench, n_chunks: int, n_heldout: int, questions: EvalSet) -> list[str]:
    meta = bench.meta
    relevant = [len(v) for v in questions.relevant.values()]
    notes = [
        f"corpus: {n_chunks} chunks ({n_chunks - n_heldout} of the manual, {n_heldout} of "
        f"the answer pages, {'trained on' if bench.in_corpus else 'held out'})",
        f"questions: {len(questions)} loaded by embedloop.evaluation.questions; relevant "
        f"chunks per question: mean {sum(relevant) / max(1, len(relevant)):.1f}, "
        f"max {max(relevant, default=0)}",
        *questions.notes,
    ]
    if "training_splits" in meta:
        notes.append(f"training pairs: {meta['training_splits'].get('dagster/row_count')}")
    if "budget" in meta:
        b = meta["budget"]
        notes.append(
            f"budget: {b['cpu_s_per_step']:.1f} CPU-s/step ({b['wall_s_per_step']:.1f} s wall) "
            f"→ max_steps {b['max_steps']}"
        )
    train = meta.get("finetuned_embedding_model")
    if train:
        notes.append(
            f"training: {train.get('duration_s')} s on {train.get('device')}, "
            f"{train.get('samples_per_s')} samples/s"
        )
    return notes


def _score(
    bench: Bench, tuned_model: str | None, base_model: bool = True, others: tuple[str, ...] = ()
) -> tuple[SetScores | None, SetScores | None, list[str], list[SetScores]]:
    """Base, finetuned and ``others`` (model dirs) on the questions, over every chunk."""
    settings = load_settings(bench.train_config)
    dims = list(settings.training.matryoshka_dims)
    chunks = corpus_chunks(bench)
    questions = question_set(bench, chunks)
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    n_heldout = int((chunks["source"] == bench.name).sum())
    base_path = settings.model.resolved_base_model()
    base = evaluate(base_path, questions, corpus, dims) if base_model else None
    tuned = evaluate(tuned_model, questions, corpus, dims) if tuned_model else None
    scored = [evaluate(path, questions, corpus, dims) for path in others]
    notes = summary_notes(bench, len(chunks), n_heldout, questions)
    return base, tuned, notes, scored


def earlier_run(bench: Bench, work: Path) -> Bench:
    """The Bench of an earlier run's work dir (its pipeline.json), for --compare."""
    other = Bench(
        bench.name, work.resolve(), {}, bench.heldout_pages, bench.questions, in_corpus=False
    )
    other.in_corpus = not (other.work / "heldout" / "embedloop.yaml").is_file()
    other.load_meta()
    return other


def comparison(label: str, other: Bench, scores: SetScores, base: SetScores) -> str:
    """An earlier run's model on the same questions and corpus, beside its synthetic figures."""
    steps = other.max_steps
    head = f"\n{label} ({other.work}, max_steps {steps}) on the same questions and corpus:"
    return head + "\n" + metric_table(base.metrics, scores.metrics, synthetic_by_dim(other.meta))


def _trained_model(bench: Bench) -> str:
    return str(bench.meta["finetuned_embedding_model"]["export_dir"])


def ablation(bench: Bench, args: argparse.Namespace, base: Metrics) -> list[str]:
    """Train once without each offline strategy (same step budget); nDCG@10 per variant."""
    strategies: list[str] = list(SyntheticSettings().offline_strategies)
    rows = [
        "| variant | real nDCG@10 @384 | @128 | synthetic tuned @384 | pairs |",
        "|---|---|---|---|---|",
        f"| base model | {base[384]['ndcg@10']:.4f} | {base[128]['ndcg@10']:.4f} | | |",
    ]
    for off in [None, *strategies]:
        kept = [s for s in strategies if s != off]
        variant = Bench(
            bench.name,
            bench.work / "ablation" / (f"no-{off}" if off else "all"),
            bench.training_source,
            bench.heldout_pages,
            bench.questions,
            strategies=kept,
            max_steps=bench.max_steps,
            overrides=bench.overrides,
            in_corpus=bench.in_corpus,
        )
        write_configs(variant)
        ingest(variant)
        train_and_evaluate(variant, args.train_minutes)
        _, scores, _, _ = _score(variant, _trained_model(variant), base_model=False)
        assert scores is not None
        tuned = scores.metrics
        syn = synthetic_by_dim(variant.meta).get(384, {}).get("finetuned", float("nan"))
        pairs = variant.meta.get("training_splits", {}).get("dagster/row_count")
        rows.append(
            f"| {'all strategies' if off is None else 'without ' + off} | "
            f"{tuned[384]['ndcg@10']:.4f} | {tuned[128]['ndcg@10']:.4f} | "
            f"{syn:.4f} | {pairs} |"
        )
    return rows


def _prepare(name: str, args: argparse.Namespace, setup: Setup) -> Bench:
    """The work dir, the question file and the configs (kept as they are on --rescore)."""
    kept = args.rescore or args.resume
    if kept and args.work_dir is None:
        raise SystemExit("--rescore and --resume need the --work-dir of an earlier run")
    work = args.work_dir.resolve() if kept else fresh_work_dir(args.work_dir, name)
    if args.base_weights:
        # Averages are built from the unaveraged finetune, so the run must serve that one.
        args.overrides = [*args.overrides, *UNAVERAGED]
    source, pages, questions = setup(work)
    if args.include:
        source = {**source, "include": [args.include]}
    bench = Bench(
        name,
        work,
        source,
        pages,
        questions,
        max_steps=args.max_steps,
        overrides=args.overrides,
        in_corpus=not args.out_of_corpus,
    )
    if args.rescore:
        write_question_file(questions, bench.question_file)
        if not args.base_only:
            bench.load_meta()
    else:
        write_configs(bench)
    print(f"{name}: {len(questions)} questions → {bench.question_file}; work dir {work}")
    return bench


def run(name: str, description: str | None, setup: Setup) -> None:
    args = arguments(name, description)
    bench = _prepare(name, args, setup)
    if not args.rescore:
        if not args.resume:
            ingest(bench)
        if not args.base_only:
            train_and_evaluate(bench, args.train_minutes, with_data=not args.resume)
    if args.pipeline_only:
        print(f"pipeline done; score it with --rescore --work-dir {bench.work}")
        return
    others = [earlier_run(bench, w) for w in args.compare]
    models = tuple(_trained_model(o) for o in others)
    trained = None if args.base_only else _trained_model(bench)
    base, tuned, notes, scored = _score(bench, trained, others=models)
    assert base is not None
    report(bench, base, tuned, notes)
    if tuned:
        chunks = corpus_chunks(bench)
        print(by_training(bench, question_set(bench, chunks), base, tuned, "\nfinetuned"))
    for other, scores in zip(others, scored, strict=True):
        print(comparison("earlier run", other, scores, base))
        print("\n".join(differences(base, scores)))
    if args.base_weights and trained:
        from bench.weight_averages import weight_averages  # it imports this module

        weights = [float(w) for w in args.base_weights.split(",")]
        print("\n".join(weight_averages(bench, trained, weights, base, tuned)))
    if args.ablation and not args.base_only:
        print("\nablation (each offline strategy off, same step budget):")
        print("\n".join(ablation(bench, args, base.metrics)))
    if args.json:
        figures = {
            "base": base.metrics,
            "tuned": tuned.metrics if tuned else None,
            "synthetic": synthetic_by_dim(bench.meta),
            "notes": notes,
            "max_steps": bench.max_steps,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str))
