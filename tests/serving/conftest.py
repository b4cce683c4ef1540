"""Fixtures of the serving tests: the base model, a prompted copy of it, a real PostgreSQL
server with pgvector (the ``pgserver`` wheel's, started once per session), and data
directories whose production model can be promoted and rolled back by copying exports."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from embedloop.config import Settings, parse_settings
from embedloop.index.build import IndexTarget
from embedloop.models import MODEL_MARKER
from tests.helpers.training import tiny_tables

# e5-style prompts: the same weights encode "query: x" and "passage: x" differently.
PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.fixture(scope="session")
def base_path() -> str:
    return parse_settings({}).model.resolved_base_model()


@pytest.fixture(scope="session")
def prompted_dir(base_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base model saved with query and passage prompts, as a promoted model would be."""
    from sentence_transformers import SentenceTransformer

    target = tmp_path_factory.mktemp("prompted") / "model"
    model = SentenceTransformer(base_path, device="cpu", prompts=PROMPTS)
    model.save(str(target), create_model_card=False)
    return target


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """PostgreSQL with pgvector's vector.so, from the pgserver wheel."""
    pgserver = pytest.importorskip("pgserver")
    root = tmp_path_factory.mktemp("pg")
    root.chmod(0o755)
    server = pgserver.get_server(root / "data", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """A fresh database on the session's server."""
    name = f"idx_{uuid.uuid4().hex[:10]}"
    pg_server.psql(f'CREATE DATABASE "{name}";')
    return str(pg_server.get_uri(name))


@pytest.fixture(params=["duckdb", "pgvector"])
def target(request: pytest.FixtureRequest) -> IndexTarget:
    if request.param == "duckdb":
        return IndexTarget(None)
    return IndexTarget(request.getfixturevalue("pg_url"))


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    raw: dict[str, Any] = {
        "data_dir": str(data_dir),
        "model": {"backend": "torch"},
        "training": {"matryoshka_dims": [384, 128]},
        **overrides,
    }
    return parse_settings(raw)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def chunks() -> pd.DataFrame:
    return tiny_tables()[0]


def promote(settings: Settings, model_dir: Path, version: int) -> Path:
    """What the promotion step leaves on disk: the version's export and production."""
    models = settings.data_dir / "models"
    for target in (models / str(version), models / "production"):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(model_dir, target)
        (target / MODEL_MARKER).write_text(
            json.dumps({"model_name": "embedloop-embeddings", "version": version})
        )
    return models / "production"


def back_to_base(settings: Settings) -> None:
    """A rollback to no promoted version: the base model serves again."""
    shutil.rmtree(settings.data_dir / "models" / "production", ignore_errors=True)
