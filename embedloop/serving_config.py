"""The ``index`` and ``serve`` sections of ``embedloop.yaml``: where retrieval happens.

The production index is the promoted model's vectors of every live chunk
(``embedloop.index``); ``embedloop serve`` answers searches from it. The PostgreSQL URL is
not here: it carries a password, so it comes from ``$EMBEDLOOP_INDEX_URL`` (a Dagster
``EnvVar`` in the resource). Kept apart from ``embedloop.config`` so that module stays
readable; re-exported from it.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

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
    ef_search: Annotated[int, Field(le=1000)] = Field(
        default=100,
        description="HNSW search-time candidate list (hnsw.ef_search): more is slower and "
        "closer to exact; at least 100, the largest k a search may ask (each search also "
        "raises it to its k).",
    )
    matryoshka: bool = Field(
        default=True,
        description="Also index every training.matryoshka_dims below the native dim (one "
        "HNSW each), so a search may ask for a smaller dim.",
    )

    # The largest k a search may ask (embedloop.serving.searcher.MAX_K): with a smaller
    # candidate list pgvector silently returns fewer than k hits.
    MIN_EF_SEARCH: ClassVar[int] = 100

    @field_validator("ef_search")
    @classmethod
    def _ef_search_covers_k(cls, value: int) -> int:
        if value < cls.MIN_EF_SEARCH:
            raise ValueError(
                f"must be at least {cls.MIN_EF_SEARCH}, the largest k a search may ask: "
                f"with ef_search {value} pgvector returns at most {value} hits"
            )
        return value


# The bearer token of the search API; required to bind anything but loopback.
API_KEY_ENV = "EMBEDLOOP_API_KEY"


class ServingSettings(Strict):
    """`embedloop serve`: the search API. Loopback by default; any other address needs
    ``$EMBEDLOOP_API_KEY``, a bearer token every endpoint but ``/health`` then asks for."""

    host: str = Field(
        default="127.0.0.1",
        description="Address `embedloop serve` binds. Anything but loopback needs "
        "$EMBEDLOOP_API_KEY (a bearer token on every endpoint but /health).",
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8000, description="Port of `embedloop serve`."
    )
    max_query_chars: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=1000,
        description="Longer queries are refused (HTTP 422, CLI exit 2): the model would "
        "truncate them silently.",
    )
    max_body_bytes: Annotated[int, Field(ge=1024, le=10_000_000)] = Field(
        default=65_536,
        description="Request bodies larger than this are refused (HTTP 413) before they are read.",
    )
    log_searches: bool = Field(
        default=True,
        description="Record every search (query, hits, model version; the caller's `user` "
        "hashed) in the search log beside the index, so that people's questions can teach "
        "the loop (the search_log asset).",
    )
    log_retention_days: Annotated[int, Field(ge=1)] | None = Field(
        default=365,
        description="Logged searches (and their feedback) older than this are deleted by the "
        "search_log asset. null = kept until `embedloop searches purge`.",
    )
