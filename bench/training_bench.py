"""End-to-end quality and speed: ingest → offline synthetic data → finetune → evaluate.

Corpus: the git manual (Debian's git-doc, HTML) without gitfaq.html. Two evaluations:
  1. the held-out synthetic test split (query → chunk, corpus = every chunk), via the
     embedding_evaluation asset;
  2. the human-written questions of gitfaq(7), which the generator never saw: each answer
     is added to the corpus (chunked, without its question), among all other chunks.
Also compares training samples/s of the pipeline with a plain sentence-transformers script
on the same data and settings (the orchestration overhead).

    python -m bench.training_bench [--max-steps 150] [--plain-steps 30] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bs4 import BeautifulSoup

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from embedloop.chunking.chunker import HFTokenCounter, chunk_document
from embedloop.config import load_settings
from embedloop.metrics import PRIMARY
from orchestration.definitions import build_definitions
from training.data import IRInputs, read_pairs_and_corpus, split_frame, train_datasets
from training.evaluation import evaluate_model
from training.finetune import mini_batch_size, uses_cached_loss

GIT_DOC = Path("/usr/share/doc/git-doc")


def gitfaq_questions(path: Path) -> list[tuple[str, str]]:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "lxml")
    pairs = []
    for dt in soup.select("dt.hdlist1"):
        dd = dt.find_next_sibling("dd")
        if dd is not None:
            pairs.append((" ".join(dt.get_text().split()), " ".join(dd.get_text().split())))
    return pairs


def human_eval_inputs(config: Path) -> IRInputs:
    settings = load_settings(config)
    _, corpus = read_pairs_and_corpus(settings)
    counter = HFTokenCounter.from_model(settings.model.resolved_base_model())
    texts = dict(zip(corpus["chunk_id"], corpus["text"], strict=True))
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for i, (question, answer) in enumerate(gitfaq_questions(GIT_DOC / "gitfaq.html")):
        ids = set()
        for j, chunk in enumerate(chunk_document(answer, counter, counter.content_budget)):
            ids.add(f"gitfaq-{i}-{j}")
            texts[f"gitfaq-{i}-{j}"] = chunk.text
        queries[f"q{i}"] = question
        relevant[f"q{i}"] = ids
    return IRInputs(queries=queries, corpus=texts, relevant_docs=relevant)


def plain_script_samples_per_s(config: Path, steps: int) -> float:
    """The same data, loss and batch size in a bare sentence-transformers script."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MatryoshkaLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from training.precision import resolve_precision

    settings = load_settings(config)
    t = settings.training
    pairs, _ = read_pairs_and_corpus(settings)
    dataset = train_datasets(split_frame(pairs, "train"), t.use_hard_negatives, t.batch_size)
    model = SentenceTransformer(settings.model.resolved_base_model(), device="cpu")
    if t.max_seq_length:
        model.max_seq_length = t.max_seq_length
    precision = resolve_precision(t.precision, "cpu")  # as the pipeline trains
    shape = ("cpu", precision.name, model.max_seq_length)
    inner = (  # the loss the pipeline picks (cached on the CPU, to bound memory)
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size(t, *shape))
        if uses_cached_loss(t, *shape)
        else MultipleNegativesRankingLoss(model)
    )
    loss = MatryoshkaLoss(model, inner, t.matryoshka_dims)
    with tempfile.TemporaryDirectory() as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=t.batch_size,
            learning_rate=t.learning_rate,
            warmup_ratio=t.warmup_ratio,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            seed=t.seed,
            use_cpu=True,  # the trainer refuses bf16 without a GPU unless told
            **precision.trainer_flags(),
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=dataset, loss=loss
        )
        started = time.perf_counter()
        trainer.train()
        return steps * t.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-steps", type=int, default=150)
    parser.add_argument("--plain-steps", type=int, default=30)
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--data-dir", type=Path, default=None)
    # The whole manual (~200 pages) takes hours to encode and train on a 2-core CPU.
    parser.add_argument("--include", default="*.html")
    args = parser.parse_args()
    if not (GIT_DOC / "gitfaq.html").is_file():
        sys.exit("git-doc not found: apt-get install git-doc")

    config = write_config(args)
    started = time.perf_counter()
    meta = run_pipeline(config)
    wall = time.perf_counter() - started
    report(config, meta, wall, args)


def write_config(args: argparse.Namespace) -> Path:
    """The bench's embedloop.yaml: the git manual less gitfaq(7), a fixed step budget."""
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="embedloop-bench-"))
    config = data_dir / "embedloop.yaml"
    data_dir.mkdir(parents=True, exist_ok=True)
    source = {"kind": "local", "name": "git", "path": str(GIT_DOC), "include": [args.include],
              "exclude": ["gitfaq.html"]}  # fmt: skip
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(data_dir / "data"),
                "sources": [source],
                "training": {
                    "max_steps": args.max_steps,
                    "max_seq_length": args.seq_length,
                    "batch_size": 32,
                },
            }
        )
    )
    return config


def run_pipeline(config: Path) -> dict[str, dict]:
    """The whole job in process; each asset's materialization metadata by asset name."""
    defs = build_definitions(config)
    result = defs.resolve_job_def("embedloop_job").execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    )
    meta = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    if not result.success:
        sys.exit("pipeline failed; see the Dagster logs")
    return meta


def report(config: Path, meta: dict[str, dict], wall: float, args: argparse.Namespace) -> None:
    """The pipeline's own figures beside base and finetuned on gitfaq(7)'s questions."""
    train, evaluation = meta["finetuned_embedding_model"], meta["embedding_evaluation"]

    from sentence_transformers import SentenceTransformer

    settings = load_settings(config)
    human = human_eval_inputs(config)
    dims = settings.training.matryoshka_dims
    base = evaluate_model(
        SentenceTransformer(settings.model.resolved_base_model(), device="cpu"), human, dims
    )
    tuned = evaluate_model(SentenceTransformer(str(train["export_dir"]), device="cpu"), human, dims)
    plain = plain_script_samples_per_s(config, args.plain_steps)

    print(f"corpus: git manual, {meta['document_chunks']['dagster/row_count']} chunks; "
          f"pairs: {meta['training_splits']['dagster/row_count']}")  # fmt: skip
    print(f"pipeline wall time {wall / 60:.1f} min; training {train['duration_s']:.0f} s "
          f"({args.max_steps} steps x 32) on {train['device']}")  # fmt: skip
    print("\nnDCG@10 on the held-out synthetic test split (query → chunk):")
    print(evaluation["metrics"])
    print(f"\nnDCG@10 on {len(human.queries)} gitfaq(7) questions (human-written, unseen):")
    print("| dim | base | finetuned |\n|---|---|---|")
    for dim in sorted(tuned, reverse=True):
        print(f"| {dim} | {base[dim][PRIMARY]:.4f} | {tuned[dim][PRIMARY]:.4f} |")
    print(f"\npromotion: {evaluation['stage']} — {evaluation['reason']}")
    ratio = plain / train["samples_per_s"]
    print(f"samples/s: pipeline {train['samples_per_s']:.2f}, plain script {plain:.2f} "
          f"→ overhead {ratio:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
