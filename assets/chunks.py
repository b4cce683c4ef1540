"""Asset ``document_chunks``: structure-aware, token-budgeted, de-duplicated chunks."""

import time
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.chunking.chunker import HFTokenCounter
from assets.chunking.incremental import ChunkerParams, refresh_chunks
from assets.plots import histogram_png, markdown_table, png_metadata
from assets.warehouse import (
    CHUNK_CACHE,
    DOCUMENT_CHUNKS,
    SOURCE_DOCUMENTS,
    read_table,
    replace_tables,
)
from orchestration.resources import SettingsResource
from orchestration.settings import Settings


def chunker_for(settings: Settings) -> tuple[HFTokenCounter, ChunkerParams]:
    """The tokenizer and chunking parameters; shared with the chunk quality check."""
    model = settings.model.resolved_base_model()
    counter = HFTokenCounter.from_model(model)
    params = ChunkerParams(
        model=model,
        max_tokens=settings.chunking.max_tokens or counter.content_budget,
        overlap_tokens=settings.chunking.overlap_tokens,
        min_tokens=settings.chunking.min_tokens,
    )
    return counter, params


@dg.asset(
    deps=["source_documents"],
    group_name="ingestion",
    kinds={"python", "duckdb"},
    description="Documents split at headings and packed to the embedding model's token budget. "
    "Identical chunks across pages are collapsed (doc_ids lists every origin).",
)
def document_chunks(settings: SettingsResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    cfg = settings.load()
    counter, params = chunker_for(cfg)
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        documents = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
        previous_cache = read_table(conn, "chunk_cache", CHUNK_CACHE)
        result = refresh_chunks(documents, previous_cache, counter, params)
        replace_tables(
            conn,
            {
                "chunk_cache": (CHUNK_CACHE, result.cache),
                "document_chunks": (DOCUMENT_CHUNKS, result.chunks),
            },
        )
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
        metadata["token_histogram"] = png_metadata(png, "tokens per chunk")
    return dg.MaterializeResult(metadata=metadata)
