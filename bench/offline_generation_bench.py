"""Offline generation: distilabel's pipeline (the old path) vs plain Python (the new one).

Both run the same ``pseudo_queries`` over the demo corpus's chunks, side by side in one
process: start-up is the wall time for a single chunk (the old path starts a fork server and
its step workers each run), throughput is chunks per second over the whole corpus. Prints
both and the old/new ratio. The target: the new path's fixed start-up under 3 s.

    python -m bench.offline_generation_bench [--modules argparse,json,...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "1")
# isort: off
# The old path needs distilabel's fork server, set before anything creates a lock.
import embedloop.pairs.forkserver  # noqa: F401

# isort: on
from bench.query_quality_bench import demo_chunks
from embedloop.config import SyntheticSettings, load_settings
from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.incremental import section_neighbours

ROOT = Path(__file__).resolve().parents[1]


def old_path(chunks: list[ChunkForGeneration], settings: SyntheticSettings, work: Path) -> int:
    """The offline step as a distilabel pipeline, as ``generation`` ran it before."""
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    from bench.offline_step import OfflineQueryGenerator
    from embedloop.pairs.distilabel_support import run_pipeline

    rows = [
        {"chunk_id": c.chunk_id, "text": c.text, "heading_path": c.heading_path, "title": c.title}
        for c in chunks
    ]
    with Pipeline(name="embedloop-offline", cache_dir=work / "distilabel") as pipeline:
        load = LoadDataFromDicts(name="load_chunks", data=rows, batch_size=256)
        step = OfflineQueryGenerator(
            name="offline_queries",
            queries_per_chunk=settings.queries_per_chunk,
            strategies=list(settings.offline_strategies),
            input_batch_size=256,
        )
        load >> step
    return len(run_pipeline(pipeline))


def new_path(chunks: list[ChunkForGeneration], settings: SyntheticSettings, work: Path) -> int:
    return len(generate_pairs(chunks, settings, work).pairs)


Runner = Callable[[list[ChunkForGeneration], SyntheticSettings, Path], int]


def timed(
    run: Runner, chunks: list[ChunkForGeneration], settings: SyntheticSettings, work: Path
) -> tuple[float, int]:
    started = time.perf_counter()
    pairs = run(chunks, settings, work)
    return time.perf_counter() - started, pairs


def import_seconds() -> float:
    """Importing the generator in a fresh interpreter (part of the new path's start-up)."""
    code = "import time; t = time.perf_counter(); import embedloop.pairs.generation; "
    code += "print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated stdlib modules (default: the demo's)")
    args = parser.parse_args()
    settings = load_settings(ROOT / "embedloop.yaml")
    frame, titles = demo_chunks(settings, args.modules.split(",") if args.modules else None)
    neighbours = section_neighbours(frame)
    chunks = [
        ChunkForGeneration(
            c.chunk_id, c.text, c.heading_path, titles[c.doc_id], neighbours.get(c.chunk_id, ())
        )
        for c in frame.itertuples(index=False)
    ]
    results = {}
    runners: list[tuple[str, Runner]] = [
        ("old (distilabel)", old_path),
        ("new (in-process)", new_path),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in runners:
            start, _ = timed(run, chunks[:1], settings.synthetic, Path(tmp))
            total, pairs = timed(run, chunks, settings.synthetic, Path(tmp))
            results[name] = (start, total, pairs)
    imported = import_seconds()
    print(f"{len(chunks)} chunks of the demo corpus, queries_per_chunk=3")
    print(f"{'path':<18} {'start-up (1 chunk)':>19} {'all chunks':>11} {'chunks/s':>10} pairs")
    for name, (start, total, pairs) in results.items():
        print(f"{name:<18} {start:>17.3f} s {total:>9.2f} s {len(chunks) / total:>10.0f} {pairs}")
    (old_start, old_total, _), (new_start, new_total, _) = results.values()
    # The old path's first call imported distilabel; count the new path's import too.
    fixed = imported + new_start
    print(f"new fixed start-up: import {imported:.2f} s + first chunk {new_start:.3f} s = "
          f"{fixed:.2f} s ({'under' if fixed < 3 else 'OVER'} the 3 s target)")  # fmt: skip
    print(f"ratio old/new: start-up {old_start / fixed:.0f}x (vs import + first chunk), "
          f"all chunks {old_total / new_total:.0f}x")  # fmt: skip
    print("(the old step gets no section neighbours, so it makes no inverse cloze pairs)")


if __name__ == "__main__":
    main()
