"""The search API: FastAPI over a ``Searcher``, served by uvicorn (`embedloop serve`).

``POST /search`` takes ``{"query": ..., "k": 1-100, "dim": null, "user": null}`` and
answers with the hits, the model version that produced them and the ``search_id`` under
which the search log holds it; ``POST /feedback`` takes a searcher's verdict on a hit
(``{"search_id", "chunk_id", "helpful"}``) or on the whole answer (``{"search_id",
"none_helpful": true}``); ``GET /health`` says what is served, without waiting for a search.

The edge, before any endpoint runs (pure ASGI middleware, so it covers ``/docs`` too): a
body over ``serve.max_body_bytes`` is a 413 without being read, and when an API key is set
every path but ``/health`` needs ``Authorization: Bearer <key>`` (401 otherwise, compared
in constant time). FastAPI validates bodies (422 with a message per field); what only the
index can judge (an over-long query, a dim it does not hold) is a 422 too; no index, or a
store or model that cannot be had right now, a 503 whose message names no server path.
Endpoints are plain functions: FastAPI runs them in its thread pool, and the searcher
serializes the model and the store.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from embedloop.index.store import IndexUnavailable
from embedloop.searches.log import NotReturned, UnknownSearch
from embedloop.serving.searcher import (
    MAX_USER_CHARS,
    Searcher,
    SearchInputError,
    SearchRequest,
    SearchResponse,
    clean_text,
)

OPEN_PATHS = frozenset({"/health"})  # answered without the API key (readiness probes)


class FeedbackRequest(BaseModel):
    """A searcher's verdict: on one returned chunk, or that none of them helped."""

    model_config = ConfigDict(extra="forbid")

    search_id: Annotated[str, Field(min_length=1, max_length=64)]
    chunk_id: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    helpful: bool | None = None
    none_helpful: bool = False
    user: Annotated[str | None, Field(max_length=MAX_USER_CHARS)] = None

    @field_validator("search_id", "chunk_id", "user")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        return clean_text(value, "value") if value is not None else None

    @model_validator(mode="after")
    def _one_verdict(self) -> FeedbackRequest:
        if self.none_helpful:
            if self.chunk_id is not None or self.helpful is not None:
                raise ValueError("none_helpful: true takes no chunk_id or helpful")
        elif self.chunk_id is None or self.helpful is None:
            raise ValueError("give chunk_id and helpful, or none_helpful: true")
        return self


class FeedbackResponse(BaseModel):
    search_id: str
    chunk_id: str | None
    recorded: bool = Field(description="false when the same verdict was recorded before")


def create_app(searcher: Searcher, api_key: str | None = None) -> Any:
    app = FastAPI(
        title="embedloop search",
        summary="Retrieve documentation chunks with the production embedding model.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> Response:
        """A 422 per field, without echoing the input: a lone surrogate in it would make
        the error itself unencodable (a 500)."""
        fields = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in err.errors()]
        return ascii_json(422, {"detail": fields})

    @app.post("/search", response_model=SearchResponse)
    def search(request: SearchRequest) -> SearchResponse:
        try:
            return searcher.search(request)
        except SearchInputError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except IndexUnavailable as err:
            raise HTTPException(status_code=503, detail=str(err)) from None

    @app.post("/feedback", response_model=FeedbackResponse)
    def feedback(request: FeedbackRequest) -> FeedbackResponse:
        if searcher.search_log is None or not searcher.settings.serve.log_searches:
            raise HTTPException(404, "search_id: searches are not logged (serve.log_searches)")
        helpful = False if request.none_helpful else bool(request.helpful)
        try:
            changed = searcher.search_log.feedback(
                request.search_id, request.chunk_id, helpful, request.user
            )
        except UnknownSearch as err:
            raise HTTPException(status_code=404, detail=str(err)) from None
        except NotReturned as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except Exception as err:
            searcher.log_failures += 1
            raise HTTPException(503, "the search log cannot be written right now") from err
        return FeedbackResponse(
            search_id=request.search_id, chunk_id=request.chunk_id, recorded=changed
        )

    @app.get("/health")
    def health() -> dict[str, object]:
        try:
            return searcher.health()
        except IndexUnavailable as err:
            raise HTTPException(status_code=503, detail=str(err)) from None

    limit = searcher.settings.serve.max_body_bytes
    return Edge(app, limit, api_key)


class Edge:
    """ASGI middleware: refuse bodies over ``limit`` bytes (413) before reading them, and
    requests without the bearer ``api_key`` (401) when one is set."""

    def __init__(self, app: Any, limit: int, api_key: str | None) -> None:
        self.app, self.limit = app, limit
        self.key = api_key.encode() if api_key else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.key is not None and scope.get("path") not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
                await _reply(send, 401, "a valid API key is required (Authorization: Bearer)")
                return
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _reply(send, 413, f"request body over {self.limit} bytes (serve.max_body_bytes)")
            return
        capped = _Capped(receive, send, self.limit)
        await self.app(scope, capped, capped.send_unless_replied)


class _Capped:
    """``receive`` for a body without a Content-Length to trust: counts the bytes as they
    arrive, and past the limit replies 413 and tells the app the client has gone (whatever
    the app sends after that is dropped: the answer is given)."""

    def __init__(self, receive: Any, send: Any, limit: int) -> None:
        self.receive, self.send, self.limit = receive, send, limit
        self.seen = 0
        self.replied = False

    async def __call__(self) -> Any:
        message = await self.receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                if not self.replied:
                    self.replied = True
                    await _reply(self.send, 413, f"request body over {self.limit} bytes")
                return {"type": "http.disconnect"}
        return message

    async def send_unless_replied(self, message: dict) -> None:
        if not self.replied:
            await self.send(message)


def ascii_json(status: int, content: object) -> Response:
    """JSON with non-ASCII escaped: valid for any Python string, surrogates included."""
    body = json.dumps(content, ensure_ascii=True)
    return Response(body, status_code=status, media_type="application/json")


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def serve(searcher: Searcher, host: str, port: int, api_key: str | None = None) -> None:
    """Load the model once, then serve until interrupted."""
    import uvicorn

    searcher.refresh()  # fail before listening when there is no index
    uvicorn.run(create_app(searcher, api_key), host=host, port=port, log_level="info")
