"""`embedloop search`, `embedloop serve` and `embedloop searches purge`.

Search and serve go through ``embedloop.serving.searcher.Searcher`` with the same
``SearchRequest`` validation, so the CLI refuses what the API answers 422 to (an empty
query, k outside 1..100, control characters), with the same message and exit status 2. The
index is the DuckDB file under the data directory unless ``$EMBEDLOOP_INDEX_URL`` names a
PostgreSQL server; the search log lives beside it (``embedloop.searches.log``), and every
search, from the CLI too, is logged there with the ``search_id`` it prints.

`serve` binds loopback unless told otherwise, and refuses any other address without
``$EMBEDLOOP_API_KEY``: off loopback every chunk's text would be readable by anyone on the
network.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from datetime import UTC, datetime
from typing import Any

from embedloop.config import Settings
from embedloop.serving_config import API_KEY_ENV, INDEX_URL_ENV


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

    searches = sub.add_parser("searches", help="the search log: what people searched")
    searches_sub = searches.add_subparsers(
        dest="searches_command", required=True, help="what to do with the log"
    )
    purge = searches_sub.add_parser(
        "purge", help="delete logged searches (and their feedback) from before a date"
    )
    purge.add_argument("--before", required=True, help="ISO date or time, e.g. 2026-01-31")
    purge.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    purge.set_defaults(handler=_purge)


def _index_url() -> str | None:
    return os.environ.get(INDEX_URL_ENV) or None


def _searcher(settings: Settings) -> Any:
    from embedloop.index.build import IndexTarget
    from embedloop.searches.log import open_search_log
    from embedloop.serving.searcher import Searcher

    search_log = open_search_log(settings.data_dir, _index_url())
    try:
        return Searcher(settings, IndexTarget(_index_url()), search_log)
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
        response = searcher.search(request, origin="cli")
    except (LookupError, SearchInputError) as err:
        raise ServingError(str(err)) from None
    finally:
        searcher.close()
    for hit in response.hits:
        print(f"{hit.rank}. [{hit.score:.3f}] {hit.heading_path or hit.doc_id}  ({hit.doc_id})")
        print("   " + " ".join(hit.text.split())[:300])
    print(f"(model version {response.model_version}, {response.index_backend} index)")
    if response.search_id:
        print(f"search_id {response.search_id} (POST /feedback with it to say what helped)")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from embedloop.serving.app import serve

    host = args.host or settings.serve.host
    port = args.port if args.port is not None else settings.serve.port
    if not 1 <= port <= 65535:
        raise ServingError(f"--port must be between 1 and 65535, not {port}")
    api_key = os.environ.get(API_KEY_ENV) or None
    if api_key is None and not is_loopback(host):
        raise ServingError(
            f"refusing to serve on {host} without an API key: off loopback anyone on the "
            f"network could read every chunk. Set {API_KEY_ENV} (clients send it as "
            "'Authorization: Bearer <key>'), or bind 127.0.0.1"
        )
    searcher = _searcher(settings)
    try:
        print(
            f"embedloop serve: http://{host}:{port} (POST /search, POST /feedback, GET /health"
            f"{'; API key required' if api_key else ''})",
            flush=True,
        )
        serve(searcher, host, port, api_key)
    except LookupError as err:
        raise ServingError(str(err)) from None
    finally:
        searcher.close()
    print("embedloop serve: stopped", file=sys.stderr)
    return 0


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from embedloop.searches.log import open_search_log

    try:
        before = datetime.fromisoformat(args.before)
    except ValueError:
        raise ServingError(f"--before: not an ISO date or time: {args.before!r}") from None
    if before.tzinfo is None:
        before = before.replace(tzinfo=UTC)
    search_log = open_search_log(settings.data_dir, _index_url())
    try:
        deleted = search_log.purge(before)
    finally:
        search_log.close()
    print(
        f"purged {deleted} searches logged before {before.isoformat()} and their feedback; "
        "the search_log asset drops them from the warehouse on its next run"
    )
    return 0
