"""One search code path for `embedloop search` and `embedloop serve`.

A ``Searcher`` holds the index store and the model that built the index, loaded once.
Before each search it looks at the index's state (a file stat for DuckDB, one row for
PostgreSQL): when a promotion or rollback has switched the index to another model, it
loads that model, so a running API follows promotions without a restart and never encodes
a query with another model than the one that embedded the chunks. Queries are encoded with
``encode_query`` (``embedloop.encoders``), as the promotion gate measured them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from embedloop.config import Settings
from embedloop.embedding_cache import model_key
from embedloop.encoders import encode
from embedloop.index.build import IndexTarget
from embedloop.index.store import IndexState, IndexStore, IndexUnavailable
from embedloop.models import hub_offline, load_encoder, serving_backend

MAX_K = 100


class SearchInputError(ValueError):
    """A search request the index cannot answer as asked (HTTP 422, CLI exit 2)."""


class SearchRequest(BaseModel):
    """What a search asks: FastAPI validates the body with it, the CLI its arguments."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(description="the question, in words")]
    k: Annotated[int, Field(ge=1, le=MAX_K, description="how many chunks to return")] = 5
    dim: Annotated[
        int | None, Field(ge=1, description="a Matryoshka dim the index holds; null = native")
    ] = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("query must not be empty")
        return value


class SearchHit(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    heading_path: str
    text: str
    score: float


class SearchResponse(BaseModel):
    query: str
    k: int
    dim: int
    model_version: str
    index_backend: str
    hits: list[SearchHit]


def describe(err: ValidationError) -> str:
    """A pydantic error as one line per field, for the CLI."""
    parts = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "request"
        parts.append(f"{field}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


class Searcher:
    """Searches the production index with the model that built it."""

    def __init__(self, settings: Settings, target: IndexTarget) -> None:
        self.settings = settings
        self.store: IndexStore = target.open(settings)
        self._lock = threading.Lock()
        self._model: Any = None
        self._weights: str | None = None
        self.state: IndexState | None = None

    def refresh(self) -> IndexState:
        """The index's current state, with its model loaded; IndexUnavailable if none."""
        state = self.store.state()
        if state is None:
            raise IndexUnavailable(
                f"no production index yet ({self.store.backend}): run `embedloop run` first "
                "(or materialize the production_index asset)"
            )
        if state.weights_key != self._weights:
            if not Path(state.model_path).exists():
                raise IndexUnavailable(
                    f"the index was built by model version {state.model_version} at "
                    f"{state.model_path}, which this machine does not have: share the data "
                    "directory's models/ with the server, or rebuild the index here"
                )
            if model_key(state.model_path) != state.weights_key:
                raise IndexUnavailable(
                    f"the index was built by model version {state.model_version} at "
                    f"{state.model_path}, which holds other weights now: rebuild the index"
                )
            self._model = load_encoder(
                state.model_path,
                serving_backend(self.settings),
                self.settings.cache_dir,
                hub_offline(self.settings),
            )
            self._weights = state.weights_key
        self.state = state
        return state

    def search(self, request: SearchRequest) -> SearchResponse:
        limit = self.settings.serve.max_query_chars
        if len(request.query) > limit:
            raise SearchInputError(f"query: at most {limit} characters (serve.max_query_chars)")
        with self._lock:
            for _ in range(3):  # the index may switch models between looking and searching
                state = self.refresh()
                dim = request.dim or state.dim
                if dim not in state.dims:
                    raise SearchInputError(
                        f"dim: {dim} is not indexed; one of {', '.join(map(str, state.dims))}"
                    )
                vector = encode(self._model, [request.query], role="query")[0]
                hits, generation = self.store.search(vector, request.k, dim)
                if generation == state.generation or hits == []:
                    break
            else:
                raise IndexUnavailable("the index kept switching models: try again")
        return SearchResponse(
            query=request.query,
            k=request.k,
            dim=dim,
            model_version=state.model_version,
            index_backend=self.store.backend,
            hits=[
                SearchHit(
                    rank=i,
                    chunk_id=h.chunk_id,
                    doc_id=h.doc_id,
                    heading_path=h.heading_path,
                    text=h.text,
                    score=round(h.score, 6),
                )
                for i, h in enumerate(hits, start=1)
            ],
        )

    def health(self) -> dict[str, Any]:
        with self._lock:
            state = self.refresh()
        return {
            "status": "ok",
            "model_version": state.model_version,
            "index_size": state.n_chunks,
            "dim": state.dim,
            "dims": list(state.dims),
            "index_backend": self.store.backend,
            "generation": state.generation,
            "updated_at": state.updated_at,
        }

    def close(self) -> None:
        self.store.close()
