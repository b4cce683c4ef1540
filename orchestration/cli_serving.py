"""`embedloop search` and `embedloop serve`: the production index, from a shell or HTTP.

Both go through ``embedloop.serving.searcher.Searcher`` with the same ``SearchRequest``
validation, so the CLI refuses what the API answers 422 to (an empty query, k outside
1..100), with the same message and exit status 2. The index is the DuckDB file under the
data directory unless ``$EMBEDLOOP_INDEX_URL`` names a PostgreSQL server.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from embedloop.config import Settings
from embedloop.serving_config import INDEX_URL_ENV


class ServingError(RuntimeError):
    """Printed by the CLI without a traceback (exit 2)."""


def add_commands(sub: Any) -> None:
    search = sub.add_parser("search", help="retrieve chunks from the production index")
    search.add_argument("question", help="what to search for, in your own words")
    search.add_argument("--k", type=int, default=5, help="hits to print, 1 to 100 (default 5)")
    search.add_argument("--dim", type=int, default=None, help="an indexed Matryoshka dim")
    search.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    search.set_defaults(handler=_search)

    serve = sub.add_parser("serve", help="serve the search API (FastAPI on uvicorn)")
    serve.add_argument("--host", default=None, help="bind address (default: serve.host)")
    serve.add_argument("--port", type=int, default=None, help="port (default: serve.port)")
    serve.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    serve.set_defaults(handler=_serve)


def _searcher(settings: Settings) -> Any:
    from embedloop.index.build import IndexTarget
    from embedloop.serving.searcher import Searcher

    try:
        return Searcher(settings, IndexTarget(os.environ.get(INDEX_URL_ENV) or None))
    except LookupError as err:
        raise ServingError(str(err)) from None


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from pydantic import ValidationError

    from embedloop.serving.searcher import SearchInputError, SearchRequest, describe

    try:
        request = SearchRequest(query=args.question, k=args.k, dim=args.dim)
    except ValidationError as err:
        raise ServingError(describe(err)) from None
    searcher = _searcher(settings)
    try:
        response = searcher.search(request)
    except (LookupError, SearchInputError) as err:
        raise ServingError(str(err)) from None
    finally:
        searcher.close()
    for hit in response.hits:
        print(f"{hit.rank}. [{hit.score:.3f}] {hit.heading_path or hit.doc_id}  ({hit.doc_id})")
        print("   " + " ".join(hit.text.split())[:300])
    print(f"(model version {response.model_version}, {response.index_backend} index)")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from embedloop.serving.app import serve

    host = args.host or settings.serve.host
    port = args.port if args.port is not None else settings.serve.port
    if not 1 <= port <= 65535:
        raise ServingError(f"--port must be between 1 and 65535, not {port}")
    searcher = _searcher(settings)
    try:
        print(f"embedloop serve: http://{host}:{port} (POST /search, GET /health)", flush=True)
        serve(searcher, host, port)
    except LookupError as err:
        raise ServingError(str(err)) from None
    finally:
        searcher.close()
    print("embedloop serve: stopped", file=sys.stderr)
    return 0
