"""Peak memory per pipeline step at two corpus sizes: growth must be at most linear.

Runs the graph (ingestion → training data → training → evaluation; no Argilla assets) on
a fresh warehouse for each size, about ``--chunks`` and twice that from the PostgreSQL
manual, and prints every step's peak RSS (VmHWM, reset per step: the ``peak_rss_mb`` asset
metadata of ``embedloop.memory``) and how much it grew against the growth in chunks.
Training runs ``--max-steps`` steps with the default settings otherwise (the batch is what
sizes its memory, not the corpus).

    python -m bench.memory_bench [--chunks 200] [--max-steps 2] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.perf_data import grow_corpus, print_steps, step_table, timed_graph, write_config


def run_size(work: Path, chunks: int, max_steps: int, seq: int | None) -> tuple[int, dict]:
    overrides: dict[str, object] = {"training.max_steps": max_steps}
    if seq:
        overrides["training.max_seq_length"] = seq
    config = write_config(work, overrides)
    n = grow_corpus(work, config, chunks)
    return n, timed_graph(config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--max-steps", type=int, default=2)
    parser.add_argument("--seq-length", type=int, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedloop-memory-"))
    small_n, small = run_size(work / "small", args.chunks, args.max_steps, args.seq_length)
    large_n, large = run_size(work / "large", 2 * args.chunks, args.max_steps, args.seq_length)
    print_steps(f"{small_n} chunks", small)
    print_steps(f"{large_n} chunks", large)
    chunk_growth = large_n / small_n
    print(f"\nchunks x{chunk_growth:.2f}; peak RSS growth per step (<= chunk growth is linear):")
    before = {s.step: s for s in step_table(small["meta"])}
    for s in step_table(large["meta"]):
        if s.step in before and before[s.step].peak_rss_mb > 0:
            growth = s.peak_rss_mb / before[s.step].peak_rss_mb
            print(f"  {s.step:<28} x{growth:.2f}")
    peak = max(s.peak_rss_mb for s in step_table(large["meta"]))
    print(f"run peak at {large_n} chunks: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
