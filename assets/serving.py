"""Group ``serving``: what people search, built with the model the gate promoted.

``production_index`` embeds every live chunk with the production model (the serving
backend) into the production vector index (``embedloop.index``): DuckDB with exact search
by default, PostgreSQL with pgvector HNSW when ``$EMBEDLOOP_INDEX_URL`` is set. It is in
the refresh scope, so its automation condition is ``SOURCE_CHANGE``
(``orchestration/source_automation.py``, set on every asset outside training): a new data
version of ``document_chunks`` (a source change) or of ``embedding_evaluation`` (version
and stage: a promotion) requests it; a rollback changes production outside the asset
graph, so ``index_after_rollback_sensor`` requests it then. The same model re-embeds
only changed chunks; another model rebuilds the index beside the old one and switches
atomically.
"""

from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.memory import track_memory
from embedloop.models import production_encoder
from embedloop.reports import markdown_table
from embedloop.warehouse import DOCUMENT_CHUNKS, EMBEDDING_CACHE, read_table

GROUP = "serving"
# Bump when a change to this module changes what the asset writes (Dagster marks it stale).
CODE_VERSION = "1"


@dg.asset(
    deps=["document_chunks", "embedding_evaluation"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"duckdb", "postgres", "pytorch"},
    description="Every live chunk embedded by the production model (the base model until a "
    "promotion), for search: PostgreSQL + pgvector HNSW when $EMBEDLOOP_INDEX_URL is set, "
    "else a DuckDB file with exact search. Changed chunks only while the model stays; a new "
    "model is built beside the old index and switched in atomically.",
)
@track_memory
def production_index(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    vector_index: dg.ResourceParam[IndexTarget],
) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        cache = read_table(conn, EMBEDDING_CACHE)
    if chunks.empty:
        raise dg.Failure("document_chunks is empty: nothing to index")
    encoder = production_encoder(settings)
    store = vector_index.open(settings)
    try:
        update = refresh_index(store, chunks, encoder, settings, cache)
    finally:
        store.close()
    state = update.state
    counts = [
        {"what": "chunks in the index", "n": state.n_chunks},
        {"what": "added", "n": update.added},
        {"what": "changed (re-embedded)", "n": update.changed},
        {"what": "removed", "n": update.removed},
        {"what": "texts encoded", "n": update.encoded},
        {
            "what": "vectors from the embedding cache",
            "n": update.added + update.changed - update.encoded,
        },
    ]
    metadata: dict[str, Any] = {
        "mode": update.mode,
        "reason": update.reason,
        "index_backend": store.backend,
        "model_version": state.model_version,
        "model_path": dg.MetadataValue.path(state.model_path),
        "generation": state.generation,
        "dims": dg.MetadataValue.json(list(state.dims)),
        "counts": dg.MetadataValue.md(markdown_table(counts)),
        "texts_encoded": dg.MetadataValue.int(update.encoded),
        "duration_s": dg.MetadataValue.float(round(update.seconds, 3)),
        "dagster/row_count": dg.MetadataValue.int(state.n_chunks),
    }
    return dg.MaterializeResult(
        metadata=metadata,
        # Same model and same chunks: the same index, whatever the run.
        data_version=dg.DataVersion(f"{state.encoder_key}:{state.updated_at}"),
    )
