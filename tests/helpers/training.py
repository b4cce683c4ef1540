"""The tiny training project the ZenML tests share: 30 chunks on 10 pages with their pairs,
written to a warehouse together with the evaluation sets built from it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from embedloop.config import Settings
from embedloop.evaluation.build import EvalTables, build_eval_sets
from embedloop.evaluation.sets import sets_to_table
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    EVALUATION_QUERIES,
    HUMAN_EVAL,
    TRAINING_SPLITS,
    replace_tables,
)
from tests.helpers.config import write_config

TOPICS = [
    ("artifact store", "keeps every artifact that a step produces, in a bucket or folder"),
    ("orchestrator", "decides where and in which order the steps of a pipeline run"),
    ("step operator", "runs a single step on special hardware such as a GPU cluster"),
    ("container registry", "stores the Docker images built for remote pipeline runs"),
    ("secret store", "holds API keys and passwords encrypted outside of the code"),
    ("model registry", "tracks model versions and which one is deployed"),
    ("experiment tracker", "logs metrics and parameters of training runs for comparison"),
    ("feature store", "serves precomputed features to training and inference"),
    ("alerter", "sends a chat message when a pipeline fails or finishes"),
    ("image builder", "builds container images locally or in the cloud"),
    ("data validator", "checks datasets against expectations before training"),
    ("annotator", "lets people label data in a web interface"),
    ("cache", "skips a step when its code and inputs did not change"),
    ("schedule", "runs a pipeline every night at a fixed time with cron"),
    ("materializer", "writes a Python object to storage and reads it back"),
    ("service connector", "gives stack components short-lived cloud credentials"),
    ("dashboard", "shows pipeline runs, their logs and the lineage of artifacts"),
    ("retry policy", "re-runs a failed step a number of times with a delay"),
    ("hook", "calls a function when a step succeeds or fails"),
    ("tag", "labels runs and artifacts so they can be filtered later"),
    ("metadata", "attaches numbers and text such as accuracy to a model version"),
    ("deployer", "serves a pipeline as an HTTP endpoint"),
    ("stack", "is the set of components a pipeline runs on"),
    ("project", "groups pipelines, models and artifacts of one team"),
    ("workspace", "isolates the users and resources of one organization"),
    ("log store", "keeps the console output of every step"),
    ("sandbox", "provides a throwaway environment to try the product"),
    ("trigger", "starts a pipeline when an event such as a webhook arrives"),
    ("parameter", "is a JSON value passed to a step when the pipeline is called"),
    ("artifact version", "is one immutable output of a step with a number"),
]


def tiny_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """30 chunks on 10 pages; pages 0-2 test, 3-4 validation, 5-9 train (about 50 pairs)."""
    chunks: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for i, (name, fact) in enumerate(TOPICS):
        page, doc, chunk_id = i // 3, f"docs:page{i // 3}.md", f"c{i:02d}"
        text = f"The {name} {fact}. It is configured in the stack settings of the {name}."
        chunks.append(
            {
                "chunk_id": chunk_id,
                "doc_id": doc,
                "doc_ids": [doc],
                "heading_path": name,
                "text": text,
                "n_tokens": 30,
                "position": i % 3,
            }
        )
        split = "test" if page < 3 else "validation" if page < 5 else "train"
        queries = [f"what does the {name} do", f"which component {fact.split(',')[0]}"]
        for j, query in enumerate(queries[: 2 if i % 3 else 1]):
            other = TOPICS[(i + 7) % len(TOPICS)]
            negative = f"The {other[0]} {other[1]}." if split == "train" and j == 0 else None
            pairs.append(
                {
                    "pair_id": f"p{i:02d}{j}",
                    "split": split,
                    "doc_id": doc,
                    "chunk_id": chunk_id,
                    "query": query,
                    "positive": text,
                    "negative": negative,
                    "negative_chunk_id": f"c{(i + 7) % len(TOPICS):02d}" if negative else None,
                    "generator": "offline",
                    "model": "none",
                }
            )
    # The same test question about two chunks: one query with two relevant chunks.
    pairs.append({**pairs[0], "pair_id": "pdup", "chunk_id": "c01", "positive": chunks[1]["text"]})
    return pd.DataFrame(chunks), pd.DataFrame(pairs)


HUMAN_QUERIES = pd.DataFrame(
    {
        "query": [
            "where do step outputs go",
            "how do I run a step on a GPU",
            "where do API keys go",
        ],
        "chunk_id": ["c00", "c02", "c04"],
    }
)


def write_warehouse(
    path: Path, chunks: pd.DataFrame, pairs: pd.DataFrame, settings: Settings | None = None
) -> None:
    """The tables, then the evaluation sets as the ``evaluation_sets`` asset builds them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        replace_tables(
            conn,
            {
                DOCUMENT_CHUNKS: chunks,
                TRAINING_SPLITS: pairs,
                HUMAN_EVAL: HUMAN_QUERIES.assign(pair_id=None, origin="accepted"),
            },
        )
        sets = build_eval_sets(settings or Settings(), EvalTables.read(conn))
        replace_tables(conn, {EVALUATION_QUERIES: sets_to_table(sets, datetime.now(UTC))})


TRAINING = {"batch_size": 8, "max_seq_length": 48, "matryoshka_dims": [384, 128]}


def training_config(root: Path, name: str, training: dict[str, Any], **top: Any) -> Path:
    """``root/name.yaml`` with data in ``root/data`` and tiny training (``TRAINING``)."""
    return write_config(root / f"{name}.yaml", training={**TRAINING, **training}, **top)


@contextmanager
def isolated_zenml(settings: Settings) -> Iterator[None]:
    """ZenML on ``settings``' data_dir for the block; the environment restored afterwards."""
    from training.zenml_env import configure_zenml

    keys = ("ZENML_CONFIG_PATH", "ZENML_STORE_URL")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.pop("ZENML_STORE_URL", None)  # never write into a developer's server
    try:
        assert configure_zenml(settings) == settings.data_dir / "zenml"
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
