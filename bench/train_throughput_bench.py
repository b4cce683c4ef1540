"""Training throughput: the pipeline's ``training.finetune.finetune`` against a plain
sentence-transformers script on the same pairs, batch size, sequence length, loss and steps.

The plain script is what the sentence-transformers docs show: SentenceTransformerTrainer
with MatryoshkaLoss around MultipleNegativesRankingLoss (or its cached variant where the
pipeline uses that), the no-duplicates batch sampler, no evaluator, no checkpoints. The
pipeline runs without a validation split here, so both do the same work per step; its
per-epoch validation is a feature, not overhead. Printed: samples/s of each, their ratio
(target: pipeline within 1.1x), peak RSS, and on CUDA peak GPU memory, bf16, and the
speed-up over the CPU on the same data.

``--precision fp32,bf16`` instead times the pipeline's finetune() once per
``training.precision``, side by side: samples/s, the ratio to the first, peak RSS; an arm
``bf16:8`` also sets the cached loss's ``training.mini_batch_size`` (default: the
product's, 8 in float32 and 16 in bf16 on a CPU). Where
bf16 is not native (a CPU without AVX512-BF16 or AMX) it says so and runs the rest;
``--force`` runs bf16 there anyway, emulated, to measure how much slower that is.

Pairs: ``--pairs FILE`` (parquet written by ``--export-pairs``), else built from about
``--chunks`` chunks of the PostgreSQL manual by the real assets (needs the whole project).

    python -m bench.train_throughput_bench [--steps 4] [--chunks 200] [--seq-length N]
    python -m bench.train_throughput_bench --device cuda --steps 30 --cpu-steps 3 --pairs F
    python -m bench.train_throughput_bench --precision fp32,bf16:8,bf16 [--force] --steps 6
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from embedloop.config import Settings, parse_settings
from embedloop.memory import measure
from training.data import train_datasets
from training.evaluation import matryoshka_dims
from training.finetune import finetune, mini_batch_size, uses_cached_loss
from training.precision import EMULATED_BF16_ENV, PrecisionUnavailable, resolve_precision

COLUMNS = ["pair_id", "split", "doc_id", "chunk_id", "query", "positive", "negative"]


def build_pairs(chunks: int, work: Path) -> pd.DataFrame:
    """candidate_pairs of a fresh run over ~``chunks`` chunks (the real assets)."""
    from bench.perf_data import TRAINING_DATA, grow_corpus, materialize, read_frames, write_config
    from embedloop.warehouse import CANDIDATE_PAIRS

    config = write_config(work)
    grow_corpus(work, config, chunks)
    materialize(TRAINING_DATA, config)
    (pairs,) = read_frames(config, CANDIDATE_PAIRS)
    return pairs[COLUMNS]


def plain_script(settings: Settings, train: pd.DataFrame, steps: int, device: str) -> dict:
    """The textbook sentence-transformers loop on the same data and settings."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )

    ts = settings.training
    started = time.perf_counter()
    model = SentenceTransformer(settings.model.resolved_base_model(), device=device)
    if ts.max_seq_length:
        model.max_seq_length = ts.max_seq_length
    dims = matryoshka_dims(ts.matryoshka_dims, model.get_embedding_dimension() or 384)
    precision = resolve_precision(ts.precision, device)  # as the pipeline trains
    flags = precision.trainer_flags()
    shape = (device, precision.name, model.max_seq_length)
    inner = (
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size(ts, *shape))
        if uses_cached_loss(ts, *shape)
        else MultipleNegativesRankingLoss(model)
    )
    with tempfile.TemporaryDirectory() as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=ts.batch_size,
            learning_rate=ts.learning_rate,
            warmup_steps=float(ts.warmup_ratio),
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=ts.seed,
            fp16=bool(flags["fp16"]),
            bf16=bool(flags["bf16"]),
            use_cpu=device == "cpu",
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train_datasets(train, ts.use_hard_negatives, ts.batch_size),
            loss=MatryoshkaLoss(model, inner, matryoshka_dims=dims),
        )
        loop = time.perf_counter()
        trainer.train()
        done = time.perf_counter()
    samples = steps * ts.batch_size
    return {
        "samples_per_s": samples / (done - loop),
        "wall_s": done - started,
        "bf16": bool(flags["bf16"]),
    }


def pipeline(settings: Settings, train: pd.DataFrame, corpus: pd.DataFrame) -> dict:
    started = time.perf_counter()
    result = finetune(settings, train, train.iloc[0:0], corpus)
    return {
        "samples_per_s": result.samples_per_s,
        "wall_s": time.perf_counter() - started,
        "bf16": bool(result.hyperparameters.get("bf16")),
        "precision": result.hyperparameters["precision"],
        "mini_batch": result.hyperparameters["effective_mini_batch_size"] or "-",
    }


def measured(run: Any, *args: Any) -> dict:
    """``run(*args)`` with its peak RSS and, on CUDA, its peak GPU memory."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with measure() as usage:
        out = run(*args)
    out["peak_rss_mb"] = usage.peak_rss / 2**20
    if torch.cuda.is_available():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def settings_for(
    args: argparse.Namespace, steps: int, precision: str = "auto", mini_batch: int | None = None
) -> Settings:
    training: dict[str, Any] = {
        "max_steps": steps,
        "batch_size": args.batch_size,
        "precision": precision,
        "mini_batch_size": mini_batch,
    }
    if args.seq_length:
        training["max_seq_length"] = args.seq_length
    model = {"base_model": args.model} if args.model else {}
    return parse_settings({"training": training, "model": model})


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--pairs", type=Path, default=None)
    parser.add_argument("--export-pairs", type=Path, default=None)
    parser.add_argument("--model", default=None, help="base model dir (default: the config's)")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--cpu-steps", type=int, default=0, help="on CUDA: CPU steps to compare")
    parser.add_argument(
        "--precision", default=None, help="e.g. fp32,bf16: the pipeline once per precision"
    )
    parser.add_argument("--force", action="store_true", help="run bf16 even where emulated")
    return parser.parse_args()


def load_pairs(args: argparse.Namespace) -> pd.DataFrame:
    if args.pairs:
        return pd.read_parquet(args.pairs)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedloop-train-"))
    pairs = build_pairs(args.chunks, work)
    if args.export_pairs:
        args.export_pairs.parent.mkdir(parents=True, exist_ok=True)
        pairs.to_parquet(args.export_pairs)
    return pairs


def main() -> None:
    args = arguments()
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # finetune() picks its device itself
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and device != "cuda":
        sys.exit("--device cuda: no CUDA device visible to torch")
    pairs = load_pairs(args)
    train = pairs[pairs["split"] == "train"].reset_index(drop=True)
    corpus = pd.DataFrame({"chunk_id": pairs["chunk_id"], "text": pairs["positive"]})
    settings = settings_for(args, args.steps)
    ts = settings.training
    cached = uses_cached_loss(ts, device)
    print(f"{len(train)} train pairs ({int(train['negative'].notna().sum())} with a negative); "
          f"{args.steps} steps x {ts.batch_size}, seq {ts.max_seq_length}, device {device}, "
          f"loss {'Cached' if cached else ''}MNRL in MatryoshkaLoss")  # fmt: skip
    if args.precision:
        compare_precisions(args, train, corpus.drop_duplicates("chunk_id"), device)
        return
    plain = measured(plain_script, settings, train, args.steps, device)
    piped = measured(pipeline, settings, train, corpus.drop_duplicates("chunk_id"))
    report(plain, piped, args.steps)
    if device == "cuda" and args.cpu_steps:
        cpu_settings = settings_for(args, args.cpu_steps)
        cpu = measured(plain_script, cpu_settings, train, args.cpu_steps, "cpu")
        print(f"CPU (plain script, {args.cpu_steps} steps): {cpu['samples_per_s']:.2f} samples/s;"
              f" CUDA speed-up {plain['samples_per_s'] / cpu['samples_per_s']:.1f}x (plain), "
              f"{piped['samples_per_s'] / cpu['samples_per_s']:.1f}x (pipeline)")  # fmt: skip


def report(plain: dict, piped: dict, steps: int) -> None:
    print("| run | samples/s | wall s | peak RSS MiB | peak GPU MiB | bf16 |")
    print("|---|---|---|---|---|---|")
    for name, r in (("plain sentence-transformers", plain), ("pipeline finetune()", piped)):
        gpu = f"{r['peak_gpu_mb']:.0f}" if "peak_gpu_mb" in r else "-"
        print(f"| {name} | {r['samples_per_s']:.2f} | {r['wall_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {gpu} | {r['bf16']} |")  # fmt: skip
    ratio = plain["samples_per_s"] / piped["samples_per_s"]
    print(f"pipeline time per sample / plain script: {ratio:.3f}x (target <= 1.1x)")


def _arm(spec: str) -> tuple[str, int | None]:
    """``"bf16:16"`` -> ("bf16", 16); ``"fp32"`` -> ("fp32", None): the product's default."""
    name, _, mini = spec.strip().partition(":")
    return name, int(mini) if mini else None


def runnable_precisions(wanted: list[str], device: str, force: bool) -> list[str]:
    """``wanted`` less what this machine cannot train in (bf16 emulated with ``force``)."""
    runnable = []
    for name in wanted:
        try:
            resolve_precision(name, device)
            runnable.append(name)
        except PrecisionUnavailable as err:
            if not (force and device == "cpu"):
                print(f"{name} is not available here: {err}; not run (--force runs it emulated)")
                continue
            os.environ[EMULATED_BF16_ENV] = "1"
            print(f"{name} is not native here: {err}; --force: running it emulated")
            runnable.append(name)
    return runnable


def compare_precisions(
    args: argparse.Namespace, train: pd.DataFrame, corpus: pd.DataFrame, device: str
) -> None:
    """The pipeline's finetune() once per ``--precision`` arm, side by side. An arm is a
    precision, optionally with the cached loss's mini-batch size: ``bf16:8``."""
    arms = [_arm(spec) for spec in args.precision.split(",") if spec.strip()]
    runnable = runnable_precisions([name for name, _ in arms], device, args.force)
    runs = {
        spec: measured(pipeline, settings_for(args, args.steps, name, mini), train, corpus)
        for spec, (name, mini) in zip(args.precision.split(","), arms, strict=True)
        if name in runnable
    }
    if not runs:
        sys.exit("no precision of --precision can run here")
    first = next(iter(runs.values()))["samples_per_s"]
    print("| arm | trained in | mini-batch | samples/s | ratio | wall s | peak RSS MiB | "
          "peak GPU MiB |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for name, r in runs.items():
        gpu = f"{r['peak_gpu_mb']:.0f}" if "peak_gpu_mb" in r else "-"
        print(f"| {name} | {r['precision']} | {r['mini_batch']} | {r['samples_per_s']:.2f} | "
              f"{r['samples_per_s'] / first:.2f}x | {r['wall_s']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {gpu} |")  # fmt: skip
    print(f"ratio: samples/s relative to {next(iter(runs))}")


if __name__ == "__main__":
    main()
