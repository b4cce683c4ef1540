"""Latency and throughput of the search API over real questions: the Debian FAQ's.

The corpus is the Debian Reference plus the FAQ's answer pages (question headings replaced,
``bench.faq_extract``), ingested and chunked by the pipeline's own assets; the index is the
``production_index`` build (base model, the serving backend) in DuckDB (exact search) and,
when the ``pgserver`` wheel is installed, in PostgreSQL with pgvector (HNSW). Then a real
uvicorn serves ``embedloop.serving.app`` on loopback and an HTTP client sends the FAQ's
questions (cycled to ``--queries``): one at a time for p50/p95 latency, then from
``--clients`` threads for queries/s. A cold `embedloop search` (a new process: imports,
model load, one query) is timed once for comparison.

    apt-get install debian-faq debian-reference-en
    python -m bench.serving_latency [--queries 1000] [--clients 4] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from assets.ingestion import document_chunks, ingest_documents
from bench.common import materialize
from bench.faq_extract import DEBIAN_FAQ, DEBIAN_REFERENCE, extract_debian_faq, require
from embedloop.config import Settings, load_settings
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.models import production_encoder
from embedloop.warehouse import DOCUMENT_CHUNKS, EMBEDDING_CACHE, read_table


def build_corpus(work: Path) -> tuple[Path, list[str]]:
    reference = require(DEBIAN_REFERENCE / "ch01.en.html", "debian-reference-en").parent
    questions = extract_debian_faq(DEBIAN_FAQ, work / "faq")
    config = work / "embedloop.yaml"
    sources = [
        {"kind": "local", "name": "debian-reference", "path": str(reference),
         "include": ["*.en.html"], "exclude": ["index.en.html"]},
        {"kind": "local", "name": "debian-faq", "path": str(work / "faq")},
    ]  # fmt: skip
    raw = {"data_dir": "data", "sources": sources, "training": {"max_seq_length": 128}}
    config.write_text(yaml.safe_dump(raw))
    materialize([ingest_documents, document_chunks], config)
    return config, [q.question for q in questions]


def build_index(settings: Settings, target: IndexTarget) -> dict[str, Any]:
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
    store = target.open(settings)
    try:
        update = refresh_index(
            store, chunks, production_encoder(settings), settings, EMBEDDING_CACHE.empty()
        )
    finally:
        store.close()
    return {"chunks": update.state.n_chunks, "build_s": round(update.seconds, 1)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_in_thread(settings: Settings, target: IndexTarget) -> tuple[Any, str]:
    import uvicorn

    from embedloop.serving.app import create_app
    from embedloop.serving.searcher import Searcher

    searcher = Searcher(settings, target)
    searcher.refresh()  # the model loads before the clock starts, as `embedloop serve` does
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(searcher), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def measure(url: str, questions: list[str], n: int, clients: int) -> dict[str, float]:
    import httpx

    queries = [questions[i % len(questions)] for i in range(n)]
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in queries[:20]:  # warm-up
            client.post("/search", json={"query": q, "k": 10}).raise_for_status()
        latencies = []
        started = time.perf_counter()
        for q in queries:
            t = time.perf_counter()
            client.post("/search", json={"query": q, "k": 10}).raise_for_status()
            latencies.append((time.perf_counter() - t) * 1000)
        sequential_s = time.perf_counter() - started

    local = threading.local()  # one keep-alive connection per client thread

    def one(q: str) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=30)
        local.client.post("/search", json={"query": q, "k": 10}).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, queries))
    parallel_s = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": round(cuts[49], 1),
        "p95_ms": round(cuts[94], 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "qps_1_client": round(n / sequential_s, 1),
        f"qps_{clients}_clients": round(n / parallel_s, 1),
    }


def cold_cli(config: Path, question: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(Path(sys.executable).parent / "embedloop"), "--config", str(config), "search",
         question, "--k", "5"],
        check=True, capture_output=True, env={**os.environ, "EMBEDLOOP_INDEX_URL": ""},
    )  # fmt: skip
    return round(time.perf_counter() - started, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    config, questions = build_corpus(work)
    settings = load_settings(config)
    targets: dict[str, IndexTarget] = {"duckdb": IndexTarget(None)}
    try:
        import pgserver

        pg = pgserver.get_server(work / "pg", cleanup_mode="delete")
        targets["pgvector"] = IndexTarget(str(pg.get_uri()))
    except ImportError:
        print("pgserver not installed: DuckDB only", file=sys.stderr)
    report: dict[str, Any] = {"questions": len(questions), "queries": args.queries}
    for name, target in targets.items():
        report[name] = build_index(settings, target)
        server, url = serve_in_thread(settings, target)
        report[name].update(measure(url, questions, args.queries, args.clients))
        server.should_exit = True
    report["cold_cli_search_s"] = cold_cli(config, questions[0])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
