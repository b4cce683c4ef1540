"""What the performance benchmarks share: a real corpus of about N chunks, and the graph.

The corpus is a prefix (by file name) of the PostgreSQL 15 manual (Debian's
postgresql-doc-15), copied into the work directory so that a benchmark may edit one page.
Files are added until the chunker has produced about ``--chunks`` chunks. The graph runs
in-process without the Argilla assets (no server needed): ``training_splits`` then merges
no human feedback, exactly as on a run before anyone has reviewed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("ZENML_ENABLE_RICH_TRACEBACK", "false")  # before zenml is imported

import dagster as dg
import pandas as pd
import yaml

from assets.evaluation import evaluation_sets
from assets.ingestion import document_chunks, ingest_documents
from assets.training import embedding_evaluation, finetuned_embedding_model
from assets.training_data import candidate_pairs, hard_negatives, synthetic_queries, training_splits
from embedloop.config import load_settings
from embedloop.warehouse import read_table
from orchestration.resources import build_resources

POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")
INGEST = [ingest_documents, document_chunks]
TRAINING_DATA = [synthetic_queries, hard_negatives, candidate_pairs]
TRAINING = [training_splits, finetuned_embedding_model, evaluation_sets, embedding_evaluation]
GRAPH = [*INGEST, *TRAINING_DATA, *TRAINING]
BYTES_PER_CHUNK = 1500  # first guess for the PostgreSQL HTML; corrected after one pass


@dataclass
class StepStats:
    step: str
    seconds: float
    peak_rss_mb: float
    rss_delta_mb: float


def write_config(work: Path, overrides: dict[str, Any] | None = None) -> Path:
    """A config with one local source (``work/docs``) and its data under ``work/data``."""
    config: dict[str, Any] = {
        "data_dir": str(work / "data"),
        "sources": [{"kind": "local", "name": "docs", "path": str(work / "docs")}],
    }
    for dotted, value in (overrides or {}).items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    work.mkdir(parents=True, exist_ok=True)
    path = work / "embedloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def materialize(assets: Sequence[dg.AssetsDefinition], config: Path) -> dict[str, dict]:
    """Run ``assets`` in-process; each asset's metadata (plain values) by asset key."""
    result = dg.materialize(assets, resources=build_resources(config), raise_on_error=True)
    meta: dict[str, dict] = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return meta


def grow_corpus(work: Path, config: Path, chunks: int, docs: Path = POSTGRES_DOCS) -> int:
    """Copy manual pages into ``work/docs`` until ingestion+chunking gives ~``chunks``."""
    if not docs.is_dir():
        sys.exit(f"{docs} not found: apt-get install postgresql-doc-15")
    target = work / "docs"
    target.mkdir(parents=True, exist_ok=True)
    pages = sorted(docs.glob("*.html"))
    taken, produced, per_chunk = 0, 0, float(BYTES_PER_CHUNK)
    while produced < 0.95 * chunks and taken < len(pages):
        budget = (chunks - produced) * per_chunk
        while budget > 0 and taken < len(pages):
            shutil.copy(pages[taken], target / pages[taken].name)
            budget -= pages[taken].stat().st_size
            taken += 1
        produced = int(materialize(INGEST, config)["document_chunks"]["dagster/row_count"])
        copied = sum(p.stat().st_size for p in pages[:taken])
        per_chunk = copied / max(produced, 1)
    return produced


def step_table(meta: dict[str, dict]) -> list[StepStats]:
    return [
        StepStats(
            key,
            float(values.get("step_s", float("nan"))),
            float(values.get("peak_rss_mb", float("nan"))),
            float(values.get("rss_delta_mb", float("nan"))),
        )
        for key, values in meta.items()
    ]


def timed_graph(config: Path, assets: Sequence[dg.AssetsDefinition] = GRAPH) -> dict[str, Any]:
    """Run the graph once: wall time, and every asset's metadata."""
    started = time.perf_counter()
    meta = materialize(assets, config)
    return {"wall_s": time.perf_counter() - started, "meta": meta}


def read_frames(config: Path, *tables: Any) -> list[pd.DataFrame]:
    import duckdb

    settings = load_settings(config)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        return [read_table(conn, t) for t in tables]


def print_steps(title: str, run: dict[str, Any]) -> None:
    print(f"\n{title}: wall {run['wall_s']:.1f} s")
    print(f"| {'step':<28} | {'seconds':>8} | {'peak RSS MiB':>12} | {'delta MiB':>9} |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 14}|{'-' * 11}|")
    for s in step_table(run["meta"]):
        row = f"| {s.step:<28} | {s.seconds:>8.1f} | {s.peak_rss_mb:>12.0f} |"
        print(f"{row} {s.rss_delta_mb:>9.0f} |")
