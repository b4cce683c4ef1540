"""What the benchmarks share: run assets in-process and collect their numeric metadata."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from orchestration.resources import build_resources

Metadata = dict[str, dict[str, float]]


def materialize(assets: Sequence[dg.AssetsDefinition], config: Path) -> tuple[float, Metadata]:
    """Wall time of one in-process run, and each asset's numeric metadata."""
    started = time.perf_counter()
    result = dg.materialize(assets, resources=build_resources(config))
    elapsed = time.perf_counter() - started
    meta: Metadata = {}
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta[mat.asset_key.to_user_string()] = {
            k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float)
        }
    return elapsed, meta


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


POSTGRES_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


def docs_arguments(description: str | None, default_include: str) -> argparse.Namespace:
    """--docs/--include for a benchmark over one local documentation tree."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--docs", type=Path, default=POSTGRES_DOCS)
    parser.add_argument("--include", default=default_include)
    args = parser.parse_args()
    if not args.docs.is_dir():
        sys.exit(f"{args.docs} not found: apt-get install postgresql-doc-15, or pass --docs")
    return args


def write_docs_config(directory: Path, docs: Path, include: str) -> Path:
    """A config with one local source and its data under ``directory``."""
    source = {"kind": "local", "name": "docs", "path": str(docs), "include": [include]}
    config = directory / "embedloop.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(directory / "data"), "sources": [source]}))
    return config
