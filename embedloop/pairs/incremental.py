"""Generate synthetic pairs only for chunks that this generator configuration has not seen.

The cache key is (chunk content hash, generator config hash). Chunks whose generation failed
are not logged, so the next run retries them; chunks that vanished lose their pairs. Fresh
pairs are screened (``screen``: length, copies, round trip) before they are stored, and the
screening settings are part of the config hash, so changing them regenerates. A chunk's
inverse cloze queries come from its section neighbours, whose later edits do not by
themselves regenerate it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from embedloop.config import SyntheticSettings
from embedloop.embedding_cache import text_hash
from embedloop.pairs.generation import ChunkForGeneration, GenerationReport
from embedloop.pairs.llm_questions import PROMPT_VERSION
from embedloop.pairs.question_cache import llm_identity
from embedloop.pairs.screen import Screened
from embedloop.warehouse import GENERATION_LOG, SYNTHETIC_QUERIES

Generator = Callable[[Sequence[ChunkForGeneration]], GenerationReport]
# (fresh pairs, every current chunk) -> verdicts and the kept pairs
Screen = Callable[[pd.DataFrame, pd.DataFrame], Screened]

# Bump when the offline generator's output changes for the same settings.
OFFLINE_VERSION = 2


def config_hash(settings: SyntheticSettings, screen_key: str = "") -> str:
    payload = settings.model_dump(exclude={"max_failure_ratio", "max_minutes"})
    payload["screen"] = screen_key
    if settings.generator == "offline":
        payload.pop("llm")
        payload.pop("corpus_description")
        payload["offline_version"] = OFFLINE_VERSION
    else:
        payload.pop("offline_strategies")
        payload["llm"] = llm_identity(settings.llm)
        payload["prompt_version"] = PROMPT_VERSION
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def pair_id(chunk_id: str, query: str, cfg_hash: str) -> str:
    return hashlib.sha256(f"{chunk_id}\x1f{query}\x1f{cfg_hash}".encode()).hexdigest()[:32]


@dataclass
class SyntheticRefresh:
    queries: pd.DataFrame
    log: pd.DataFrame
    report: GenerationReport | None
    chunks_pending: int
    chunks_reused: int
    screened: Screened | None = None


def refresh_synthetic(
    chunks: pd.DataFrame,
    titles: dict[str, str],
    previous_queries: pd.DataFrame,
    previous_log: pd.DataFrame,
    settings: SyntheticSettings,
    generate: Generator,
    now: datetime,
    screen: Screen | None = None,
    screen_key: str = "",
) -> SyntheticRefresh:
    cfg = config_hash(settings, screen_key)
    chunks = chunks.assign(chunk_hash=chunks["text"].map(text_hash))
    current = _keys(chunks)
    log = previous_log[previous_log["config_hash"] == cfg]
    log = log[_isin(_keys_list(log), current)]
    done = _keys(log)
    same_config = previous_queries[previous_queries["config_hash"] == cfg]
    kept = same_config[_isin(_keys_list(same_config), done)]
    pending = chunks[~_isin(_keys_list(chunks), done)]
    if pending.empty:
        return SyntheticRefresh(kept, log, None, 0, len(done))
    pending = coverage_order(pending, _keys(same_config))

    neighbours = section_neighbours(chunks)
    report = generate(
        [
            ChunkForGeneration(
                r.chunk_id,
                r.text,
                r.heading_path,
                titles.get(r.doc_id, ""),
                neighbours.get(r.chunk_id, ()),
            )
            for r in pending.itertuples(index=False)
        ]
    )
    new_queries = _query_rows(report, pending, cfg, now)
    screened = None
    if screen is not None and not new_queries.empty:
        screened = screen(new_queries, chunks)
        new_queries = screened.kept
    new_log = _log_rows(report, pending, new_queries, cfg, now)
    queries = _concat(kept, new_queries)
    queries = queries.drop_duplicates("pair_id").sort_values("pair_id", ignore_index=True)
    return SyntheticRefresh(
        queries=queries,
        log=_concat(log, new_log),
        report=report,
        chunks_pending=len(pending),
        chunks_reused=len(done),
        screened=screened,
    )


def coverage_order(pending: pd.DataFrame, served: set[tuple[str, str]]) -> pd.DataFrame:
    """The order in which a time-bounded generator (``synthetic.max_minutes``) reaches chunks.

    New and changed chunks come first; chunks that already hold queries from an earlier run
    whose budget did not reach them (offline stand-ins, ``served``) come after. Within each
    group documents take turns: every page's first chunk, then every page's second, and so
    on, so a budget that stops early leaves every page some generated questions instead of
    whole pages with none. Documents are visited by id and chunks by position, so two runs
    over the same corpus ask in the same order.
    """
    ordered = pending.sort_values(["doc_id", "position"], kind="stable")
    revisit = _isin(_keys_list(ordered), served)
    doc_ids = ordered["doc_id"].to_numpy()
    turn = ordered.groupby([revisit, doc_ids], sort=False).cumcount().to_numpy()
    return ordered.iloc[np.lexsort((doc_ids, turn, revisit))]


def section_neighbours(chunks: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """chunk_id -> texts of the chunks before and after it in the same section."""
    out: dict[str, tuple[str, ...]] = {}
    ordered = chunks.sort_values(["doc_id", "heading_path", "position"])
    for _, part in ordered.groupby(["doc_id", "heading_path"], sort=False):
        ids, texts = list(part["chunk_id"]), list(part["text"])
        for i, cid in enumerate(ids):
            out[cid] = tuple(texts[j] for j in (i - 1, i + 1) if 0 <= j < len(texts))
    return out


def _query_rows(
    report: GenerationReport, pending: pd.DataFrame, cfg: str, now: datetime
) -> pd.DataFrame:
    by_chunk = pending.set_index("chunk_id")
    rows = [
        {
            "pair_id": pair_id(p.chunk_id, p.query, cfg),
            "chunk_id": p.chunk_id,
            "doc_id": by_chunk.at[p.chunk_id, "doc_id"],
            "query": p.query,
            "positive": p.positive,
            "negative": p.negative,
            "generator": p.generator,
            "model": p.model,
            "chunk_hash": by_chunk.at[p.chunk_id, "chunk_hash"],
            "config_hash": cfg,
            "created_at": now,
        }
        for p in report.pairs
    ]
    return pd.DataFrame(rows, columns=SYNTHETIC_QUERIES.columns)


def _log_rows(
    report: GenerationReport,
    pending: pd.DataFrame,
    new_queries: pd.DataFrame,
    cfg: str,
    now: datetime,
) -> pd.DataFrame:
    """A chunk counts as processed when it produced pairs, or when the generator ran cleanly
    on it and had nothing to say (offline strategies can find nothing in a tiny chunk).
    Chunks the LLM's time budget did not reach stay pending, whatever they got meanwhile."""
    failed = report.failed_chunk_ids | report.deferred_chunk_ids
    pairs_per_chunk = new_queries.groupby("chunk_id").size()
    rows = [
        {
            "chunk_id": r.chunk_id,
            "chunk_hash": r.chunk_hash,
            "config_hash": cfg,
            "pairs": int(pairs_per_chunk.get(r.chunk_id, 0)),
            "generated_at": now,
        }
        for r in pending.itertuples(index=False)
        if r.chunk_id not in failed
    ]
    return pd.DataFrame(rows, columns=GENERATION_LOG.columns)


def _keys_list(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["chunk_id"], frame["chunk_hash"], strict=True))


def _keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(_keys_list(frame))


def _isin(keys: list[tuple[str, str]], allowed: set[tuple[str, str]]) -> np.ndarray:
    # A numpy mask, not a list: indexing a frame with an empty list selects no *columns*.
    return np.array([k in allowed for k in keys], dtype=bool)


def _concat(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    # pandas is deprecating dtype inference from empty frames in concat: skip them.
    frames = [f for f in (old, new) if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else old
