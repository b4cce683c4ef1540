"""deploy/ray/generate_pairs.py: the LLM pairs generated on a Ray cluster via distilabel.

Ray itself is not installed here (the `ray` extra), so no test starts a Ray cluster. What
runs for real: the script imports without Ray, turns the very pipeline that
``generate_pairs`` builds into distilabel's ``RayPipeline`` with the resources asked for,
and writes the warehouse exactly as the ``synthetic_queries`` asset does, against the
OpenAI-compatible test server (the converted pipeline's DAG is then run in this process).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import pandas as pd
import pytest
import yaml

from embedloop.config import load_settings
from embedloop.pairs.distilabel_support import run_pipeline
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    GENERATION_LOG,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    read_table,
    replace_tables,
)
from tests.helpers.llm_fault_server import FaultyLLMServer

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "ray" / "generate_pairs.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_ray_generate_pairs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_the_entry_point_imports_without_ray() -> None:
    had_ray = "ray" in sys.modules
    script = load_script()
    assert callable(script.main) and callable(script.ray_runner)
    assert ("ray" in sys.modules) == had_ray  # Ray is needed to run, not to import
    args = script.parse_args(["--ray-address", "ray://head:10001", "--replicas", "4"])
    assert (args.ray_address, args.replicas, args.gpus) == ("ray://head:10001", 4, None)


def _warehouse(path: Path) -> None:
    now = datetime.now(UTC)
    docs = pd.DataFrame(
        [
            {
                "doc_id": "guide:a.md",
                "source": "guide",
                "uri": "a.md",
                "title": "Guide",
                "text": "t",
                "format": "md",
                "content_hash": "h",
                "bytes": 1,
                "ingested_at": now,
                "updated_at": now,
                "deleted": False,
            }
        ],
        columns=SOURCE_DOCUMENTS.columns,
    )
    chunks = pd.DataFrame(
        [
            {
                "chunk_id": f"c{i}",
                "doc_id": "guide:a.md",
                "doc_ids": ["guide:a.md"],
                "heading_path": "Guide > Stores",
                "text": f"OK: the artifact store keeps item {i}.",
                "n_tokens": 12,
                "position": i,
            }
            for i in range(3)
        ],
        columns=DOCUMENT_CHUNKS.columns,
    )
    with duckdb.connect(str(path)) as conn:
        replace_tables(conn, {SOURCE_DOCUMENTS: docs, DOCUMENT_CHUNKS: chunks})


@pytest.fixture
def llm_project(tmp_path: Path) -> Iterator[Path]:
    with FaultyLLMServer() as server:
        config = {
            "data_dir": str(tmp_path / "data"),
            "synthetic": {
                "generator": "llm",
                "queries_per_chunk": 2,
                "llm": {
                    "backend": "openai",
                    "base_url": server.base_url,
                    "model": "fault-server",
                    "timeout_s": 5,
                    "max_retries": 1,
                    "generation_kwargs": {"max_tokens": 64},
                },
            },
        }
        path = tmp_path / "embedloop.yaml"
        path.write_text(yaml.safe_dump(config))
        yield path


@pytest.mark.slow
def test_ray_pipelines_write_what_the_asset_writes(llm_project: Path) -> None:
    from distilabel.pipeline.ray import RayPipeline

    script = load_script()
    settings = load_settings(llm_project)
    settings.data_dir.mkdir(parents=True)
    _warehouse(settings.warehouse_path)
    converted: list[Any] = []

    def run(pipeline: Any) -> list[dict[str, Any]]:
        converted.append(script.to_ray(pipeline, "ray://head:10001", replicas=2, gpus=1))
        return run_pipeline(pipeline)  # no Ray here: the same DAG, in this process

    with duckdb.connect(str(settings.warehouse_path)) as conn:
        first = script.refresh_on(conn, settings, run, api_key="sk-test")
        again = script.refresh_on(conn, settings, run, api_key="sk-test")
        queries, log = read_table(conn, SYNTHETIC_QUERIES), read_table(conn, GENERATION_LOG)

    (ray_pipeline,) = converted  # the second refresh had nothing to generate
    assert isinstance(ray_pipeline, RayPipeline)
    assert ray_pipeline._ray_head_node_url == "ray://head:10001"
    llm_steps = [
        ray_pipeline.dag.get_step(name)["step"]
        for name in ray_pipeline.dag
        if hasattr(ray_pipeline.dag.get_step(name)["step"], "llm")
    ]
    assert [(s.resources.replicas, s.resources.gpus) for s in llm_steps] == [(2, 1)]
    assert first.chunks_pending == 3 and len(queries) == 6
    assert set(queries["chunk_id"]) == {"c0", "c1", "c2"} and len(log) == 3
    assert (again.chunks_pending, again.chunks_reused, again.report) == (0, 3, None)


def test_the_offline_generator_is_refused(tmp_path: Path) -> None:
    script = load_script()
    path = tmp_path / "embedloop.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    with duckdb.connect(":memory:") as conn, pytest.raises(SystemExit, match="offline"):
        script.refresh_on(conn, load_settings(path), run_pipeline, api_key=None)


@pytest.mark.slow
def test_the_script_runs_on_a_local_ray(llm_project: Path) -> None:
    """With the `ray` extra installed: a local Ray instance runs the LLM step as actors."""
    pytest.importorskip("ray")
    script = load_script()
    settings = load_settings(llm_project)
    settings.data_dir.mkdir(parents=True)
    _warehouse(settings.warehouse_path)
    script.main(["--config", str(llm_project), "--replicas", "1", "--cpus", "1"])
    with duckdb.connect(str(settings.warehouse_path)) as conn:
        queries = read_table(conn, SYNTHETIC_QUERIES)
    assert sorted(set(queries["chunk_id"])) == ["c0", "c1", "c2"] and len(queries) == 6
