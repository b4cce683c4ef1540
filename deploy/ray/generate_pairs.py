"""Generate the LLM training pairs on a Ray cluster, through distilabel's Ray integration.

The ``synthetic_queries`` asset runs its distilabel pipeline inside the Dagster run. For a
large corpus with an in-process LLM (``synthetic.llm.backend: vllm`` on GPUs), run this
script instead, where the warehouse is (the user-code container or a pod with the
warehouse volume): it does what the asset does (``embedloop.pairs``: only chunks this
generator configuration has not processed, the same retries and failure threshold), but
each distilabel pipeline is turned into a ``RayPipeline`` with ``pipeline.ray()``, so its
LLM step runs as Ray actors with the replicas and GPUs asked for. It writes
``synthetic_queries`` and ``generation_log`` as the asset would, under the data
directory's run lock; the next materialization of ``synthetic_queries`` finds every chunk
done (same cache key) and generates nothing, then the rest of the graph runs as usual.

    pip install -e '.[ray]'
    python deploy/ray/generate_pairs.py --config embedloop.yaml \
        --ray-address ray://ray-head.embedloop.svc:10001 --replicas 4 --gpus 1

With ``--ray-address`` this process is a Ray client and the steps run on the cluster;
without it, ``ray.init()`` starts or joins a local Ray (e.g. inside ``ray job submit``).
The offline generator needs no LLM and no Ray: this script refuses it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from embedloop.config import Settings, load_settings
from embedloop.pairs.generation import PipelineRunner, check_failure_ratio, generate_pairs
from embedloop.pairs.incremental import SyntheticRefresh, refresh_synthetic
from embedloop.run_lock import run_lock
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    GENERATION_LOG,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    read_table,
    replace_tables,
)


def to_ray(
    pipeline: Any, address: str | None, replicas: int, gpus: int | None, cpus: int | None = None
) -> Any:
    """The same DAG as a distilabel ``RayPipeline``; every LLM step gets ``replicas`` Ray
    actors with ``gpus`` / ``cpus`` each (distilabel's ``StepResources``)."""
    from distilabel.constants import STEP_ATTR_NAME
    from distilabel.steps import StepResources

    ray_pipeline = pipeline.ray(ray_head_node_url=address)
    for name in ray_pipeline.dag:
        step = ray_pipeline.dag.get_step(name)[STEP_ATTR_NAME]
        if hasattr(step, "llm"):
            step.resources = StepResources(replicas=replicas, gpus=gpus, cpus=cpus)
    return ray_pipeline


def ray_runner(
    address: str | None, replicas: int, gpus: int | None, cpus: int | None = None
) -> PipelineRunner:
    """A ``PipelineRunner`` for ``generate_pairs``: the pipeline, run on Ray."""
    from embedloop.pairs.distilabel_support import run_pipeline

    def run(pipeline: Any) -> list[dict[str, Any]]:
        return run_pipeline(to_ray(pipeline, address, replicas, gpus, cpus))

    return run


def refresh_on(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    run: PipelineRunner,
    api_key: str | None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyntheticRefresh:
    """What ``synthetic_queries`` does, with ``run`` running each pipeline."""
    if settings.synthetic.generator != "llm":
        raise SystemExit("synthetic.generator is 'offline': it needs no LLM and no Ray")
    docs = read_table(conn, SOURCE_DOCUMENTS)
    refresh = refresh_synthetic(
        read_table(conn, DOCUMENT_CHUNKS),
        dict(zip(docs["doc_id"], docs["title"], strict=True)),
        read_table(conn, SYNTHETIC_QUERIES),
        read_table(conn, GENERATION_LOG),
        settings.synthetic,
        generate=lambda batch: generate_pairs(
            batch, settings.synthetic, settings.cache_dir, api_key=api_key, run=run
        ),
        now=now(),
    )
    if refresh.report is not None:
        # Too many failures: stop before writing, so the previous data stays intact.
        check_failure_ratio(refresh.report, settings.synthetic.max_failure_ratio)
    replace_tables(conn, {SYNTHETIC_QUERIES: refresh.queries, GENERATION_LOG: refresh.log})
    return refresh


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=None, help="embedloop.yaml")
    parser.add_argument("--ray-address", default=None, help="e.g. ray://head:10001")
    parser.add_argument("--replicas", type=int, default=1, help="Ray actors per LLM step")
    parser.add_argument("--gpus", type=int, default=None, help="GPUs per actor")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs per actor")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load_settings(args.config)
    run = ray_runner(args.ray_address, args.replicas, args.gpus, args.cpus)
    with (
        run_lock(settings.data_dir, owner="deploy/ray/generate_pairs.py"),
        duckdb.connect(str(settings.warehouse_path)) as conn,
    ):
        refresh = refresh_on(conn, settings, run, os.environ.get("EMBEDLOOP_LLM_API_KEY"))
    print(
        f"chunks generated: {refresh.chunks_pending}, reused: {refresh.chunks_reused},"
        f" pairs: {len(refresh.queries)}"
    )


if __name__ == "__main__":
    main()
