"""Incremental refresh of the document catalog.

A re-run hashes every file but parses only those whose bytes changed. A file that vanished
is kept as a tombstone (``deleted=True``) so downstream tables can drop what came from it.
A file that is still there but no longer parses keeps its last good version: a broken edit
should not silently remove a page from training.

Whatever goes wrong while parsing one file (a `ParseError`, but also a parser bug, a
`MemoryError` or a `RecursionError` on hostile input) becomes that file's skip reason:
one document must never abort the refresh of all the others.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from embedloop.config import SourceConfig
from embedloop.ingestion.parsers import ParsedDocument, ParseError, parse_document
from embedloop.ingestion.sources import RawFile, Skipped, SourceError, scan_source
from embedloop.warehouse import SKIPPED_DOCUMENTS, SOURCE_DOCUMENTS

Scanner = Callable[[SourceConfig], Iterable[RawFile | Skipped]]
log = logging.getLogger(__name__)
_MAX_REASON = 300


@dataclass
class RefreshResult:
    documents: pd.DataFrame
    skipped: pd.DataFrame
    counts: Counter[str] = field(default_factory=Counter)
    failed_sources: dict[str, str] = field(default_factory=dict)


def doc_id_for(source: str, relpath: str) -> str:
    return f"{source}:{relpath}"


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def default_scanner(cache_dir: Path, max_bytes: int) -> Scanner:
    return lambda cfg: scan_source(cfg, cache_dir=cache_dir, max_bytes=max_bytes)


def refresh_catalog(
    sources: Sequence[SourceConfig],
    previous_docs: pd.DataFrame,
    previous_skipped: pd.DataFrame,
    scanner: Scanner,
    now: datetime,
) -> RefreshResult:
    """Scan every source and merge it into the previous catalog.

    A source that fails as a whole keeps its previous rows untouched and is reported in
    ``failed_sources``; the other sources are refreshed normally.
    """
    result = RefreshResult(documents=previous_docs, skipped=previous_skipped)
    doc_frames: list[pd.DataFrame] = []
    skipped_frames: list[pd.DataFrame] = []
    configured = {s.name for s in sources}
    for cfg in sources:
        old_docs = previous_docs[previous_docs["source"] == cfg.name]
        old_skipped = previous_skipped[previous_skipped["source"] == cfg.name]
        try:
            docs, skipped = _refresh_source(cfg, old_docs, scanner, now, result.counts)
        except SourceError as err:
            result.failed_sources[cfg.name] = str(err)
            docs, skipped = old_docs, old_skipped
        doc_frames.append(docs)
        skipped_frames.append(skipped)
    # Sources removed from the config: their documents become tombstones too.
    orphans = previous_docs[~previous_docs["source"].isin(configured)]
    if not orphans.empty:
        doc_frames.append(_tombstones(orphans, now, result.counts))
    result.documents = _concat(doc_frames, SOURCE_DOCUMENTS.columns)
    result.skipped = _concat(skipped_frames, SKIPPED_DOCUMENTS.columns)
    result.counts["skipped"] = len(result.skipped)
    return result


def _refresh_source(
    cfg: SourceConfig,
    old: pd.DataFrame,
    scanner: Scanner,
    now: datetime,
    counts: Counter[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    old_by_id = {row["doc_id"]: row for row in old.to_dict("records")}
    rows: list[dict] = []
    skipped: list[dict] = []
    seen: set[str] = set()
    for item in scanner(cfg):
        doc_id = doc_id_for(item.source, item.relpath)
        if isinstance(item, Skipped):
            skipped.append(_skipped_row(item.source, item.relpath, item.uri, item.reason, now))
            if doc_id in old_by_id:
                seen.add(doc_id)
                rows.append(old_by_id[doc_id])
            continue
        seen.add(doc_id)
        row = _refresh_file(item, doc_id, old_by_id.get(doc_id), now, counts, skipped)
        if row is not None:
            rows.append(row)
    gone = old[~old["doc_id"].isin(seen)]
    frame = pd.DataFrame(rows, columns=SOURCE_DOCUMENTS.columns)
    return _concat([frame, _tombstones(gone, now, counts)], SOURCE_DOCUMENTS.columns), pd.DataFrame(
        skipped, columns=SKIPPED_DOCUMENTS.columns
    )


def _refresh_file(
    item: RawFile,
    doc_id: str,
    old: dict | None,
    now: datetime,
    counts: Counter[str],
    skipped: list[dict],
) -> dict | None:
    digest = content_hash(item.data)
    if old is not None and old["content_hash"] == digest and not old["deleted"]:
        counts["unchanged"] += 1
        return old
    parsed = _parse(item)
    if isinstance(parsed, str):
        skipped.append(_skipped_row(item.source, item.relpath, item.uri, parsed, now))
        return old
    counts["added" if old is None or old["deleted"] else "changed"] += 1
    return {
        "doc_id": doc_id,
        "source": item.source,
        "uri": item.uri,
        "title": parsed.title,
        "text": parsed.text,
        "format": item.format,
        "content_hash": digest,
        "bytes": len(item.data),
        "ingested_at": old["ingested_at"] if old is not None else now,
        "updated_at": now,
        "deleted": False,
    }


def _parse(item: RawFile) -> ParsedDocument | str:
    """The parsed document, or the reason it is skipped."""
    try:
        return parse_document(item.data, item.format, fallback_title=Path(item.relpath).stem)
    except ParseError as err:
        return str(err)[:_MAX_REASON]
    except MemoryError:
        return "parser ran out of memory"
    except RecursionError:
        return "document nested too deeply to parse"
    except Exception as err:  # a parser bug costs this one document, not the whole run
        log.warning("parser failed on %s:%s", item.source, item.relpath, exc_info=True)
        return f"parser failed: {type(err).__name__}: {err}"[:_MAX_REASON]


def _tombstones(gone: pd.DataFrame, now: datetime, counts: Counter[str]) -> pd.DataFrame:
    newly = gone[~gone["deleted"].astype(bool)]
    counts["deleted"] += len(newly)
    out = gone.copy()
    out.loc[newly.index, "updated_at"] = now
    out["deleted"] = True
    return out


def _skipped_row(source: str, relpath: str, uri: str, reason: str, now: datetime) -> dict:
    return {"source": source, "relpath": relpath, "uri": uri, "reason": reason, "seen_at": now}


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True)[columns]
