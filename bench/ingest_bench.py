"""Ingestion + chunking throughput on a real documentation tree.

Default tree: the PostgreSQL 15 manual (HTML) from Debian's postgresql-doc-15 package
(`apt-get install postgresql-doc-15`). Prints docs/s, chunks/s and the cost of a no-op
re-run relative to the first run. Runs the real assets in-process on a fresh warehouse.

    python bench/ingest_bench.py [--docs DIR] [--include '**/*.html']
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import materialize

from assets.chunks import document_chunks
from assets.documents import ingest_documents

DEFAULT_DOCS = Path("/usr/share/doc/postgresql-doc-15/html")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=Path, default=DEFAULT_DOCS)
    parser.add_argument("--include", default="**/*.html")
    args = parser.parse_args()
    if not args.docs.is_dir():
        sys.exit(f"{args.docs} not found: apt-get install postgresql-doc-15, or pass --docs")

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "embedloop.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(Path(tmp) / "data"),
                    "sources": [
                        {
                            "kind": "local",
                            "name": "docs",
                            "path": str(args.docs),
                            "include": [args.include],
                        }
                    ],
                }
            )
        )
        first, meta = materialize([ingest_documents, document_chunks], config)
        docs = meta["source_documents"]["live_documents"]
        chunks = meta["document_chunks"]["dagster/row_count"]
        ingest_s = meta["source_documents"]["duration_s"]
        chunk_s = meta["document_chunks"]["duration_s"]
        noop, noop_meta = materialize([ingest_documents, document_chunks], config)

    print(f"corpus            {args.docs} ({args.include})")
    print(f"documents         {docs:.0f}   chunks {chunks:.0f}")
    print(f"ingest            {ingest_s:.2f} s   {docs / ingest_s:.1f} docs/s")
    print(f"chunk             {chunk_s:.2f} s   {chunks / chunk_s:.1f} chunks/s")
    print(f"first run (total) {first:.2f} s  (Dagster run incl. overhead)")
    print(
        f"no-op re-run      {noop:.2f} s  = {noop / first:.1%} of the first run "
        f"(ingest {noop_meta['source_documents']['duration_s']:.2f} s, "
        f"chunk {noop_meta['document_chunks']['duration_s']:.2f} s)"
    )


if __name__ == "__main__":
    main()
