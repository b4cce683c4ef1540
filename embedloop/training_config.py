"""Settings of what becomes training data and how a model trains and is promoted.

Filters, hard negatives, splits and training: the part of ``embedloop.yaml`` that decides
what a finetune sees and when its model may serve. Kept out of ``embedloop.config`` so that
module stays readable; re-exported from it, so every setting imports from there.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from embedloop.source_config import Strict


class FilterSettings(Strict):
    min_query_words: Annotated[int, Field(ge=1)] = Field(
        default=2, description="Queries with fewer words are dropped."
    )
    max_query_words: Annotated[int, Field(ge=1)] = Field(
        default=40, description="Queries with more words are dropped."
    )
    max_copy_overlap: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.9,
        description="Share of the query's words that may also appear in the passage, verbatim "
        "and in order.",
    )
    copy_check: Literal["verbatim", "content_words"] = Field(
        default="content_words",
        description="When a query of a validation or test document counts as a copy of its "
        "chunk (and is dropped): verbatim, it occurs there verbatim; content_words,"
        " also when every content word of it does. Evaluation must not measure "
        "copying.",
    )
    copy_check_train: Literal["verbatim", "content_words"] = Field(
        default="verbatim",
        description="The same for training pairs, where shared words are ordinary and often all"
        " a small document offers.",
    )
    round_trip_top_k: Annotated[int, Field(ge=1)] | None = Field(
        default=20,
        description="Round-trip consistency (InPars/Promptagator): keep a pair only if its "
        "positive ranks in the top k among all chunks for its query with the fixed "
        "base model, or scores within round_trip_margin of the k-th. None disables "
        "the filter.",
    )
    round_trip_margin: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.02,
        description="A positive outside the top round_trip_top_k still passes when it scores "
        "within this margin of the k-th result.",
    )


class HardNegativeSettings(Strict):
    num_negatives: Annotated[int, Field(ge=0, le=50)] = Field(
        default=3, description="Hard negatives mined per pair (0 = none)."
    )
    range_min: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="Candidates are taken from ranks [range_min, range_max) of the query's "
        "results.",
    )
    range_max: Annotated[int, Field(ge=1)] = Field(
        default=50, description="End (exclusive) of the ranks candidates are taken from."
    )
    relative_margin: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.95,
        description="A candidate scoring above positive_score * relative_margin is likely a "
        "false negative.",
    )
    batch_size: Annotated[int, Field(gt=0)] = Field(
        default=64, description="Texts encoded per batch while mining."
    )


class SplitSettings(Strict):
    seed: int = Field(
        default=13,
        description="Seed of the document-level split (a document's pairs all land in one split).",
    )
    validation: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.1, description="Share of documents in the validation split."
    )
    test: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.2, description="Share of documents in the test split."
    )
    max_queries_per_chunk: Annotated[int, Field(ge=1)] = Field(
        default=20, description="Queries per chunk allowed by the quality gate (after filtering)."
    )
    test_sources: list[str] = Field(
        default=[],
        description="Sources held out whole: every document of them is in the test split, so a "
        "team's FAQ or support answers can be ingested beside the manual and only "
        "ever judge models.",
    )


class TrainingSettings(Strict):
    model_name: str = Field(
        default="embedloop-embeddings",
        description="The ZenML Model that gets one version per training run.",
    )
    epochs: Annotated[float, Field(gt=0)] = Field(
        default=1, description="Passes over the train split."
    )
    max_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Caps the training steps (and so epochs); for smoke runs and CPU demos. "
        "null = no cap.",
    )
    max_minutes: Annotated[float, Field(gt=0)] | Literal["auto"] | None = Field(
        default="auto",
        description="Wall-clock minutes of training steps: the schedule shrinks to the steps "
        "that fit. auto = 15 on a CPU (one epoch of a large manual would take "
        "hours), no bound on a GPU.",
    )
    batch_size: Annotated[int, Field(gt=1)] = Field(
        default=32,
        description="Pairs per training batch (in-batch negatives: larger is usually better).",
    )
    cached_loss_above: Annotated[int, Field(gt=1)] | None = Field(
        default=None,
        description="Above this batch size the loss caches gradients "
        "(CachedMultipleNegativesRankingLoss, the same loss computed "
        "mini_batch_size texts at a time) so large in-batch negative pools fit in "
        "memory. null = auto: on the CPU above mini_batch_size (activations of a "
        "batch of 32 triplets at seq 256 take about 8 GB), on a GPU above 64.",
    )
    mini_batch_size: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Texts per mini-batch of the cached loss. null = 8 on a CPU (16 where it "
        "trains in bf16 on texts of at most 128 tokens), 32 on a GPU.",
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="Number format of the forward and backward passes (bf16 autocast; the "
        "weights and the exported model stay float32). auto = bf16 on a CUDA GPU that "
        "supports it (fp16 on older GPUs) and on a CPU with AVX512-BF16 or AMX, float32 "
        "elsewhere. bf16 on hardware without it fails before training.",
    )
    learning_rate: Annotated[float, Field(gt=0)] = Field(
        default=2e-5, description="Peak learning rate."
    )
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = Field(
        default=0.1, description="Share of the steps spent warming the learning rate up."
    )
    max_seq_length: Annotated[int, Field(gt=8)] | None = Field(
        default=None,
        description="Token limit of the model in training and inference. null = the model's own.",
    )
    matryoshka_dims: list[Annotated[int, Field(gt=0)]] = Field(
        default=[384, 256, 128, 64],
        description="Dimensions the Matryoshka loss trains (and evaluation reports); the "
        "model's native dim is always included.",
    )
    use_hard_negatives: bool = Field(
        default=True,
        description="Train on (query, positive, hard negative) triplets when negatives were mined.",
    )
    base_weight: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.5,
        description="Weight averaging (WiSE-FT): the served model is finetuned x (1 - w) + base"
        " x w, weight by weight. Keeps what the base model knew about questions; 0 "
        "= the finetuned model.",
    )
    base_weight_choices: list[Annotated[float, Field(ge=0, le=1)]] = Field(
        default=[0.0, 0.25, 0.5, 0.75],
        description="Once the validation split holds min_real_queries questions people wrote "
        "(reviewers' corrections, the question task), w is the one of these that "
        "ranks them best, if the bootstrap lower bound of its gain over base_weight"
        " reaches promotion_margin; until then base_weight. [] = always "
        "base_weight.",
    )
    init: Literal["base", "production"] = Field(
        default="base",
        description="Where a retraining starts: the base model, or the production model "
        "(exported under <data_dir>/models/production), so that learning "
        "accumulates from run to run. From production, base_weight is production's "
        "share in the average. No production: base.",
    )
    seed: int = Field(default=42, description="Seed of training (data order, initialization).")
    eval_steps: Annotated[int, Field(gt=0)] | None = Field(
        default=None,
        description="Steps between validation evaluations (null = once per epoch), and at the "
        "last step. Only where validation can choose a checkpoint: a point less than half an "
        "interval before the end is merged into the end, and a run left with one point (e.g. "
        "a time budget that ends it inside its first epoch) is not validated.",
    )
    promotion_margin: Annotated[float, Field(ge=0)] = Field(
        default=0.005,
        description="Promotion gate: nDCG@10 at the native dim must beat production (or the "
        "base model) on the same test set by this margin (the paired-bootstrap "
        "lower bound of the gain must reach it).",
    )
    regression_tolerance: Annotated[float, Field(ge=0)] = Field(
        default=0.01,
        description="Promotion gate: no judged set at any dim may surely (by its bootstrap "
        "bound) lose more than this.",
    )
    min_real_queries: Annotated[int, Field(ge=1)] = Field(
        default=30,
        description="The gate's primary set is questions + human + searches once they hold "
        "this many queries, else synthetic.",
    )
    bootstrap_resamples: Annotated[int, Field(ge=100)] = Field(
        default=1000, description="Resamples of the queries in the gate's paired bootstrap."
    )
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = Field(
        default=0.95, description="Confidence of the gate's bootstrap interval."
    )
    use_global_zenml: bool = Field(
        default=False,
        description="False: ZenML config and SQLite store under <data_dir>/zenml. true: use "
        "whatever ZenML server or store this user is logged into.",
    )
