"""Synthetic-data throughput on a real documentation tree.

Runs ingestion, the offline generator (with screening), hard-negative mining and the splits on
the PostgreSQL 15 manual (Debian's postgresql-doc-15), then a no-op re-run. Prints pairs/s
of generation and of mining, and the no-op re-run time.

    python -m bench.synthetic_bench [--docs DIR] [--include '**/*.html']
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import docs_arguments, materialize, write_docs_config
from orchestration.definitions import ALL_ASSETS

UP_TO_SPLITS = ("source_documents", "document_chunks", "synthetic_queries", "hard_negatives",
                "candidate_pairs", "training_splits")  # fmt: skip


UP_TO_SPLITS_ASSETS = [a for a in ALL_ASSETS if {k.path[-1] for k in a.keys} & set(UP_TO_SPLITS)]


def main() -> None:
    # A subset keeps the CPU encoding of every chunk and query to minutes.
    args = docs_arguments(__doc__, default_include="sql-*.html")
    with tempfile.TemporaryDirectory() as tmp:
        config = write_docs_config(Path(tmp), args.docs, args.include)
        first, meta = materialize(UP_TO_SPLITS_ASSETS, config)
        noop, noop_meta = materialize(UP_TO_SPLITS_ASSETS, config)

    gen, neg, spl = meta["synthetic_queries"], meta["hard_negatives"], meta["candidate_pairs"]
    pairs = gen["dagster/row_count"]
    print(
        f"corpus             {args.docs}: {meta['document_chunks']['dagster/row_count']:.0f} chunks"
    )
    print(
        f"offline generation {pairs:.0f} pairs in {gen['duration_s']:.1f} s = "
        f"{pairs / gen['duration_s']:.0f} pairs/s (generation, screening and round trip)"
    )
    print(
        f"hard negatives     {neg['queries']:.0f} queries, {neg['negatives']:.0f} negatives in "
        f"{neg['duration_s']:.1f} s = {neg['queries'] / neg['duration_s']:.0f} pairs/s "
        f"({neg['texts_encoded']:.0f} texts encoded on CPU)"
    )
    print(f"base recall@10     {neg['positive_recall_at_10']:.3f} of synthetic queries")
    print(
        f"splits             train {spl['train_pairs']:.0f} / validation "
        f"{spl['validation_pairs']:.0f} / test {spl['test_pairs']:.0f}"
    )
    print(
        f"first run          {first:.1f} s;  no-op re-run {noop:.1f} s ({noop / first:.1%}), "
        f"generation {noop_meta['synthetic_queries']['duration_s']:.2f} s, "
        f"mining {noop_meta['hard_negatives']['duration_s']:.2f} s "
        f"({noop_meta['hard_negatives']['texts_encoded']:.0f} texts re-encoded)"
    )


if __name__ == "__main__":
    main()
