"""Offline queries before → after on the demo corpus: copies of the evaluated chunk, and what
annotators see first.

"Before" is the generator and filters of commit BASE (read with ``git show``); "after" is
the current tree (generation, screening with the base-model round trip, then the same
candidate filters as ``candidate_pairs``). For the test split of each it prints the share of
queries that are verbatim in the exact chunk text they are scored against, and the share
whose every content word is in it, measured two ways: with ``embedloop.pairs.terms`` (what
the filter uses) and with a plain measure independent of it (``\\w+`` words, scikit-learn's
English stop words, no stemming). Then the first 15 queries of the review queue (all
splits, least certain first: the base model's rank of the positive, descending).

    python -m bench.query_quality_bench [--modules argparse,json,...]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

os.environ["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "1")
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from embedloop.chunking.chunker import chunk_document, dedupe_chunks
from embedloop.chunking.incremental import chunker_for
from embedloop.config import PythonStdlibSource, Settings, load_settings
from embedloop.embedding_cache import encode_with_cache
from embedloop.ingestion.parsers import parse_document
from embedloop.ingestion.sources import RawFile, scan_source
from embedloop.pairs.filters import copy_kind, copy_mask, duplicate_mask, length_mask
from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.incremental import section_neighbours
from embedloop.pairs.roundtrip import base_encoder, rank_positives
from embedloop.pairs.screen import screen_pairs
from embedloop.splits import split_of
from embedloop.warehouse import EMBEDDING_CACHE

BASE = "b3ab7babea0056e0b806601fe88a988f02e1d9c5"  # the generator annotators complained about
ROOT = Path(__file__).resolve().parents[1]


def demo_chunks(settings: Settings, modules: list[str] | None) -> tuple[pd.DataFrame, dict]:
    source = next(s for s in settings.sources if isinstance(s, PythonStdlibSource))
    if modules:
        source = source.model_copy(update={"modules": modules})
    counter, params = chunker_for(settings)
    rows, titles = [], {}
    for raw in scan_source(source, settings.cache_dir, settings.ingestion.max_file_bytes):
        if not isinstance(raw, RawFile):
            continue
        doc = parse_document(raw.data, raw.format, raw.relpath)
        doc_id = f"{raw.source}:{raw.relpath}"
        titles[doc_id] = doc.title
        rows += [
            (doc_id, c)
            for c in chunk_document(
                doc.text, counter, params.max_tokens, params.overlap_tokens,
                params.min_tokens, title=doc.title,
            )
        ]  # fmt: skip
    chunks = pd.DataFrame([c.__dict__ for c in dedupe_chunks(rows)])
    return chunks.drop(columns="doc_ids"), titles


def _module_at_base(path: str, name: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BASE}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def before_pairs(chunks: pd.DataFrame, titles: dict, settings: Settings) -> pd.DataFrame:
    """The old generator with its old filters (copy check against the stripped positive)."""
    offline = _module_at_base("embedloop/pairs/offline.py", "offline_before")
    filters = _module_at_base("embedloop/pairs/filters.py", "filters_before")
    rows = [
        {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "query": q.query, "positive": q.passage,
         "model": f"offline:{q.strategy}"}
        for c in chunks.itertuples(index=False)
        for q in offline.pseudo_queries(
            c.text, c.heading_path, titles[c.doc_id], settings.synthetic.queries_per_chunk,
            settings.synthetic.offline_strategies,
        )
    ]  # fmt: skip
    pairs = pd.DataFrame(rows)
    fs = settings.filters
    for keep in (
        lambda df: filters.length_mask(df, fs),
        lambda df: filters.copy_mask(df, fs),
        filters.duplicate_mask,
    ):
        pairs = pairs[keep(pairs)].reset_index(drop=True)
    return pairs


def after_pairs(chunks: pd.DataFrame, titles: dict, settings: Settings, encoder) -> pd.DataFrame:
    """Generation, screening (copies, base-model round trip), then the candidate filters."""
    neighbours = section_neighbours(chunks)
    report = generate_pairs(
        [
            ChunkForGeneration(c.chunk_id, c.text, c.heading_path, titles[c.doc_id],
                               neighbours.get(c.chunk_id, ()))
            for c in chunks.itertuples(index=False)
        ],
        settings.synthetic,
        settings.cache_dir,
    )  # fmt: skip
    doc = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
    pairs = pd.DataFrame(
        [
            {"pair_id": f"p{i}", "chunk_id": p.chunk_id, "doc_id": doc[p.chunk_id],
             "query": p.query, "positive": p.positive, "model": p.model}
            for i, p in enumerate(report.pairs)
        ]
    )  # fmt: skip
    screened = screen_pairs(
        pairs, chunks, settings.filters, lambda: encoder, EMBEDDING_CACHE.empty(), settings.splits
    )
    print_strategy_table(screened.strategy_table())
    pairs = screened.kept
    fs = settings.filters
    for keep in (
        lambda df: length_mask(df, fs),
        lambda df: copy_mask(df, fs, settings.splits),
        duplicate_mask,
    ):
        pairs = pairs[keep(pairs)].reset_index(drop=True)
    return pairs


def print_strategy_table(rows: list[dict]) -> None:
    print("\nafter: screening per strategy (all splits)")
    print(pd.DataFrame(rows).to_string(index=False))


def _plain_words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", text.lower()) if w not in ENGLISH_STOP_WORDS}


def copy_rates(pairs: pd.DataFrame, text: dict[str, str]) -> dict[str, str]:
    kinds = [copy_kind(q, text[c]) for q, c in zip(pairs["query"], pairs["chunk_id"], strict=True)]
    plain_verbatim = [
        " ".join(re.findall(r"\w+", q.lower())) in " ".join(re.findall(r"\w+", text[c].lower()))
        for q, c in zip(pairs["query"], pairs["chunk_id"], strict=True)
    ]
    plain_all = [
        _plain_words(q) <= _plain_words(text[c])
        for q, c in zip(pairs["query"], pairs["chunk_id"], strict=True)
    ]
    n = len(pairs)

    def share(flags: list[bool]) -> str:
        return f"{sum(flags)} of {n} ({sum(flags) / n:.0%})" if n else "0 of 0"

    return {
        "verbatim (terms)": share([k == "verbatim" for k in kinds]),
        "all content words (terms)": share([k is not None for k in kinds]),
        "verbatim (plain)": share(plain_verbatim),
        "all content words (plain)": share(plain_all),
    }


def review_queue(pairs: pd.DataFrame, chunks: pd.DataFrame, encoder, cache) -> list[str]:
    """First 15 queries by priority: the base model's rank of the positive, descending."""
    chunk_enc = encode_with_cache(
        encoder.model,
        list(chunks["chunk_id"]),
        list(chunks["text"]),
        cache,
        encoder.key,
        role="document",
    )
    keys = [f"q{i}" for i in range(len(pairs))]
    query_enc = encode_with_cache(
        encoder.model, keys, list(pairs["query"]), cache, encoder.key, role="query"
    )
    index = {c: i for i, c in enumerate(chunks["chunk_id"])}
    positive = np.array([index[c] for c in pairs["chunk_id"]])
    rank, _ = rank_positives(
        query_enc.vectors, chunk_enc.vectors, positive, np.arange(len(chunks)), 10, 0.0
    )
    order = np.lexsort((np.arange(len(pairs)), -rank))
    return [f"[{pairs['model'].iat[i]}] {pairs['query'].iat[i]}" for i in order[:15]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="comma-separated stdlib modules (default: the demo's)")
    args = parser.parse_args()
    settings = load_settings(ROOT / "embedloop.yaml")
    chunks, titles = demo_chunks(settings, args.modules.split(",") if args.modules else None)
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    print(f"corpus: {len(chunks)} chunks of {chunks['doc_id'].nunique()} stdlib modules")
    encoder = base_encoder(settings)
    sets = {
        "before": before_pairs(chunks, titles, settings),
        "after": after_pairs(chunks, titles, settings, encoder),
    }
    cache = EMBEDDING_CACHE.empty()
    for name, pairs in sets.items():
        split = [split_of(d, settings.splits) for d in pairs["doc_id"]]
        test = pairs[[s == "test" for s in split]]
        train = pairs[[s == "train" for s in split]]
        print(f"\n{name}: {len(pairs)} candidate pairs, {len(test)} in the test split")
        print(pd.Series(pairs["model"]).value_counts().to_string())
        for metric, value in copy_rates(test, text).items():
            print(f"  test queries {metric:<27} {value}")
        for metric, value in copy_rates(train, text).items():
            print(f"  train queries {metric:<26} {value}")
        print(f"  first 15 queries annotators see ({name}):")
        for line in review_queue(pairs, chunks, encoder, cache):
            print(f"    {line}")


if __name__ == "__main__":
    main()
