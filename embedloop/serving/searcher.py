"""One search code path for `embedloop search` and `embedloop serve`.

A ``Searcher`` holds the index store and the model that built the index, loaded once.
Before each search it looks at the index's state (a file stat for DuckDB, one row for
PostgreSQL): when a promotion or rollback has switched the index to another model, it
loads that model, with the backend the index was built with (the encoder key says which),
so a running API follows promotions without a restart and never encodes a query with
another model or backend than the one that embedded the chunks. Queries are encoded with
``encode_query`` (``embedloop.encoders``), as the promotion gate measured them.

Every search is written to the search log (``embedloop.searches.log``) when one is given;
a log that fails is counted, never a failed search.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from embedloop.config import Settings
from embedloop.embedding_cache import model_key
from embedloop.encoders import BACKENDS, encode, encoder_key, resolve_backend
from embedloop.index.build import IndexTarget
from embedloop.index.store import IndexState, IndexStore, IndexUnavailable
from embedloop.models import hub_offline, load_encoder, pick_device
from embedloop.searches.log import LoggedSearch, SearchLog

MAX_K = 100
MAX_USER_CHARS = 200
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
log = logging.getLogger(__name__)


class SearchInputError(ValueError):
    """A search request the index cannot answer as asked (HTTP 422, CLI exit 2)."""


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a store or a model load raises when the database or a file is not there."""
    import duckdb

    errors: list[type[BaseException]] = [LookupError, OSError, duckdb.Error]
    try:
        import psycopg2

        errors.append(psycopg2.Error)
    except ImportError:  # pragma: no cover - psycopg2 is a dependency
        pass
    return tuple(errors)


def clean_text(value: str, field: str) -> str:
    """``value`` stripped; a ValueError for what no tokenizer should see: lone surrogates
    (invalid Unicode, e.g. a JSON ``\\ud800``) and control characters but tab and newline."""
    for char in value:
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError(f"{field} holds a lone surrogate (U+{ord(char):04X}): not valid text")
        if unicodedata.category(char) == "Cc" and char not in "\t\n\r":
            raise ValueError(f"{field} holds a control character (U+{ord(char):04X})")
    return value.strip()


class SearchRequest(BaseModel):
    """What a search asks: FastAPI validates the body with it, the CLI its arguments."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(description="the question, in words")]
    k: Annotated[int, Field(ge=1, le=MAX_K, description="how many chunks to return")] = 5
    dim: Annotated[
        int | None, Field(ge=1, description="a Matryoshka dim the index holds; null = native")
    ] = None
    user: Annotated[
        str | None,
        Field(
            max_length=MAX_USER_CHARS,
            description="an opaque id of who asks (stored hashed), so feedback can be told "
            "apart per person",
        ),
    ] = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = clean_text(value, "query")
        if not value:
            raise ValueError("query must not be empty")
        return value

    @field_validator("user")
    @classmethod
    def _plain_user(cls, value: str | None) -> str | None:
        return clean_text(value, "user") or None if value is not None else None


class SearchHit(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    heading_path: str
    text: str
    score: float


class SearchResponse(BaseModel):
    search_id: str | None = Field(
        description="the id of this search in the search log, for POST /feedback; null when "
        "the search was not logged"
    )
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


def index_backend(state: IndexState) -> str:
    """The inference backend whose vectors the index holds (from its encoder key)."""
    for backend in BACKENDS:
        if encoder_key(state.weights_key, backend) == state.encoder_key:
            return backend
    raise IndexUnavailable(
        f"the index of model version {state.model_version} was built with an inference "
        "backend this version of embedloop does not know: rebuild the index"
    )


def is_hub_id(path: str) -> bool:
    return not Path(path).is_absolute() and bool(_HUB_ID.fullmatch(path))


class Searcher:
    """Searches the production index with the model (and backend) that built it."""

    def __init__(
        self, settings: Settings, target: IndexTarget, search_log: SearchLog | None = None
    ) -> None:
        self.settings = settings
        self.store: IndexStore = target.open(settings)
        self.search_log = search_log
        self._lock = threading.Lock()
        # Every query is encoded on this one thread: torch keeps per-thread buffers, and the
        # server's pool runs requests on up to 40 threads, so RSS would grow with each new
        # thread that ever encoded a query.
        self._encoding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        self._model: Any = None
        self._encoder: str | None = None
        self.state: IndexState | None = None
        self.logged = 0
        self.log_failures = 0

    def refresh(self) -> IndexState:
        """The index's current state, with its model loaded; IndexUnavailable if none."""
        try:
            state = self.store.state()
        except _store_errors() as err:
            log.warning("reading the index state failed: %s", err)
            raise IndexUnavailable("the index cannot be read right now: try again") from None
        if state is None:
            raise IndexUnavailable(
                f"no production index yet ({self.store.backend}): run `embedloop run` first "
                "(or materialize the production_index asset)"
            )
        if state.encoder_key != self._encoder:
            self._model = self._load(state)
            self._encoder = state.encoder_key
        self.state = state
        return state

    def _load(self, state: IndexState) -> Any:
        """The index's model on the index's backend; IndexUnavailable, naming no server
        path, when this machine cannot have it."""
        backend = index_backend(state)
        if resolve_backend(backend, pick_device()) != backend:
            raise IndexUnavailable(
                f"the index holds {backend} vectors of model version {state.model_version}, "
                f"which this machine cannot compute: rebuild the index here"
            )
        where = state.model_path
        if not Path(where).exists() and not is_hub_id(where):
            log.error("the index's model is not at %s", where)
            raise IndexUnavailable(
                f"the index was built by model version {state.model_version}, which this "
                "machine does not have: share the data directory's models/ with the server, "
                "or rebuild the index here"
            )
        if model_key(where) != state.weights_key:
            log.error("the model at %s holds other weights than the index", where)
            raise IndexUnavailable(
                f"the model of version {state.model_version} holds other weights than the "
                "index: rebuild the index"
            )
        try:
            return load_encoder(where, backend, self.settings.cache_dir, hub_offline(self.settings))
        except _store_errors() as err:
            log.error("loading the index's model %s failed: %s", where, err)
            raise IndexUnavailable(
                f"model version {state.model_version} could not be loaded: see the server log"
            ) from None

    def search(self, request: SearchRequest, origin: str = "api") -> SearchResponse:
        limit = self.settings.serve.max_query_chars
        if len(request.query) > limit:
            raise SearchInputError(f"query: at most {limit} characters (serve.max_query_chars)")
        started = time.perf_counter()
        with self._lock:
            state, dim, hits = self._search(request)
        response = SearchResponse(
            search_id=None,
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
        latency_ms = (time.perf_counter() - started) * 1000
        response.search_id = self._log(request, response, state, latency_ms, origin)
        return response

    def _search(self, request: SearchRequest) -> tuple[IndexState, int, list[Any]]:
        errors = _store_errors()
        for _ in range(3):  # the index may switch models between looking and searching
            state = self.refresh()
            dim = request.dim or state.dim
            if dim not in state.dims:
                raise SearchInputError(
                    f"dim: {dim} is not indexed; one of {', '.join(map(str, state.dims))}"
                )
            model = self._model
            vector = self._encoding.submit(encode, model, [request.query], role="query").result()[0]
            try:
                hits, generation = self.store.search(vector, request.k, dim)
            except errors as err:  # a switch mid-search, a database gone away: look again
                log.warning("search failed, looking at the index again: %s", err)
                continue
            if generation == state.generation or hits == []:
                return state, dim, hits
        raise IndexUnavailable("the index is switching or unreachable: try again")

    def _log(
        self,
        request: SearchRequest,
        response: SearchResponse,
        state: IndexState,
        latency_ms: float,
        origin: str,
    ) -> str | None:
        if self.search_log is None or not self.settings.serve.log_searches:
            return None
        try:
            search_id = self.search_log.record(
                LoggedSearch(
                    query=request.query,
                    k=request.k,
                    dim=response.dim,
                    model_version=state.model_version,
                    index_generation=state.generation,
                    chunk_ids=[h.chunk_id for h in response.hits],
                    scores=[h.score for h in response.hits],
                    latency_ms=latency_ms,
                    user=request.user,
                    origin=origin,
                )
            )
        except Exception as err:
            self.log_failures += 1
            log.warning("search not logged (%d failures so far): %s", self.log_failures, err)
            return None
        self.logged += 1
        return search_id

    def health(self) -> dict[str, Any]:
        """What is served now, without waiting for a search or a model load: a readiness
        probe must answer while one runs."""
        state = self.state
        if state is None:  # before the first search: load, once
            with self._lock:
                state = self.state or self.refresh()
        return {
            "status": "ok",
            "model_version": state.model_version,
            "index_size": state.n_chunks,
            "dim": state.dim,
            "dims": list(state.dims),
            "index_backend": self.store.backend,
            "generation": state.generation,
            "updated_at": state.updated_at,
            "search_log": {
                "enabled": self.search_log is not None and self.settings.serve.log_searches,
                "logged": self.logged,
                "failures": self.log_failures,
            },
        }

    def close(self) -> None:
        self._encoding.shutdown(wait=True)
        self.store.close()
        if self.search_log is not None:
            self.search_log.close()
