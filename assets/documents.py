"""Assets ``source_documents`` and ``skipped_documents``: the incremental document catalog."""

import time
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.catalog import default_scanner, refresh_catalog
from assets.plots import markdown_table
from assets.warehouse import SKIPPED_DOCUMENTS, SOURCE_DOCUMENTS, read_table, replace_tables
from orchestration.resources import SettingsResource

GROUP = "ingestion"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "source_documents",
            group_name=GROUP,
            kinds={"python", "duckdb"},
            description="Every document of every configured source, parsed to Markdown text. "
            "Deleted files stay as tombstones (deleted=true).",
        ),
        dg.AssetSpec(
            "skipped_documents",
            group_name=GROUP,
            kinds={"python", "duckdb"},
            description="Files that could not be ingested on the last run, with the reason.",
        ),
    ],
)
def ingest_documents(settings: SettingsResource, duckdb: DuckDBResource):
    cfg = settings.load()
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        previous_docs = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
        previous_skipped = read_table(conn, "skipped_documents", SKIPPED_DOCUMENTS)
        result = refresh_catalog(
            cfg.sources,
            previous_docs,
            previous_skipped,
            scanner=default_scanner(cfg.cache_dir, cfg.ingestion.max_file_bytes),
            now=datetime.now(UTC),
        )
        replace_tables(
            conn,
            {
                "source_documents": (SOURCE_DOCUMENTS, result.documents),
                "skipped_documents": (SKIPPED_DOCUMENTS, result.skipped),
            },
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


_COUNT_KEYS = ("added", "changed", "unchanged", "deleted", "skipped")
