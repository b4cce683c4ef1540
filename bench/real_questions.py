"""Run the default loop on a manual plus a FAQ's answer pages, and score it on the FAQ's
real questions.

In-corpus (the default, what users live): the answer pages join the manual as a second
source of the one warehouse the loop trains on, with every question heading replaced by a
neutral ``Answer <n>`` heading (``bench.faq_extract``), and the question file is the
product's own ``evaluation.question_files``: so the gate judges on these questions, every
document trains once they are enough (``training.min_real_queries``), and the model the
gate promotes is the model scored here. No question reaches a training input:
``assert_no_question_leak`` fails the run if one does. Scores are also split by whether a
question's answer page trained (pages of the validation split do not), which keeps a
"documents never trained on" line in every run.

Out-of-corpus (``--out-of-corpus``, the protocol of earlier runs): ``train/`` holds the
manual only; ``heldout/`` holds the answer pages, ingested by the same job but never given
to the training data assets. The documents trained on are then exactly the distractors.

The training budget is given in CPU-minutes: a few steps of the same trainer, loss and
data are timed first and the budget becomes ``training.max_steps``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
from bench.faq_extract import Question, write_question_file
from embedloop.config import load_settings
from embedloop.warehouse import DOCUMENT_CHUNKS, SOURCE_DOCUMENTS, TRAINING_SPLITS, read_table

if TYPE_CHECKING:  # imported late: --pipeline-only runs on trees without them
    from sentence_transformers import SentenceTransformer

    from embedloop.evaluation.scoring import SetScores
    from embedloop.evaluation.sets import EvalSet

CALIBRATION_STEPS = 4
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class Bench:
    """One benchmark: the manual the loop trains on and the held-out FAQ."""

    name: str  # "debian-faq" | "gitfaq": also the held-out source's name
    work: Path
    training_source: dict[str, Any]
    heldout_pages: Path
    questions: list[Question]
    strategies: list[str] | None = None  # None = the default offline strategies
    max_steps: int | None = None
    overrides: list[str] = field(default_factory=list)  # KEY=YAML, see apply_overrides
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_corpus: bool = True  # the answer pages train too (see the module docstring)

    @property
    def train_config(self) -> Path:
        return self.work / "train" / "embedloop.yaml"

    @property
    def heldout_config(self) -> Path:
        return self.work / "heldout" / "embedloop.yaml"

    @property
    def question_file(self) -> Path:
        return self.work / f"{self.name}.questions.jsonl"

    @property
    def meta_file(self) -> Path:
        return self.work / "pipeline.json"

    def save_meta(self) -> None:
        """What the pipeline reported, so ``--rescore`` can score the run again later."""
        state = {"max_steps": self.max_steps, "meta": self.meta}
        self.meta_file.write_text(json.dumps(state, indent=1, default=str))

    def load_meta(self) -> None:
        if not self.meta_file.is_file():
            raise SystemExit(f"{self.meta_file} not found: run the pipeline first")
        state = json.loads(self.meta_file.read_text())
        self.max_steps, self.meta = state["max_steps"], state["meta"]


def write_configs(bench: Bench) -> None:
    """The default configuration, plus the budget and the strategies under test."""
    answers = {"kind": "local", "name": bench.name, "path": str(bench.heldout_pages)}
    answers["include"] = ["*.html"]
    train: dict[str, Any] = {
        "data_dir": str(bench.train_config.parent / "data"),
        "sources": [bench.training_source, *([answers] if bench.in_corpus else [])],
    }
    if bench.in_corpus:  # the product's gate judges on the same questions
        train["evaluation"] = {"question_files": [str(bench.question_file)]}
    if bench.max_steps:  # the bench's own budget (CPU time) replaces the wall-clock one
        train["training"] = {"max_steps": bench.max_steps, "max_minutes": None}
    if bench.strategies is not None:
        train["synthetic"] = {"offline_strategies": bench.strategies}
    configs: list[tuple[Path, dict[str, Any]]] = [(bench.train_config, train)]
    if not bench.in_corpus:
        heldout = {"data_dir": str(bench.heldout_config.parent / "data"), "sources": [answers]}
        configs.append((bench.heldout_config, heldout))
    write_question_file(bench.questions, bench.question_file)
    for path, config in configs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    apply_overrides(bench.train_config, bench.overrides)


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY=YAML`` (repeatable), collected into ``args.overrides``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=YAML",
        help=f"config override, e.g. {example}",
    )


def apply_overrides(config: Path, overrides: list[str]) -> None:
    """``a.b=value`` entries merged into a config file (values parsed as YAML)."""
    raw = yaml.safe_load(config.read_text())
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    load_settings(config)  # a wrong key fails here, naming it


def run_job(config: Path, job: str) -> dict[str, dict[str, Any]]:
    """Execute one of the project's jobs in process; each asset's metadata values."""
    from orchestration.definitions import build_definitions

    started = time.perf_counter()
    result = build_definitions(config).resolve_job_def(job).execute_in_process(run_config=QUIET)
    print(f"{job} ({config.parent.name}): {time.perf_counter() - started:.0f} s", flush=True)
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise SystemExit(f"{job} failed at {failed} ({config}); see the Dagster log above")
    meta: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return meta


def ingest(bench: Bench) -> None:
    bench.meta.update(run_job(bench.train_config, "ingestion_job"))
    if not bench.in_corpus:
        held = run_job(bench.heldout_config, "ingestion_job")
        bench.meta["heldout_chunks"] = held.get("document_chunks", {})


def seconds_per_step(config: Path, steps: int = CALIBRATION_STEPS) -> tuple[float, float]:
    """CPU and wall seconds of one training step: same model, loss, batch size, data and
    precision (``training.precision`` as the run resolves it: bf16 steps are cheaper where
    the CPU has it, so the same budget buys more of them).

    The budget counts CPU time (all cores of this process together), not wall time: on a
    shared machine wall time measures the neighbours as much as the training."""
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from training.data import read_pairs_and_corpus, split_frame, train_datasets
    from training.finetune import build_loss
    from training.precision import resolve_precision

    settings = load_settings(config)
    t = settings.training
    pairs, _ = read_pairs_and_corpus(settings)
    data = train_datasets(split_frame(pairs, "train"), t.use_hard_negatives, t.batch_size)
    model = SentenceTransformer(settings.model.resolved_base_model(), device="cpu")
    if t.max_seq_length:
        model.max_seq_length = t.max_seq_length
    dims = list(t.matryoshka_dims)
    precision = resolve_precision(t.precision, "cpu")
    loss, _ = build_loss(model, settings, dims, "cpu", precision.name)
    losses: Any = {name: loss for name in data} if isinstance(data, dict) else loss
    with tempfile.TemporaryDirectory() as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=t.batch_size,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=t.seed,
            use_cpu=True,  # the trainer refuses bf16 without a GPU unless told
            **precision.trainer_flags(),
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data, loss=losses
        )
        cpu, wall = time.process_time(), time.perf_counter()
        trainer.train()
        return (time.process_time() - cpu) / steps, (time.perf_counter() - wall) / steps


def train_and_evaluate(bench: Bench, train_minutes: float, with_data: bool = True) -> None:
    """Training data, then the step budget, then the training job (finetune + evaluate)."""
    if with_data:
        bench.meta.update(run_job(bench.train_config, "training_data_job"))
    if bench.max_steps is None:
        cpu, wall = seconds_per_step(bench.train_config)
        bench.max_steps = max(1, int(train_minutes * 60 / cpu))
        bench.meta["budget"] = {
            "cpu_s_per_step": cpu,
            "wall_s_per_step": wall,
            "max_steps": bench.max_steps,
        }
        write_configs(bench)
    bench.meta.update(run_job(bench.train_config, "training_job"))
    bench.save_meta()
    if bench.in_corpus:
        assert_no_question_leak(bench)


# --- evaluation on the real questions -------------------------------------------------------


def _chunks(config: Path) -> pd.DataFrame:
    settings = load_settings(config)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        docs = read_table(conn, SOURCE_DOCUMENTS)
    docs = docs.loc[~docs["deleted"].astype(bool), ["doc_id", "source", "uri"]]
    return chunks.merge(docs, on="doc_id", how="left")


def assert_no_question_leak(bench: Bench) -> None:
    """Fail the run if any of the bench's questions is in a training input: a query,
    passage or negative of the pairs the training step took (``training.data``'s
    ``training_frame``, on the gate questions the run's ``evaluation_sets`` wrote).

    The answer pages carry no question heading, but a manual may quote a FAQ question
    (the Debian Reference cites "6.2.1 Which other codenames have been used in the
    past?"): the product's guard takes such lines out, and this check proves it did."""
    from embedloop.evaluation.holdout import question_leaks
    from training.data import gate_questions, training_frame

    settings = load_settings(bench.train_config)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        pairs = read_table(conn, TRAINING_SPLITS)
    frame = training_frame(pairs, gate_questions(settings), settings.training.min_real_queries)
    inputs = pd.concat([frame.pairs, frame.validation])
    leaks = question_leaks(inputs, [q.question for q in bench.questions])
    if leaks:
        shown = "; ".join(f"{q!r} in {column}" for q, column in leaks[:5])
        raise SystemExit(f"{len(leaks)} question(s) reached a training input: {shown}")
    raw = len(question_leaks(pairs, [q.question for q in bench.questions]))
    print(
        f"leak check: none of {len(bench.questions)} questions in the {len(inputs)} pairs "
        f"trained or validated on ({frame.as_metadata()}; {raw} found in training_splits "
        "before the guard)"
    )


def corpus_chunks(bench: Bench) -> pd.DataFrame:
    """Every chunk of the manual and of the answer pages (unique chunk ids)."""
    configs = [bench.train_config] + ([] if bench.in_corpus else [bench.heldout_config])
    frame = pd.concat([_chunks(c) for c in configs])
    return frame.drop_duplicates("chunk_id").sort_values("chunk_id").reset_index(drop=True)


def question_set(bench: Bench, chunks: pd.DataFrame) -> EvalSet:
    """The question file, read by the project's own loader, over every chunk."""
    from embedloop.evaluation.questions import load_question_file

    documents = chunks[["doc_id", "uri"]].drop_duplicates("doc_id")
    return load_question_file(bench.question_file, chunks, documents)


def evaluate(
    model: str | SentenceTransformer, questions: EvalSet, corpus: dict[str, str], dims: list[int]
) -> SetScores:
    """The project's scorer (per-query nDCG too), on a plain CPU torch model (or its dir)."""
    from embedloop.evaluation.scoring import score_sets

    if isinstance(model, str):
        model = load_model(model)
    return score_sets(model, {"questions": questions}, corpus, dims)["questions"]


def load_model(path: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", local_files_only=True)


MARKER = ".embedloop-bench"


def fresh_work_dir(path: Path | None, name: str) -> Path:
    """The bench's work directory, emptied first: only a directory this bench made, or an
    empty one, is ever deleted."""
    work = (path or Path(tempfile.gettempdir()) / f"embedloop-bench-{name}").resolve()
    if work.exists() and any(work.iterdir()):
        if not (work / MARKER).is_file():
            raise SystemExit(f"{work} is not empty and not a bench work dir: choose another")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text(name)
    return work
