"""What the current generator makes of one document, before anyone runs the loop.

``embedloop preview-queries PATH`` parses and chunks the file as ingestion would, generates
pairs with the configured generator and screens them with the configured filters. The round
trip ranks each positive among this document's chunks plus, when a warehouse exists, the
ingested corpus (its cached base-model vectors are reused, nothing is written back).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from embedloop.chunking.chunker import chunk_document, chunk_id
from embedloop.chunking.incremental import chunker_for
from embedloop.config import Settings
from embedloop.ingestion.parsers import ParseError, detect_format, parse_document
from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.incremental import section_neighbours
from embedloop.pairs.roundtrip import base_encoder
from embedloop.pairs.screen import Screened, screen_pairs
from embedloop.warehouse import DOCUMENT_CHUNKS, EMBEDDING_CACHE, read_table

_PREVIEW_DOC = "preview:"


class PreviewError(ValueError):
    """The file cannot be previewed; the message says why."""


@dataclass
class Preview:
    document: Path
    chunks: pd.DataFrame  # this document's chunks
    pairs: pd.DataFrame  # chunk_id, heading_path, query, strategy, verdict, rank
    screened: Screened
    corpus_size: int  # chunks the round trip ranked against


def load_document_chunks(path: Path, settings: Settings) -> tuple[str, pd.DataFrame]:
    """Title and chunks of one file, parsed and chunked as ingestion would."""
    if not path.is_file():
        raise PreviewError(f"{path}: no such file")
    fmt = detect_format(path.name)
    if fmt is None:
        raise PreviewError(f"{path}: unsupported file type (not Markdown, RST, HTML, text)")
    try:
        doc = parse_document(path.read_bytes(), fmt, path.name)
    except ParseError as err:
        raise PreviewError(f"{path}: {err}") from None
    counter, params = chunker_for(settings)
    doc_id = _PREVIEW_DOC + path.name
    chunks = chunk_document(
        doc.text, counter, params.max_tokens, params.overlap_tokens, params.min_tokens, doc.title
    )
    frame = pd.DataFrame(
        {
            "chunk_id": [chunk_id(doc_id, c.heading_path, c.text) for c in chunks],
            "doc_id": doc_id,
            "heading_path": [c.heading_path for c in chunks],
            "text": [c.text for c in chunks],
            "position": [c.position for c in chunks],
        }
    ).drop_duplicates("chunk_id")
    return doc.title, frame.reset_index(drop=True)


def preview_document(path: Path, settings: Settings, round_trip: bool = True) -> Preview:
    title, chunks = load_document_chunks(path, settings)
    neighbours = section_neighbours(chunks)
    report = generate_pairs(
        [
            ChunkForGeneration(r.chunk_id, r.text, r.heading_path, title, neighbours[r.chunk_id])
            for r in chunks.itertuples(index=False)
        ],
        settings.synthetic,
        settings.cache_dir,
        api_key=os.environ.get("EMBEDLOOP_LLM_API_KEY"),
    )
    pairs = pd.DataFrame(
        {
            "pair_id": [f"preview-{i}" for i in range(len(report.pairs))],
            "doc_id": chunks["doc_id"].iat[0] if len(chunks) else "",
            "chunk_id": [p.chunk_id for p in report.pairs],
            "query": [p.query for p in report.pairs],
            "model": [p.model for p in report.pairs],
        }
    )
    corpus, cache = _corpus(chunks, settings)
    screened = screen_pairs(
        pairs,
        corpus,
        settings.filters,
        (lambda: base_encoder(settings)) if round_trip else None,
        cache,
    )
    order = {cid: i for i, cid in enumerate(chunks["chunk_id"])}
    section = dict(zip(chunks["chunk_id"], chunks["heading_path"], strict=True))
    shown = screened.verdicts.assign(
        chunk_id=pairs["chunk_id"].to_numpy(),
        heading_path=pairs["chunk_id"].map(section).to_numpy(),
        order=pairs["chunk_id"].map(order).to_numpy(),
    ).sort_values("order", kind="stable")
    return Preview(path, chunks, shown.drop(columns="order"), screened, len(corpus))


def _corpus(chunks: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """This document's chunks plus the warehouse's (other texts only), and its cache."""
    empty_cache = EMBEDDING_CACHE.empty()
    path = settings.warehouse_path
    if not path.is_file():
        return chunks, empty_cache
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            corpus = read_table(conn, DOCUMENT_CHUNKS)
            cache = read_table(conn, EMBEDDING_CACHE)
    except duckdb.Error:
        return chunks, empty_cache  # a run holds the warehouse: rank within the document
    corpus = corpus[~corpus["text"].isin(set(chunks["text"]))]
    merged = pd.concat([chunks, corpus[chunks.columns]], ignore_index=True)
    return merged, cache


_WHY = {
    "length": "too short or too long (filters.min_query_words / max_query_words)",
    "copy_verbatim": "occurs verbatim in the chunk",
    "copy_content_words": "every content word is in the chunk (filters.copy_check)",
    "round_trip": "the base model does not rank the chunk in the top k (filters.round_trip_top_k)",
}


def format_preview(preview: Preview, n: int) -> str:
    """The first ``n`` pairs under their sections, each kept or dropped with the reason."""
    pairs = preview.pairs
    kept = int((pairs["verdict"] == "kept").sum())
    lines = [
        f"{preview.document}: {len(preview.chunks)} chunks, {len(pairs)} pairs generated,"
        f" {kept} kept (round trip among {preview.corpus_size} chunks)",
        "copy check as for validation/test documents (filters.copy_check); training"
        " documents get filters.copy_check_train",
    ]
    section = None
    for row in pairs.head(n).itertuples(index=False):
        if row.heading_path != section:
            section = row.heading_path
            lines += ["", f"[{section or '(no heading)'}]"]
        verdict = "kept   " if row.verdict == "kept" else "DROPPED"
        why = "" if row.verdict == "kept" else f"  <- {row.verdict}: {_WHY[row.verdict]}"
        lines.append(f"  {verdict} {row.strategy:<13} {row.query}{why}")
    if len(pairs) > n:
        lines += ["", f"(showing {n} of {len(pairs)} pairs; --n to see more)"]
    table = preview.screened.strategy_table()
    if table:
        headers = list(table[0])
        lines += ["", "  ".join(headers)]
        lines += ["  ".join(str(r[h]) for h in headers) for r in table]
    return "\n".join(lines)
