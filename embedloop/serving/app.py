"""The search API: FastAPI over a ``Searcher``, served by uvicorn (`embedloop serve`).

``POST /search`` takes ``{"query": ..., "k": 1-100, "dim": null}`` and answers with the
hits and the model version that produced them; ``GET /health`` with the model version
and the index size. FastAPI validates the body with ``SearchRequest`` (422 with a message
per field); what only the index can judge (an over-long query, a dim it does not hold) is
a 422 too, and no index (or its model gone) a 503. Endpoints are plain functions: FastAPI
runs them in its thread pool, and the searcher serializes the model and the store.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException

from embedloop.index.store import IndexUnavailable
from embedloop.serving.searcher import Searcher, SearchInputError, SearchRequest, SearchResponse


def create_app(searcher: Searcher) -> FastAPI:
    app = FastAPI(
        title="embedloop search",
        summary="Retrieve documentation chunks with the production embedding model.",
    )

    @app.post("/search", response_model=SearchResponse)
    def search(request: SearchRequest) -> SearchResponse:
        try:
            return searcher.search(request)
        except SearchInputError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        except IndexUnavailable as err:
            raise HTTPException(status_code=503, detail=str(err)) from None

    @app.get("/health")
    def health() -> dict[str, object]:
        try:
            return searcher.health()
        except IndexUnavailable as err:
            raise HTTPException(status_code=503, detail=str(err)) from None

    return app


def serve(searcher: Searcher, host: str, port: int) -> None:
    """Load the model once, then serve until interrupted."""
    import uvicorn

    searcher.refresh()  # fail before listening when there is no index
    uvicorn.run(create_app(searcher), host=host, port=port, log_level="info")
