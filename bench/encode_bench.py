"""Encoding speed: the pipeline's encode paths against a bare ``SentenceTransformer.encode``,
and the inference backends against each other (speed, cosine to torch, nDCG@10), OpenVINO
in float32 (the product's) and in bf16 (what it would compute on a bf16 CPU if not pinned).

Corpus: about ``--chunks`` chunks of the PostgreSQL manual, with the offline generator's
queries. nDCG@10 is measured on that run's synthetic test split (query -> chunk over every
chunk), not on human questions. Every timing is the best of ``--repeats`` runs, the
contenders interleaved, on the same texts, batch size and device (the CPU).

    python -m bench.encode_bench [--chunks 200] [--repeats 2] [--work-dir DIR]
        [--faq-work-dir DIR [--faq-bench debian-faq | gitfaq]]

``--faq-work-dir`` (the work dir of a ``bench.debian_faq_bench`` or ``bench.gitfaq_bench``
run, named by ``--faq-bench``) also compares the backends on real questions: speed over
that corpus (the manual and the FAQ's answers) and nDCG@10 of the FAQ's questions (123 for
Debian, 20 for gitfaq), with a paired bootstrap interval of each backend's difference to
torch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from assets.training_data import candidate_pairs, synthetic_queries
from bench.perf_data import grow_corpus, materialize, read_frames, write_config
from bench.real_questions import Bench
from bench.run_copies import bench_of
from embedloop.config import load_settings
from embedloop.embedding_cache import encode_with_cache
from embedloop.encoders import OpenVINOTransformer, encode
from embedloop.models import load_encoder
from embedloop.review.vectors import QueryVectors
from embedloop.warehouse import CANDIDATE_PAIRS, DOCUMENT_CHUNKS, EMBEDDING_CACHE
from training.data import ir_inputs
from training.evaluation import evaluate_model

BATCH = 64
# openvino-bf16: the openvino backend compiled in bf16, which OpenVINO would pick by itself
# on a CPU with AVX512-BF16 or AMX (the product pins float32; this measures what bf16 buys).
BACKENDS = ("torch", "openvino", "openvino-bf16", "torch-int8")


def bench_encoder(path: str, backend: str, cache_dir: Path) -> Any:
    """The product's encoder for ``backend``, or the openvino one compiled in bf16."""
    if backend != "openvino-bf16":
        return load_encoder(path, backend, cache_dir)
    model = load_encoder(path, "torch").eval()
    model[0].model = OpenVINOTransformer(model[0].model, cache_dir, precision="bf16")
    return model


def best_of(repeats: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best wall time of each callable, the callables interleaved round by round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def path_runs(model_path: str, chunks: list[str], queries: list[str]) -> dict[str, Callable]:
    """Bare encode and each pipeline path, on torch, over the chunk texts."""
    from sentence_transformers import SentenceTransformer

    bare = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    model = load_encoder(model_path, "torch")
    keys = [str(i) for i in range(len(chunks))]
    empty = EMBEDDING_CACHE.empty()
    rows = pd.DataFrame({"pair_id": keys, "query": chunks, "chunk_state": "current"})
    review = QueryVectors(model_path, empty)
    review.dimension()  # loads the model now, outside the timing
    return {
        "bare SentenceTransformer.encode": lambda: bare.encode(
            chunks, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True
        ),
        "embedding_cache (mining, search)": lambda: encode_with_cache(
            model, keys, chunks, empty, "k", BATCH, role="document"
        ),
        "review vectors (QueryVectors)": lambda: review(rows),
        "evaluation (encode_document)": lambda: model.encode_document(
            chunks, batch_size=BATCH, convert_to_tensor=True, show_progress_bar=False
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--faq-work-dir", type=Path, default=None)
    parser.add_argument("--faq-bench", choices=["debian-faq", "gitfaq"], default="debian-faq")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedloop-encode-"))
    config = write_config(work)
    n = grow_corpus(work, config, args.chunks)
    materialize([synthetic_queries, candidate_pairs], config)
    chunks_df, pairs = read_frames(config, DOCUMENT_CHUNKS, CANDIDATE_PAIRS)
    chunks, queries = list(chunks_df["text"]), list(pairs["query"])
    settings = load_settings(config)
    path = settings.model.resolved_base_model()
    print(f"corpus: {n} chunks of the PostgreSQL manual, {len(queries)} queries; batch {BATCH}")

    times = best_of(args.repeats, path_runs(path, chunks, queries))
    bare = times["bare SentenceTransformer.encode"]
    print("\n| encode path (torch, CPU) | chunks/s | time vs bare |\n|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {len(chunks) / seconds:.1f} | {seconds / bare:.3f}x |")
    compare_backends(path, settings.cache_dir, chunks, pairs, chunks_df, args.repeats)
    if args.faq_work_dir:
        work = args.faq_work_dir.resolve()
        compare_on_faq(path, settings.cache_dir, bench_of(args.faq_bench, work), args.repeats)


def compare_backends(
    path: str,
    cache_dir: Path,
    chunks: list[str],
    pairs: pd.DataFrame,
    chunks_df: pd.DataFrame,
    repeats: int,
) -> None:
    models = {b: bench_encoder(path, b, cache_dir) for b in BACKENDS}
    times = best_of(
        repeats,
        {b: partial(encode, m, chunks, BATCH, role="document") for b, m in models.items()},
    )
    vectors = {b: encode(m, chunks, BATCH, role="document") for b, m in models.items()}
    test = ir_inputs(pairs[pairs["split"] == "test"], chunks_df)
    ndcg = {b: evaluate_model(m, test, [384])[384]["ndcg@10"] for b, m in models.items()}
    print(f"\nnDCG@10 on the synthetic test split: {len(test.queries)} queries, "
          f"{len(test.corpus)} chunks")  # fmt: skip
    print("| backend | chunks/s | speed-up vs torch | cosine to torch mean / min | nDCG@10 | "
          "nDCG@10 change |\n|---|---|---|---|---|---|")  # fmt: skip
    for b in BACKENDS:
        cos = (vectors[b] * vectors["torch"]).sum(axis=1)
        change = (ndcg[b] - ndcg["torch"]) / ndcg["torch"] if ndcg["torch"] else 0.0
        speed = f"{len(chunks) / times[b]:.1f} | {times['torch'] / times[b]:.2f}x"
        cosine = f"{np.mean(cos):.5f} / {np.min(cos):.5f}"
        print(f"| {b} | {speed} | {cosine} | {ndcg[b]:.4f} | {change:+.2%} |")


def compare_on_faq(path: str, cache_dir: Path, bench: Bench, repeats: int) -> None:
    """Each backend on a real-question bench's corpus and its questions."""
    from bench.real_questions import corpus_chunks, question_set
    from embedloop.evaluation.bootstrap import paired_bootstrap
    from embedloop.evaluation.scoring import score_sets

    chunks_df = corpus_chunks(bench)
    faq = question_set(bench, chunks_df)
    corpus = dict(zip(chunks_df["chunk_id"], chunks_df["text"], strict=True))
    texts = list(corpus.values())
    models = {b: bench_encoder(path, b, cache_dir) for b in BACKENDS}
    runs = {b: partial(encode, m, texts, BATCH, role="document") for b, m in models.items()}
    times = best_of(repeats, runs)
    scores = {b: score_sets(m, {"faq": faq}, corpus, [384, 128])["faq"] for b, m in models.items()}
    torch_scores = scores["torch"]
    print(f"\n{bench.name}: {len(faq)} real questions over {len(texts)} chunks")
    print("| backend | chunks/s | speed-up vs torch | nDCG@10 @384 | change | 95% CI of Δ | "
          "nDCG@10 @128 |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for b in BACKENDS:
        n384 = scores[b].metrics[384]["ndcg@10"]
        base = torch_scores.metrics[384]["ndcg@10"]
        ci = paired_bootstrap(scores[b].ndcg[384], torch_scores.ndcg[384]).describe()
        speed = f"{len(texts) / times[b]:.1f} | {times['torch'] / times[b]:.2f}x"
        print(f"| {b} | {speed} | {n384:.4f} | {(n384 - base) / base:+.2%} | {ci} | "
              f"{scores[b].metrics[128]['ndcg@10']:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
