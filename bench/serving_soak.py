"""The serving edge under a months-in-a-day soak: 8 clients against a real `embedloop
serve` on PostgreSQL + pgvector while the index is promoted, rolled back and rebuilt twice
and PostgreSQL is restarted once.

The corpus is a few hundred docstrings of the Python standard library (always at hand);
the models are the base model and two copies of it saved with query/passage prompts (other
vectors from the same weights, as a promoted version's would be), switched in the way the
promotion step leaves them on disk (``<data_dir>/models/<n>`` and ``production``) and
indexed with the product's own ``refresh_index``. Every answer is counted by status (200,
or 503 during the restart; never a 500); for every (query, model version) answered, the
top hit's score is recomputed offline with that version's model, so a search that mixed
one model's query vector with another's index shows as a mismatch; the server's RSS is
sampled throughout.

    python -m bench.serving_soak [--minutes 10] [--clients 8] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import pydoc
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from bench.common import free_port
from bench.real_questions import fresh_work_dir
from embedloop.config import Settings, load_settings
from embedloop.encoders import encode
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.models import MODEL_MARKER, production_encoder
from embedloop.serving_config import INDEX_URL_ENV
from embedloop.warehouse import EMBEDDING_CACHE

MODULES = ["json", "csv", "pathlib", "shutil", "subprocess", "argparse", "logging", "sqlite3"]
QUERIES = [
    "how do I parse a JSON string",
    "write rows to a CSV file",
    "copy a directory tree",
    "run a command and capture its output",
    "define a command line option with a default",
    "log a warning message to a file",
    "open a database connection",
    "join two paths",
    "read a file's text",
    "remove a directory and everything in it",
]


def stdlib_chunks() -> pd.DataFrame:
    rows = []
    for module_name in MODULES:
        module = __import__(module_name)
        for name, member in inspect.getmembers(module):
            doc = inspect.getdoc(member) if not name.startswith("_") else None
            if doc and len(doc) > 80:
                text = f"{module_name}.{name}\n{pydoc.splitdoc(doc)[1] or doc}"[:1200]
                rows.append((f"{module_name}.{name}", f"stdlib:{module_name}", name, text))
    frame = pd.DataFrame(rows, columns=["chunk_id", "doc_id", "heading_path", "text"])
    return frame.drop_duplicates("chunk_id").assign(position=range(len(frame)))


class Models:
    """The base model and two prompted copies, put in production the promotion step's way."""

    def __init__(self, settings: Settings, work: Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.settings = settings
        self.saved: dict[str, Path] = {}
        base = settings.model.resolved_base_model()
        for version, prompts in (("2", "query: "), ("3", "search: ")):
            target = work / f"model-{version}"
            model = SentenceTransformer(
                base, device="cpu", prompts={"query": prompts, "document": "passage: "}
            )
            model.save(str(target), create_model_card=False)
            self.saved[version] = target

    def promote(self, version: str) -> None:
        models = self.settings.data_dir / "models"
        for target in (models / version, models / "production"):
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(self.saved[version], target)
            (target / MODEL_MARKER).write_text(
                json.dumps({"model_name": "soak", "version": int(version)})
            )

    def back_to_base(self) -> None:
        shutil.rmtree(self.settings.data_dir / "models" / "production", ignore_errors=True)


def reindex(settings: Settings, target: IndexTarget, chunks: pd.DataFrame) -> str:
    store = target.open(settings)
    try:
        update = refresh_index(
            store, chunks, production_encoder(settings), settings, EMBEDDING_CACHE.empty()
        )
    finally:
        store.close()
    return f"{update.mode} v{update.state.model_version}"


class Clients:
    """``n`` threads searching until told to stop; every answer recorded."""

    def __init__(self, url: str, n: int) -> None:
        self.url, self.stop = url, threading.Event()
        self.answers: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)
        ]

    def _loop(self, seed: int) -> None:
        with httpx.Client(timeout=60) as client:
            i = seed
            while not self.stop.is_set():
                query = QUERIES[i % len(QUERIES)]
                i += 1
                status: int | str
                try:
                    response = client.post(f"{self.url}/search", json={"query": query, "k": 3})
                    body = response.json() if response.status_code == 200 else {}
                    status = response.status_code
                except httpx.HTTPError as err:
                    status, body = type(err).__name__, {}
                with self.lock:
                    self.answers.append({"status": status, "query": query, **_top(body)})

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)


def _top(body: dict[str, Any]) -> dict[str, Any]:
    if not body.get("hits"):
        return {}
    hit = body["hits"][0]
    return {"version": body["model_version"], "chunk": hit["chunk_id"], "score": hit["score"]}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def mismatches(
    answers: list[dict[str, Any]], chunks: pd.DataFrame, models: dict[str, str]
) -> tuple[int, int]:
    """Answers whose top score is not what their model version gives: (checked, wrong)."""
    from sentence_transformers import SentenceTransformer

    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    seen = {(a["query"], a["version"], a["chunk"]): a["score"] for a in answers if "version" in a}
    wrong = 0
    for version, path in models.items():
        model = SentenceTransformer(path, device="cpu")
        for (query, v, chunk), score in seen.items():
            if v != version:
                continue
            q = encode(model, [query], role="query")[0]
            d = encode(model, [text[chunk]], role="document")[0]
            wrong += abs(float(np.dot(q, d)) - score) > 2e-3
    return len(seen), wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    import pgserver

    work = fresh_work_dir(args.work_dir, "serving-soak")
    pg = pgserver.get_server(work / "pg", cleanup_mode="stop")
    pg.psql('CREATE DATABASE "soak";')
    url = str(pg.get_uri("soak"))
    config = work / "embedloop.yaml"
    raw = {"data_dir": str(work / "data"), "model": {"backend": "torch"}}
    config.write_text(yaml.safe_dump({**raw, "training": {"matryoshka_dims": [384, 128]}}))
    settings = load_settings(config)
    target = IndexTarget(url)
    chunks = stdlib_chunks()
    models = Models(settings, work)
    print(f"{len(chunks)} chunks; index {reindex(settings, target, chunks)}", flush=True)
    events = _schedule(args.minutes * 60, settings, target, chunks, models, pg)
    server, base_url = _serve(config, url, work)
    try:
        answers, rss = _soak(base_url, server.pid, args, events)
    finally:
        server.terminate()
        server.wait(30)
        pg.cleanup()
    _report(answers, rss, chunks, settings, models)


def _serve(config: Path, url: str, work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`embedloop serve` on the index database, in its own process."""
    port = free_port()
    log = (work / "serve.log").open("w")
    command = ["orchestration.cli", "--config", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", *command],
        env={**os.environ, INDEX_URL_ENV: url},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    _wait(base_url, server)
    return server, base_url


def _soak(
    url: str, pid: int, args: argparse.Namespace, events: list[tuple[float, str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[float, float]]]:
    """Clients search while the events happen on schedule; the server's RSS sampled."""
    rss: list[tuple[float, float]] = []
    started = time.monotonic()
    done: set[str] = set()
    with Clients(url, args.clients) as clients:
        while time.monotonic() - started < args.minutes * 60:
            elapsed = time.monotonic() - started
            rss.append((elapsed, rss_mib(pid)))
            for at, name, action in events:
                if elapsed >= at and name not in done:
                    done.add(name)
                    print(f"{elapsed:6.0f} s  {name}: {action()}", flush=True)
            time.sleep(2)
    return clients.answers, rss


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit("embedloop serve did not come up: see serve.log")


def _schedule(
    total: float,
    settings: Settings,
    target: IndexTarget,
    chunks: pd.DataFrame,
    models: Models,
    pg: Any,
) -> list[tuple[float, str, Any]]:
    from pgserver import _commands

    def promote(version: str) -> Any:
        def action() -> str:
            models.promote(version)
            return reindex(settings, target, chunks)

        return action

    def rollback() -> str:
        models.back_to_base()
        return reindex(settings, target, chunks)

    def rebuild_dims() -> str:  # the same model at other dims: a rebuild beside the live one
        changed = settings.model_copy(
            update={"index": settings.index.model_copy(update={"matryoshka": False})}
        )
        store = target.open(changed)
        try:
            update = refresh_index(
                store, chunks, production_encoder(changed), changed, EMBEDDING_CACHE.empty()
            )
        finally:
            store.close()
        return f"{update.mode} ({update.reason})"

    def restart() -> str:
        stop = _commands.pg_ctl  # type: ignore[attr-defined]  # made at import, per executable
        stop(["-w", "-m", "fast", "stop"], pgdata=pg.pgdata, user=pg.system_user)
        time.sleep(3)
        pg.ensure_postgres_running()
        return "PostgreSQL stopped 3 s and started again"

    step = total / 7
    return [
        (1 * step, "promote v2", promote("2")),
        (2 * step, "roll back to base", rollback),
        (3 * step, "promote v3", promote("3")),
        (4 * step, "rebuild (dims change)", rebuild_dims),
        (5 * step, "restart PostgreSQL", restart),
        (6 * step, "rebuild (promote v2 again)", promote("2")),
    ]


def _report(
    answers: list[dict[str, Any]],
    rss: list[tuple[float, float]],
    chunks: pd.DataFrame,
    settings: Settings,
    models: Models,
) -> None:
    statuses = Counter(str(a["status"]) for a in answers)
    print(
        f"\n{len(answers)} answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    )
    versions = Counter(a.get("version") for a in answers if "version" in a)
    print(
        "answered by model version: " + ", ".join(f"{k}: {v}" for k, v in sorted(versions.items()))
    )
    paths = {
        "base": settings.model.resolved_base_model(),
        **{v: str(p) for v, p in models.saved.items()},
    }
    checked, wrong = mismatches(answers, chunks, paths)
    print(
        f"vector check: {checked} distinct (query, version, top hit) answers rescored "
        f"offline, {wrong} of another model's vectors"
    )
    warm = [m for t, m in rss if t > 30]
    if warm:
        tenths = [warm[min(len(warm) - 1, i * len(warm) // 10)] for i in range(11)]
        print("server RSS by tenth of the run (MiB): " + " ".join(f"{m:.0f}" for m in tenths))
        print(
            f"server RSS: {warm[0]:.0f} MiB after warm-up, {max(warm):.0f} MiB peak, "
            f"{warm[-1]:.0f} MiB at the end"
        )


if __name__ == "__main__":
    main()
