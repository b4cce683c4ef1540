"""Start the Argilla API server or its rq worker with the SQL search engine registered.

The server looks engines up by name in a class registry filled at import time, so each
process must import ``sqlsearch.engine`` before Argilla reads ``ARGILLA_SEARCH_ENGINE``:

    python -m sqlsearch.launch server --host 127.0.0.1 --port 6900
    python -m sqlsearch.launch worker
"""

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sqlsearch.launch")
    sub = parser.add_subparsers(dest="process", required=True)
    server = sub.add_parser("server", help="the API server and web UI")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=6900)
    worker = sub.add_parser("worker", help="the background job worker (rq)")
    worker.add_argument("--num-workers", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("ARGILLA_SEARCH_ENGINE", "sql")
    from sqlsearch import engine  # noqa: F401  (registers the engine)

    if args.process == "server":
        import uvicorn
        from argilla_server import app

        uvicorn.run(app, host=args.host, port=args.port, access_log=False)
    else:
        # Workers are forked from this process, so they inherit the registration.
        from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
        from rq.worker_pool import WorkerPool

        WorkerPool(
            connection=REDIS_CONNECTION,
            queues=[DEFAULT_QUEUE.name, HIGH_QUEUE.name],
            num_workers=args.num_workers,
        ).start()


if __name__ == "__main__":
    main()
