"""Fixtures every layer uses: the small corpus and its config, the session's local Argilla,
a fresh PostgreSQL database. Their plain helpers live in
tests/helpers; fixtures of one folder live in that folder's conftest.py."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from tests.helpers.config import write_config
from tests.helpers.corpus import write_corpus
from tests.helpers.services import ARGILLA_ENV, admin, free_port


def _share_the_cores() -> None:
    """Under pytest-xdist (``make test`` runs two workers), each worker's torch, and every
    process it starts, gets its share of the cores: two torch processes with all the cores
    each thrash (a generation ran 4x slower beside a training run)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, threads)


_share_the_cores()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


@pytest.fixture
def config_file(tmp_path: Path, corpus: Path) -> Path:
    return write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")


@pytest.fixture(scope="session")
def argilla_stack(tmp_path_factory: pytest.TempPathFactory):
    """A real local Argilla (API server, worker, Redis; SQL search) for the whole session.

    As after `make argilla-up`: the owner's key is generated on start and kept in the
    stack's credentials file, and ARGILLA_API_KEY is unset, so `build_resources` (and the
    CLI) find that key through EMBEDLOOP_ARGILLA_DATA, exported for the session. Clients
    built by hand take ``argilla_stack.api_key``."""
    from services.argilla.stack import config_from_env, start, stop

    saved = {name: os.environ.pop(name, None) for name in ARGILLA_ENV}
    cfg = config_from_env(
        tmp_path_factory.mktemp("argilla"), port=free_port(), redis_port=free_port()
    )
    try:
        start(cfg)  # raises with the server's log tail if it cannot start
        os.environ["EMBEDLOOP_ARGILLA_DATA"] = str(cfg.data_dir)
        yield cfg
    finally:
        stop(cfg)
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"embedloop_test_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}"')
    yield name
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
