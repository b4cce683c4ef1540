"""Local Argilla at 10,000 records: publish and pull throughput, SQL-search latency.

Starts its own stack (SQLite by default, or --database-url for PostgreSQL) in a temporary
directory, publishes review records shaped like embedloop's (384-d query vectors), submits
a response on every record, pulls them back, then times the searches the UI and the
feedback sensor make. Prints a Markdown table.

    python -m bench.argilla_bench [--records 10000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import argilla as rg
import numpy as np
import pandas as pd

from embedloop.review import argilla_io
from services.argilla.stack import config_from_env, start, stop

WORDS = [
    "configure",
    "restart",
    "worker",
    "pipeline",
    "stack",
    "artifact",
    "store",
    "orchestrator",
    "deploy",
    "server",
    "helm",
    "chart",
    "token",
    "secret",
    "cache",
    "model",
    "version",
    "step",
    "run",
    "schedule",
    "sensor",
    "asset",
    "partition",
    "backfill",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def review_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    rows = pd.DataFrame(
        {
            "pair_id": [f"pair-{i:06d}" for i in range(n)],
            "query": [" ".join(rng.choice(words, 6)) for _ in range(n)],
            "passage": [" ".join(rng.choice(words, 120)) for _ in range(n)],
            "heading": "Guide > Section",
            "source": "[Guide](https://docs.example.com/guide)",
            "doc_id": [f"docs:page{i % 400}.md" for i in range(n)],
            "split": rng.choice(["train", "validation", "test"], n, p=[0.7, 0.1, 0.2]),
            "generator": "offline",
            "model": "offline:heading",
            "priority": rng.integers(0, 60, n),
            "chunk_state": "current",
        }
    )
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows, vectors


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://postgres@127.0.0.1/x")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="argilla-bench-") as tmp:
        cfg = config_from_env(
            Path(tmp), port=_free_port(), redis_port=_free_port(), database_url=args.database_url
        )
        started = time.perf_counter()
        start(cfg)
        startup_s = time.perf_counter() - started
        try:
            run(cfg.api_url, cfg.api_key, args, startup_s)
        finally:
            stop(cfg)


def submit_all(
    client: rg.Argilla, dataset: rg.Dataset, rows: pd.DataFrame, batch_size: int
) -> float:
    """Give every record a submitted response, as if a team had reviewed the whole dataset;
    the seconds it took."""
    me = client.me.id
    labels = np.array(argilla_io.LABELS)[np.arange(len(rows)) % 3]
    # Argilla's upsert replaces fields and metadata, so a record is re-sent whole.
    whole = {
        p: argilla_io.to_record(r, None)
        for p, r in zip(rows["pair_id"], rows.to_dict("records"), strict=True)
    }
    started = time.perf_counter()
    for start_at in range(0, len(rows), batch_size):
        batch = rows.iloc[start_at : start_at + batch_size]
        dataset.records.log(
            [
                rg.Record(
                    id=p,
                    fields=whole[p].fields.to_dict(),
                    metadata=whole[p].metadata.to_dict(),
                    responses=[rg.Response("relevance", str(lab), user_id=me, status="submitted")],
                )
                for p, lab in zip(
                    batch["pair_id"], labels[start_at : start_at + batch_size], strict=True
                )
            ],
            batch_size=batch_size,
        )
    return time.perf_counter() - started


def search_cases(
    client: rg.Argilla, dataset: rg.Dataset, vector: list[float]
) -> list[tuple[str, Callable[[], object]]]:
    """The searches the review UI and the sensor make, each a callable returning a count."""
    http = client.api.http_client
    search_url = f"/api/v1/datasets/{dataset.id}/records/search"

    def search(body: dict, **params: object) -> int:
        response = http.post(search_url, params={"limit": 50, **params}, json=body)
        response.raise_for_status()
        return int(response.json()["total"])

    def terms(scope: dict, *values: str) -> dict:
        return {"filters": {"and": [{"type": "terms", "scope": scope, "values": list(values)}]}}

    def progress() -> int:
        return int(http.get(f"/api/v1/datasets/{dataset.id}/progress").json()["total"])

    def sensor_state() -> int:
        return argilla_io.feedback_state(client, "bench", dataset.name).submitted

    split = {"entity": "metadata", "metadata_property": "split"}
    priority = {"entity": "metadata", "metadata_property": "priority"}
    status = {"entity": "response", "property": "status"}
    relevance = {"entity": "response", "question": "relevance"}
    nearest = {"vector": {"name": argilla_io.VECTOR, "value": vector}}
    return [
        ("first page, no filter", lambda: search({})),
        ("metadata terms filter (split = test)", lambda: search(terms(split, "test"))),
        ("sort by priority desc", lambda: search({"sort": [{"scope": priority, "order": "desc"}]})),
        ("response status = submitted", lambda: search(terms(status, "submitted"))),
        ("response value = not_relevant", lambda: search(terms(relevance, "not_relevant"))),
        ("text query (2 terms)", lambda: search({"query": {"text": {"q": "restart worker"}}})),
        ("similarity search, k = 50", lambda: search({"query": nearest})),
        ("dataset progress", progress),
        ("sensor state (all submitted responses)", sensor_state),
    ]


def run(api_url: str, api_key: str, args: argparse.Namespace, startup_s: float) -> None:
    client = rg.Argilla(api_url=api_url, api_key=api_key, timeout=300)
    dataset = argilla_io.ensure_dataset(client, "bench", f"bench-{uuid.uuid4().hex[:6]}", 384)
    rows, vectors = review_frame(args.records)
    index = {p: i for i, p in enumerate(rows["pair_id"])}

    def vectors_for(batch: pd.DataFrame) -> list[list[float] | None]:
        return [vectors[index[p]].tolist() for p in batch["pair_id"]]

    started = time.perf_counter()
    argilla_io.publish(dataset, rows, vectors_for, args.batch_size)
    publish_s = time.perf_counter() - started
    respond_s = submit_all(client, dataset, rows, args.batch_size)

    started = time.perf_counter()
    pulled = argilla_io.fetch_responses(client, dataset)
    pull_s = time.perf_counter() - started
    assert len(pulled) == args.records, f"pulled {len(pulled)} of {args.records} responses"

    cases = search_cases(client, dataset, vectors[0].tolist())
    latencies = [(name, *timed(fn, args.repeat)) for name, fn in cases]

    n = args.records
    print(f"\n## Local Argilla (SQL search engine), {n:,} records, 384-d vectors\n")
    print(f"stack start-up: {startup_s:.1f} s\n")
    print("| operation | seconds | records/s |\n|---|---|---|")
    publish_row = "publish (fields, metadata, suggestion, vector)"
    print(f"| {publish_row} | {publish_s:.1f} | {n / publish_s:,.0f} |")
    print(f"| submit one response per record | {respond_s:.1f} | {n / respond_s:,.0f} |")
    print(f"| pull submitted responses (fetch_responses) | {pull_s:.1f} | {n / pull_s:,.0f} |")
    print(f"\n| search (median of {args.repeat}) | ms | result |\n|---|---|---|")
    for name, ms, result in latencies:
        print(f"| {name} | {ms:,.0f} | {result} |")


if __name__ == "__main__":
    main()
