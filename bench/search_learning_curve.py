"""Does the loop learn from the people who search? A learning curve on the Debian FAQ.

The FAQ's 123 questions are split by answer page into an *asked* half and a *held-out*
half. The loop runs as a team would run it: the Debian Reference and the FAQ's answer pages
(question headings neutralized, ``bench.faq_extract``) are the corpus, no question file is
configured, and the synthetic-only model is trained, gated and served. Then, batch by
batch, the asked questions go to the real search API (``embedloop serve`` in its own
process, on loopback); ``search_publication_job`` copies the log and publishes the
searches to a real local Argilla; a scripted annotator judges every shown passage through
Argilla's API from the ground truth (a passage answers when it is one of the question's
answer chunks; when none is, the search is counted as one it could not judge);
``retraining_job`` pulls the judgments, trains and lets the gate decide (a batch whose
searches all went to the evaluation set changes no training data, so it is not retrained);
``production_index_job`` follows a promotion. After each batch the held-out half is scored
with the base model, the synthetic-only model and the model the API serves, and after a
retraining also with its candidate, whether or not the gate promoted it (did the searches
teach it anything, and did the gate see it?).

The held-out questions are never configured, searched or judged: nothing tunes on them.

    apt-get install debian-faq debian-reference-en
    python -m bench.search_learning_curve [--train-minutes 30] [--batches 15,30,60]
        [--work-dir DIR] [--set KEY=YAML ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import yaml

from bench.common import free_port
from bench.debian_faq_bench import setup as debian_setup
from bench.faq_extract import Question, write_question_file
from bench.real_questions import (
    QUIET,
    Bench,
    add_overrides,
    apply_overrides,
    corpus_chunks,
    evaluate,
    fresh_work_dir,
    question_set,
    run_job,
    seconds_per_step,
)
from embedloop.config import load_settings
from embedloop.models import production_model_path
from embedloop.reports import lines_png

K = 5  # hits per search: argilla.search_passages' default, so every hit is judged
DIMS = [384, 128]


def split_by_page(questions: list[Question], seed: int) -> tuple[list[Question], list[Question]]:
    """Asked and held-out halves, whole answer pages each (a page's questions share words)."""
    pages = sorted({q.document for q in questions})
    random.Random(seed).shuffle(pages)
    asked_pages: set[str] = set()
    for page in pages:
        if sum(q.document in asked_pages for q in questions) >= len(questions) / 2:
            break
        asked_pages.add(page)
    asked = [q for q in questions if q.document in asked_pages]
    return asked, [q for q in questions if q.document not in asked_pages]


class Api:
    """`embedloop serve` in its own process, as people reach it."""

    def __init__(self, config: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = (config.parent / "serve.log").open("w")
        command = ["orchestration.cli", "--config", str(config), "serve", "--port", str(port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise SystemExit(f"embedloop serve did not come up: see {self.log.name}")

    def search(self, query: str) -> None:
        response = httpx.post(f"{self.url}/search", json={"query": query, "k": K}, timeout=120)
        response.raise_for_status()

    def version(self) -> str:
        return str(httpx.get(f"{self.url}/health", timeout=10).json()["model_version"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


class Annotator:
    """Judges every published search not judged yet, from the ground truth, in Argilla."""

    def __init__(self, config: Path, owner: Any, relevant: dict[str, set[str]]) -> None:
        self.config, self.owner, self.relevant = config, owner, relevant
        self.judged: set[str] = set()

    def judge(self) -> dict[str, int]:
        settings = load_settings(self.config)
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
            rows = conn.execute(
                "SELECT record_id, query, chunk_ids, role FROM search_records"
            ).fetchall()
        cfg = settings.argilla
        dataset = self.owner.datasets(name=cfg.search_dataset, workspace=cfg.workspace)
        server_id = {r.id: str(r._server_id) for r in dataset.records(with_responses=False)}
        counts = {"judged": 0, "train": 0, "answer_among_hits": 0, "answer_not_among_hits": 0}
        items = []
        for record_id, query, chunk_ids, role in rows:
            if record_id in self.judged or query not in self.relevant:
                continue
            labels = {
                f"judge_{i}": {"value": "answers" if c in self.relevant[query] else "does_not"}
                for i, c in enumerate(chunk_ids, start=1)
            }
            found = any(v["value"] == "answers" for v in labels.values())
            counts["judged"] += 1
            counts["train"] += role == "train"
            counts["answer_among_hits" if found else "answer_not_among_hits"] += 1
            items.append(
                {"record_id": server_id[record_id], "status": "submitted", "values": labels}
            )
            self.judged.add(record_id)
        for start in range(0, len(items), 50):
            batch = {"items": items[start : start + 50]}
            self.owner.api.http_client.post(
                "/api/v1/me/responses/bulk", json=batch
            ).raise_for_status()
        return counts


class CurveRun:
    """The loop on the bench's corpus, one batch of searches at a time."""

    def __init__(self, work: Path, args: argparse.Namespace, stack: Any) -> None:
        source, pages, questions = debian_setup(work)
        self.asked, heldout = split_by_page(questions, args.seed)
        self.config = work / "train" / "embedloop.yaml"
        self.args, self.stack = args, stack
        self._write_config(source, pages, args.max_steps)
        self.bench = Bench("debian-faq", work, source, pages, heldout)
        self.rows: list[dict[str, Any]] = []
        self.coverage: list[dict[str, int]] = []
        self.source, self.pages = source, pages

    def _write_config(self, source: dict[str, Any], pages: Path, steps: int | None) -> None:
        answers = {"kind": "local", "name": "debian-faq", "path": str(pages), "include": ["*.html"]}
        raw: dict[str, Any] = {
            "data_dir": str(self.config.parent / "data"),
            "sources": [source, answers],
            "argilla": {"api_url": self.stack.api_url, "search_sample_size": 1000},
        }
        if steps:
            raw["training"] = {"max_steps": steps, "max_minutes": None}
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(yaml.safe_dump(raw, sort_keys=False))
        apply_overrides(self.config, self.args.overrides)

    def synthetic_only(self) -> str:
        """Ingest, generate, calibrate the budget, train and serve the first model."""
        run_job(self.config, "ingestion_job")
        run_job(self.config, "training_data_job")
        steps = self.args.max_steps
        if steps is None:
            cpu, _ = seconds_per_step(self.config)
            steps = max(1, int(self.args.train_minutes * 60 / cpu))
            self._write_config(self.source, self.pages, steps)
        print(f"training budget: {steps} steps per run", flush=True)
        first = run_job(self.config, "training_job")
        run_job(self.config, "production_index_job")
        return str(first["finetuned_embedding_model"]["export_dir"])

    def score_sets(self) -> None:
        write_question_file(self.bench.questions, self.bench.question_file)
        chunks = corpus_chunks(self.bench)
        self.corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
        self.held = question_set(self.bench, chunks)
        asked_file = self.bench.work / "asked.questions.jsonl"
        write_question_file(self.asked, asked_file)
        asked = question_set(Bench("asked", self.bench.work, {}, self.pages, self.asked), chunks)
        self.relevant = {asked.queries[q]: asked.relevant[q] for q in asked.queries}

    def score(self, asked: int, name: str, model: str, note: str = "") -> dict[int, float]:
        scores = evaluate(model, self.held, self.corpus, DIMS)
        ndcg = {d: float(scores.metrics[d]["ndcg@10"]) for d in DIMS}
        row = {
            "asked": asked,
            "model": name,
            **{f"ndcg@10@{d}": round(v, 4) for d, v in ndcg.items()},
        }
        self.rows.append({**row, "note": note} if note else row)
        print(json.dumps(self.rows[-1]), flush=True)
        return ndcg

    def batch(self, api: Api, annotator: Annotator, sent: int, target: int) -> int:
        for question in self.asked[sent:target]:
            api.search(question.question)
        run_job(self.config, "search_publication_job")
        counts = annotator.judge()
        asked = min(target, len(self.asked))
        self.coverage.append({"asked": asked, **counts})
        print(json.dumps(self.coverage[-1]), flush=True)
        if counts["train"] == 0:  # every new search evaluates: the training data is unchanged
            pull_judgments(self.config)  # what the next publication's roles are decided from
            served = production_model_path(load_settings(self.config))
            note = "no new train-role searches (all evaluate): no retraining, served unchanged"
            self.score(asked, "served", served, note)
            return asked
        meta = run_job(self.config, "retraining_job")
        run_job(self.config, "production_index_job")
        evaluation, splits = meta["embedding_evaluation"], meta["training_splits"]
        verdict = "promoted" if evaluation["promoted"] else "not promoted"
        note = (
            f"v{evaluation['model_version']} {verdict} ({evaluation['reason']}); "
            f"{splits.get('search_pairs')} search pairs from "
            f"{splits.get('judged_searches')} judged searches; API serves v{api.version()}"
        )
        # The candidate whether or not the gate took it: did the searches teach it anything?
        candidate = str(meta["finetuned_embedding_model"]["export_dir"])
        self.score(asked, "candidate", candidate, f"v{evaluation['model_version']}")
        served = production_model_path(load_settings(self.config))
        self.score(asked, "served", served, note)
        return asked


def pull_judgments(config: Path) -> None:
    """Materialize ``search_judgments`` alone, as the feedback sensor's run would."""
    from orchestration.definitions import build_definitions

    job = build_definitions(config).resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        run_config=QUIET, asset_selection=[dg.AssetKey("search_judgments")]
    )
    if not result.success:
        raise SystemExit(f"pulling search_judgments failed ({config}); see the Dagster log")


def report(run: CurveRun, png: Path) -> None:
    print("\nheld-out half, nDCG@10 at " + " / ".join(map(str, DIMS)))
    for row in run.rows:
        dims = " / ".join(f"{row[f'ndcg@10@{d}']:.4f}" for d in DIMS)
        print(f"{row['asked']:>4} asked  {row['model']:<15} {dims}  {row.get('note', '')}")
    synth = next(r for r in run.rows if r["model"] == "synthetic-only")
    for row in run.rows:
        if row["model"] in ("served", "candidate") and row["asked"]:
            gains = [
                f"{d}: {100 * (row[f'ndcg@10@{d}'] / synth[f'ndcg@10@{d}'] - 1):+.1f}%"
                for d in DIMS
            ]
            print(
                f"after {row['asked']} asked, {row['model']} vs synthetic-only: {', '.join(gains)}"
            )
    print("\nthe scripted annotator (searches whose answer was not among the hits):")
    for c in run.coverage:
        print(json.dumps(c))
    served = [r for r in run.rows if r["model"] == "served"]
    xs = [r["asked"] for r in served]
    series: dict[str, list[tuple[float, float]]] = {}
    for d in DIMS:
        series[f"served @{d}"] = [(x, r[f"ndcg@10@{d}"]) for x, r in zip(xs, served, strict=True)]
        candidates = [r for r in run.rows if r["model"] == "candidate"]
        if candidates:
            series[f"candidate @{d}"] = [(r["asked"], r[f"ndcg@10@{d}"]) for r in candidates]
        for name in ("synthetic-only", "base"):
            value = next(r for r in run.rows if r["model"] == name)[f"ndcg@10@{d}"]
            series[f"{name} @{d}"] = [(x, value) for x in xs]
    png.write_bytes(
        lines_png(series, "Held-out Debian FAQ questions", "questions asked", "nDCG@10")
    )
    (png.with_suffix(".json")).write_text(
        json.dumps({"rows": run.rows, "coverage": run.coverage}, indent=1)
    )
    print(f"curve: {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=None, help="emptied and reused")
    parser.add_argument("--train-minutes", type=float, default=30.0, help="CPU-minutes a run")
    parser.add_argument("--max-steps", type=int, default=None, help="skip the calibration")
    parser.add_argument("--batches", default="15,30,60", help="cumulative questions asked")
    parser.add_argument("--seed", type=int, default=0, help="which answer pages are asked")
    add_overrides(parser, "feedback.min_eval_searches=10")
    args = parser.parse_args()
    from services.argilla.stack import config_from_env, start, stop

    work = fresh_work_dir(args.work_dir, "search-curve")
    stack = config_from_env(work / "argilla", port=free_port(), redis_port=free_port())
    start(stack)
    os.environ["ARGILLA_API_KEY"] = stack.api_key  # the jobs' Argilla resource, as a team sets it
    api = None
    try:
        import argilla as rg

        run = CurveRun(work, args, stack)
        print(f"{len(run.asked)} questions to ask, {len(run.bench.questions)} held out", flush=True)
        synthetic = run.synthetic_only()
        run.score_sets()
        settings = load_settings(run.config)
        run.score(0, "base", settings.model.resolved_base_model())
        run.score(0, "synthetic-only", synthetic)
        run.score(0, "served", production_model_path(settings), "after the synthetic-only run")
        owner = rg.Argilla(api_url=stack.api_url, api_key=stack.api_key)
        annotator = Annotator(run.config, owner, run.relevant)
        api = Api(run.config)
        sent = 0
        for target in (int(b) for b in args.batches.split(",")):
            sent = run.batch(api, annotator, sent, target)
        report(run, work / "search_learning_curve.png")
    finally:
        if api is not None:
            api.stop()
        stop(stack)


if __name__ == "__main__":
    main()
