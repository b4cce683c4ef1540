"""Fine-tune a SentenceTransformer on (query, positive[, negative]) pairs. No ZenML here.

What differs from ZenML's "LLM complete guide" recipe, and why:
- The loss sees every other passage in the batch as a negative (MultipleNegativesRanking
  with a no-duplicates sampler), plus the mined hard negative where a pair has one.
- Matryoshka training always includes the native dim, so the full-size embedding that is
  served by default is trained too; dims above it are dropped.
- Checkpoints are chosen on the validation split only (nDCG@10 at the native dim); the
  test split stays untouched for the promotion gate.
- The chosen checkpoint is averaged with the model it started from (``training.base_weight``,
  or the share that ranks written validation questions best; see ``training.averaging``) so
  noisy LLM-free pairs do not erase what it knew.
- ``training.init: production`` starts from the production model instead of the base
  model, so what earlier runs learned accumulates; the average then keeps production's
  share, and the gate still compares with production on the same questions.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
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
from transformers import PrinterCallback, TrainerCallback

from embedloop.config import Settings, TrainingSettings
from embedloop.models import hub_offline, load_sentence_transformer, pick_device, production_dir
from embedloop.progress import Progress, progress
from training.averaging import average_with_base, choose_base_weight
from training.budget import budget_metadata, time_budget
from training.data import ir_inputs, train_datasets
from training.evaluation import MatryoshkaIREvaluator, matryoshka_dims
from training.export import read_marker
from training.precision import GuardedTrainer, Precision, resolve_precision
from training.run_clock import RunClock
from training.validation_schedule import ValidationSchedule

# Enough points to plot a loss curve without bloating the run metadata.
MAX_LOSS_POINTS = 200


@dataclass
class FinetuneResult:
    model: SentenceTransformer
    loss_history: list[tuple[int, float]]
    validation_history: list[tuple[int, float]]  # (step, nDCG@10 at the native dim)
    best_step: int | None
    duration_s: float
    samples_per_s: float
    device: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    base_weight: dict[str, Any] = field(default_factory=dict)  # WeightChoice.as_metadata()


def finetune(
    settings: Settings,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    corpus: pd.DataFrame,
) -> FinetuneResult:
    """Finetune the start model on ``train``, pick a checkpoint on ``validation``, average."""
    ts = settings.training
    device = pick_device()
    precision = resolve_precision(ts.precision, device)  # fails here, before any loading
    clock = RunClock()
    with clock.phase("loading"):
        init_path, init = initial_model(settings)
        model, native_dim = _load_base(init_path, device, ts.max_seq_length, hub_offline(settings))
    dims = matryoshka_dims(ts.matryoshka_dims, native_dim)
    loss, inner = build_loss(model, settings, dims, device, precision.name)
    train_data = train_datasets(train, ts.use_hard_negatives, ts.batch_size)
    # One loss for every shape: triplets add their hard negative to the in-batch ones.
    losses: Any = {name: loss for name in train_data} if isinstance(train_data, dict) else loss
    sizes = {k: len(v) for k, v in train_data.items()} if isinstance(train_data, dict) else {}
    sizes = sizes or {"pairs": len(train_data)}
    evaluator = _validation_evaluator(validation, corpus, dims)
    steps_per_epoch = max(1, math.ceil(sum(sizes.values()) / ts.batch_size))
    total_steps = ts.max_steps or max(1, math.ceil(ts.epochs * steps_per_epoch))
    eval_steps = min(ts.eval_steps or steps_per_epoch, total_steps)
    budget = time_budget(ts, device, total_steps)
    args = (evaluator, eval_steps, total_steps, device, precision)
    # In this order: the budget may shorten the schedule the validation plan follows.
    callbacks = [clock, *([budget] if budget else []), ValidationSchedule(eval_steps)]
    trainer, output, duration = _train(model, train_data, losses, settings, args, callbacks)

    result = _result(trainer, output, duration, settings, evaluator, eval_steps, device)
    with clock.phase("averaging"):
        _average_with_base(result, init_path, device, ts, validation, corpus)
    result.hyperparameters.update(
        base_model=settings.model.resolved_base_model(),
        init=init,
        native_dim=int(native_dim),
        trained_dims=dims,
        **budget_metadata(budget, total_steps),
        loss=f"MatryoshkaLoss({type(inner).__name__})",
        effective_mini_batch_size=getattr(inner, "mini_batch_size", None),  # None: not cached
        train_datasets=sizes,
        **precision.as_metadata(),  # the format used and why (the setting is in the reason)
        **clock.as_metadata(),  # where the run's minutes went
    )
    return result


def _train(
    model: SentenceTransformer,
    train_data: Any,
    losses: Any,
    settings: Settings,
    args: tuple[MatryoshkaIREvaluator | None, int, int, str, Precision],
    callbacks: list[TrainerCallback],
) -> tuple[SentenceTransformerTrainer, Any, float]:
    """The trainer, run: checkpoints in a temporary directory, steps into the progress bar."""
    evaluator, _, total_steps, _, _ = args
    with (
        tempfile.TemporaryDirectory(prefix="embedloop-train-") as output_dir,
        progress("training", total_steps, "steps") as tracker,
    ):
        trainer = GuardedTrainer(
            model=model,
            args=_training_args(settings, output_dir, *args),
            train_dataset=train_data,
            loss=losses,
            evaluator=evaluator,
            callbacks=[_ProgressCallback(tracker), *callbacks],
        )
        # With tqdm off, transformers prints every log dict to stdout instead.
        trainer.remove_callback(PrinterCallback)
        start = time.perf_counter()
        output = trainer.train()
        return trainer, output, time.perf_counter() - start


def _validation_evaluator(
    validation: pd.DataFrame, corpus: pd.DataFrame, dims: list[int]
) -> MatryoshkaIREvaluator | None:
    """What picks the checkpoint: nDCG@10 on the validation split, if it has rows."""
    if validation.empty:
        return None
    return MatryoshkaIREvaluator(ir_inputs(validation, corpus), dims, name="validation")


def initial_model(settings: Settings) -> tuple[str, str]:
    """The model a run starts from (and averages with), and how to name it in metadata.

    ``training.init: production`` with an exported production model: that model; else the
    base model (the first run, a rollback to base, or ``init: base``)."""
    base = settings.model.resolved_base_model()
    if settings.training.init != "production":
        return base, "base"
    exported = production_dir(settings)
    marker = read_marker(exported)
    if marker is None:
        return base, "base (no production model yet)"
    return str(exported), f"production v{marker.get('version')}"


def _average_with_base(
    result: FinetuneResult,
    base_model: str,
    device: str,
    ts: TrainingSettings,
    validation: pd.DataFrame,
    corpus: pd.DataFrame,
) -> None:
    """Serve the chosen checkpoint averaged with the base model, at the configured share or
    the one written validation questions choose; the share and why go to the metadata."""
    base, _ = _load_base(base_model, device, ts.max_seq_length, hub_offline())
    choice = choose_base_weight(result.model, base, validation, corpus, ts)
    result.model = average_with_base(result.model, base, choice.weight)
    result.base_weight = choice.as_metadata()
    result.hyperparameters.update(result.base_weight)


def _load_base(
    path: str, device: str, max_seq_length: int | None, offline: bool
) -> tuple[Any, int]:
    """The model to finetune, and its native embedding dimension."""
    model = load_sentence_transformer(path, device, offline)
    if max_seq_length:
        model.max_seq_length = max_seq_length
    native_dim = model.get_embedding_dimension()
    if not native_dim:
        raise ValueError(f"cannot tell the embedding dimension of {path}")
    return model, int(native_dim)


def _result(
    trainer: SentenceTransformerTrainer,
    output: Any,
    duration: float,
    settings: Settings,
    evaluator: MatryoshkaIREvaluator | None,
    eval_steps: int,
    device: str,
) -> FinetuneResult:
    """The trained model with its history and the hyperparameters the trainer knows."""
    ts, state, args = settings.training, trainer.state, trainer.args
    history = state.log_history
    best_key = args.metric_for_best_model
    best_step = None
    if state.best_model_checkpoint:
        best_step = int(state.best_model_checkpoint.rsplit("-", 1)[-1])
    hyperparameters = {
        **ts.model_dump(mode="json", exclude={"use_global_zenml"}),
        "effective_max_seq_length": int(trainer.model.max_seq_length or 0),
        "batch_sampler": "no_duplicates",
        "total_steps": int(state.global_step),
        "eval_steps": int(eval_steps) if evaluator else None,
        "checkpoint_selection": _checkpoint_selection(evaluator, best_key, best_step),
        "fp16": args.fp16,
        "bf16": args.bf16,
        "tf32": args.tf32,  # None (left alone, e.g. on a CPU) is dropped from the metadata
        "train_runtime_s": output.metrics.get("train_runtime"),
    }
    samples = state.global_step * ts.batch_size
    return FinetuneResult(
        model=trainer.model,
        loss_history=[(int(h["step"]), float(h["loss"])) for h in history if "loss" in h],
        validation_history=[(int(h["step"]), float(h[best_key])) for h in history if best_key in h],
        best_step=best_step,
        duration_s=duration,
        samples_per_s=samples / duration if duration > 0 else 0.0,
        device=device,
        hyperparameters=hyperparameters,
    )


def _checkpoint_selection(
    evaluator: MatryoshkaIREvaluator | None, best_key: str | None, best_step: int | None
) -> str:
    if evaluator is None:
        return "last step (no validation split)"
    if best_step is None:
        return "last step (one checkpoint: validation could not choose)"
    return f"best {best_key}"


def uses_cached_loss(
    ts: TrainingSettings, device: str, precision: str = "fp32", seq_length: int | None = None
) -> bool:
    """Whether a batch is embedded ``mini_batch_size`` texts at a time (GradCache).

    Cached MNRL computes the same loss and gradients as MNRL, but holds the activations of
    one mini-batch only: on the CPU a batch of 32 triplets at seq 256 otherwise peaks at
    about 8 GB (seq 128: 3.1 GB; cached with mini-batches of 16: 2.8 GB and 1.6 GB).
    """
    threshold = ts.cached_loss_above
    if threshold is None:
        threshold = mini_batch_size(ts, device, precision, seq_length) if device == "cpu" else 64
    return ts.batch_size > threshold


def mini_batch_size(
    ts: TrainingSettings, device: str, precision: str = "fp32", seq_length: int | None = None
) -> int:
    """Texts per forward pass of the cached loss, for a run in ``precision`` whose texts are
    cut at ``seq_length`` tokens (None: not known, taken as long).

    On a GPU 32. On the CPU 8 (about 1.5 GB of activations at seq 256 instead of 2.8 GB at
    16), except bf16 at up to 128 tokens: 16. There the larger bf16 matrix products and one
    autocast cast of the weights per forward pass instead of two made a training step 1.13x
    faster (AMX, 2 threads; peak RSS 1.7 -> 2.2 GB), while at 256 tokens 16 was 0.78x of 8
    (``bench.train_throughput_bench --precision fp32,bf16:8,bf16``). The loss and its
    gradients do not depend on the mini-batch size.
    """
    if ts.mini_batch_size is not None:
        return ts.mini_batch_size
    if device != "cpu":
        return 32
    short = seq_length is not None and seq_length <= 128
    return 16 if precision == "bf16" and short else 8


def build_loss(
    model: SentenceTransformer,
    settings: Settings,
    dims: list[int],
    device: str,
    precision: str = "fp32",
) -> tuple[Any, Any]:
    """MatryoshkaLoss around in-batch negatives; the cached variant above a batch size.

    Cached MNRL computes the same loss in mini-batches, so the in-batch negative pool can
    grow beyond what fits in memory at once.
    """
    ts = settings.training
    shape = (device, precision, model.max_seq_length)
    inner = (
        CachedMultipleNegativesRankingLoss(model, mini_batch_size=mini_batch_size(ts, *shape))
        if uses_cached_loss(ts, *shape)
        else MultipleNegativesRankingLoss(model)
    )
    return MatryoshkaLoss(model, inner, matryoshka_dims=dims), inner


def _training_args(
    settings: Settings,
    output_dir: str,
    evaluator: MatryoshkaIREvaluator | None,
    eval_steps: int,
    total_steps: int,
    device: str,
    precision: Precision,
) -> SentenceTransformerTrainingArguments:
    ts = settings.training
    flags = precision.trainer_flags()
    return SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=ts.epochs,
        max_steps=ts.max_steps or -1,
        per_device_train_batch_size=ts.batch_size,
        per_device_eval_batch_size=ts.batch_size,
        learning_rate=ts.learning_rate,
        lr_scheduler_type="linear",
        # Transformers 5 takes the warmup ratio as a float in warmup_steps.
        warmup_steps=float(ts.warmup_ratio) if ts.warmup_ratio else 0,
        seed=ts.seed,
        data_seed=ts.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        eval_strategy="steps" if evaluator else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if evaluator else "no",
        save_steps=eval_steps,
        save_total_limit=2,  # the best and the latest
        save_only_model=True,  # no optimizer state: we never resume
        load_best_model_at_end=evaluator is not None,
        metric_for_best_model=f"eval_{evaluator.primary_metric}" if evaluator else None,
        greater_is_better=True,
        logging_steps=max(1, total_steps // MAX_LOSS_POINTS),
        report_to="none",
        disable_tqdm=True,  # embedloop.progress reports the steps instead
        dataloader_drop_last=False,
        dataloader_pin_memory=device == "cuda",
        fp16=bool(flags["fp16"]),
        bf16=bool(flags["bf16"]),  # autocast: the weights stay float32
        tf32=flags["tf32"],
        use_cpu=device == "cpu",  # the trainer refuses bf16 without a GPU unless told
    )


class _ProgressCallback(TrainerCallback):
    """Training steps into ``embedloop.progress`` (terminal bar and Dagster run log)."""

    def __init__(self, tracker: Progress) -> None:
        self.tracker = tracker

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.tracker.total = state.max_steps  # a time budget may have shortened it
        self.tracker.update(1)
