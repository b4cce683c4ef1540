"""The ``index`` and ``serve`` sections of ``embedloop.yaml``: where retrieval happens.

The production index is the promoted model's vectors of every live chunk
(``embedloop.index``); ``embedloop serve`` answers searches from it. The PostgreSQL URL is
not here: it carries a password, so it comes from ``$EMBEDLOOP_INDEX_URL`` (a Dagster
``EnvVar`` in the resource). Kept apart from ``embedloop.config`` so that module stays
readable; re-exported from it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from embedloop.source_config import Strict

# The PostgreSQL (pgvector) server of the index; unset = the embedded DuckDB index.
INDEX_URL_ENV = "EMBEDLOOP_INDEX_URL"


class IndexSettings(Strict):
    """The production vector index: DuckDB with exact search by default, PostgreSQL with
    pgvector's HNSW when ``$EMBEDLOOP_INDEX_URL`` names a server."""

    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,40}$")] = Field(
        default="production_index",
        description="Table of the index in PostgreSQL; the DuckDB index is "
        "<data_dir>/<table>.duckdb.",
    )
    hnsw_m: Annotated[int, Field(ge=2, le=100)] = Field(
        default=16, description="HNSW graph degree (pgvector's m; its default)."
    )
    hnsw_ef_construction: Annotated[int, Field(ge=4, le=1000)] = Field(
        default=64, description="HNSW build-time candidate list (pgvector's default)."
    )
    ef_search: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=100,
        description="HNSW search-time candidate list (hnsw.ef_search): more is slower and "
        "closer to exact; keep it at least the largest k.",
    )
    matryoshka: bool = Field(
        default=True,
        description="Also index every training.matryoshka_dims below the native dim (one "
        "HNSW each), so a search may ask for a smaller dim.",
    )


class ServingSettings(Strict):
    """`embedloop serve`: the search API. Loopback by default: it has no authentication."""

    host: str = Field(
        default="127.0.0.1",
        description="Address `embedloop serve` binds; loopback, since the API has no "
        "authentication.",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8000, description="Port of `embedloop serve`."
    )
    max_query_chars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000,
        description="Longer queries are refused (HTTP 422, CLI exit 2): the model would "
        "truncate them silently.",
    )
