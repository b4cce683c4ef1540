"""Ingestion + chunking throughput on a real documentation tree.

Default tree: the PostgreSQL 15 manual (HTML) from Debian's postgresql-doc-15 package
(`apt-get install postgresql-doc-15`). Prints docs/s, chunks/s and the cost of a no-op
re-run relative to the first run. Runs the real assets in-process on a fresh warehouse.

    python -m bench.ingest_bench [--docs DIR] [--include '**/*.html']
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from assets.ingestion import document_chunks, ingest_documents
from bench.common import docs_arguments, materialize, write_docs_config


def main() -> None:
    args = docs_arguments(__doc__, default_include="**/*.html")
    with tempfile.TemporaryDirectory() as tmp:
        config = write_docs_config(Path(tmp), args.docs, args.include)
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
