"""Group ``ingestion``: the incremental document catalog and its chunks.

``source_documents`` / ``skipped_documents`` come from ``embedloop.ingestion`` (scan, parse,
tombstone); ``document_chunks`` from ``embedloop.chunking`` (structure-aware, token-budgeted,
de-duplicated). Both re-do only what changed.
"""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.chunking.incremental import chunker_for, refresh_chunks
from embedloop.config import Settings
from embedloop.data_versions import frame_version
from embedloop.ingestion.catalog import default_scanner, refresh_catalog
from embedloop.memory import track_memory
from embedloop.reports import histogram_png, markdown_table, png_markdown
from embedloop.warehouse import (
    CHUNK_CACHE,
    DOCUMENT_CHUNKS,
    SKIPPED_DOCUMENTS,
    SOURCE_DOCUMENTS,
    read_table,
    replace_tables,
)

GROUP = "ingestion"
KINDS = {"python", "duckdb"}
# Bump when a change to this module changes what the assets write (Dagster marks them stale).
CODE_VERSION = "1"
_COUNT_KEYS = ("added", "changed", "unchanged", "deleted", "skipped")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "source_documents",
            deps=["documentation_sources"],
            group_name=GROUP,
            code_version=CODE_VERSION,
            kinds=KINDS,
            description="Every document of every configured source, parsed to Markdown text. "
            "Deleted files stay as tombstones (deleted=true).",
        ),
        dg.AssetSpec(
            "skipped_documents",
            group_name=GROUP,
            code_version=CODE_VERSION,
            kinds=KINDS,
            description="Files that could not be ingested on the last run, with the reason.",
        ),
    ],
)
@track_memory
def ingest_documents(settings: dg.ResourceParam[Settings], duckdb: DuckDBResource):
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        result = refresh_catalog(
            settings.sources,
            read_table(conn, SOURCE_DOCUMENTS),
            read_table(conn, SKIPPED_DOCUMENTS),
            scanner=default_scanner(settings.cache_dir, settings.ingestion.max_file_bytes),
            now=datetime.now(UTC),
        )
        replace_tables(
            conn, {SOURCE_DOCUMENTS: result.documents, SKIPPED_DOCUMENTS: result.skipped}
        )
    duration = time.perf_counter() - started

    docs = result.documents
    live = docs[~docs["deleted"].astype(bool)]
    per_source = [
        {
            "source": name,
            "documents": int(n),
            "bytes": int(live.loc[live.source == name].bytes.sum()),
        }
        for name, n in live.groupby("source").size().items()
    ]
    yield dg.MaterializeResult(
        asset_key="source_documents",
        data_version=dg.DataVersion(frame_version(docs, ["doc_id", "content_hash", "deleted"])),
        metadata={
            **{k: dg.MetadataValue.int(result.counts[k]) for k in _COUNT_KEYS},
            "live_documents": dg.MetadataValue.int(len(live)),
            "duration_s": dg.MetadataValue.float(round(duration, 3)),
            "per_source": dg.MetadataValue.md(markdown_table(per_source)),
            "dagster/row_count": dg.MetadataValue.int(len(docs)),
        },
    )
    reasons = result.skipped.groupby("reason").size().sort_values(ascending=False).head(20)
    yield dg.MaterializeResult(
        asset_key="skipped_documents",
        data_version=dg.DataVersion(frame_version(result.skipped, ["source", "relpath", "reason"])),
        metadata={
            "skipped": dg.MetadataValue.int(len(result.skipped)),
            "reasons": dg.MetadataValue.md(
                markdown_table([{"reason": r, "files": int(n)} for r, n in reasons.items()])
            ),
            "dagster/row_count": dg.MetadataValue.int(len(result.skipped)),
        },
    )
    if result.failed_sources:
        # Other sources were refreshed and written; the failed ones kept their previous rows.
        raise dg.Failure(
            description="sources failed: " + "; ".join(result.failed_sources.values()),
            metadata={"failed_sources": dg.MetadataValue.json(result.failed_sources)},
        )


@dg.asset(
    deps=["source_documents"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds=KINDS,
    description="Documents split at headings and packed to the embedding model's token budget. "
    "Identical chunks across pages are collapsed (doc_ids lists every origin).",
)
@track_memory
def document_chunks(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    counter, params = chunker_for(settings)
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        result = refresh_chunks(
            read_table(conn, SOURCE_DOCUMENTS), read_table(conn, CHUNK_CACHE), counter, params
        )
        replace_tables(conn, {CHUNK_CACHE: result.cache, DOCUMENT_CHUNKS: result.chunks})
    duration = time.perf_counter() - started

    chunks = result.chunks
    tokens = chunks["n_tokens"].astype(int)
    summary: list[dict[str, object]] = [
        {"stat": "chunks", "value": len(chunks)},
        {"stat": "tokens mean", "value": round(float(tokens.mean()), 1) if len(chunks) else 0},
        {"stat": "tokens p95", "value": int(tokens.quantile(0.95)) if len(chunks) else 0},
        {"stat": "token budget", "value": params.max_tokens},
    ]
    metadata: dict[str, Any] = {
        **{k: dg.MetadataValue.int(v) for k, v in sorted(result.counts.items())},
        "max_tokens": dg.MetadataValue.int(params.max_tokens),
        "duration_s": dg.MetadataValue.float(round(duration, 3)),
        "summary": dg.MetadataValue.md(markdown_table(summary)),
        "dagster/row_count": dg.MetadataValue.int(len(chunks)),
    }
    if len(chunks):
        png = histogram_png(tokens, "Tokens per chunk", "tokens")
        metadata["token_histogram"] = dg.MetadataValue.md(png_markdown(png, "tokens per chunk"))
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(frame_version(chunks))
    )
