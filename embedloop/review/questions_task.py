"""The question-writing task: people write the question a passage answers.

The review dataset shows pairs most-uncertain first, so the queries people validate there
are the ones the base model misses: an adversarial set that cannot tell whether a model is
better for typical questions. This task samples chunks *uniformly* instead (a seeded hash
per chunk, the sample being the lowest keys, so adding chunks never reshuffles it), tops up
test-split chunks so evaluation gets its share, and asks for a question per passage.
Questions on test-split documents become evaluation queries; the others become training
pairs (``embedloop.training_set``).

Plain pandas, like ``records`` and ``feedback``: the asset supplies the tables. Records are
keyed ``q-<chunk_id>``; publishing goes through ``records.plan_publication``, so a record
whose chunk changed or vanished is flagged, never deleted, and its responses stay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

import pandas as pd

from embedloop.config import ArgillaSettings, SplitSettings
from embedloop.pairs.filters import normalize_query
from embedloop.review.records import CURRENT
from embedloop.splits import chunk_splits
from embedloop.warehouse import HUMAN_QUESTIONS, QUESTION_HISTORY, QUESTION_RECORDS, Table

RECORD_PREFIX = "q-"
ROW_COLUMNS = [c for c in QUESTION_RECORDS.columns if c not in ("content_hash", "published_at")]


def record_id(chunk_id: str) -> str:
    return f"{RECORD_PREFIX}{chunk_id}"


def sample_key(seed: int, chunk_id: str) -> float:
    """Uniform in [0, 1), a pure function of (seed, chunk_id)."""
    digest = hashlib.sha256(f"{seed}:{chunk_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def chunk_rows(
    chunks: pd.DataFrame, documents: pd.DataFrame, splits: SplitSettings, seed: int
) -> pd.DataFrame:
    """One candidate record per current chunk (columns ROW_COLUMNS), by sample key."""
    title = dict(zip(documents["doc_id"], documents["title"], strict=True))
    uri = dict(zip(documents["doc_id"], documents["uri"], strict=True))
    split = chunk_splits(chunks, splits)
    rows = pd.DataFrame(
        {
            "record_id": chunks["chunk_id"].map(record_id),
            "chunk_id": chunks["chunk_id"],
            "doc_id": chunks["doc_id"],
            "split": chunks["chunk_id"].map(split),
            "passage": chunks["text"],
            "heading": chunks["heading_path"].fillna(""),
            "source": [_link(title.get(d) or d, uri.get(d) or d) for d in chunks["doc_id"]],
            "sample_key": [sample_key(seed, c) for c in chunks["chunk_id"]],
            "chunk_state": CURRENT,
        },
        columns=ROW_COLUMNS,
    )
    return rows.sort_values(["sample_key", "record_id"], ignore_index=True)


def _link(title: str, uri: str) -> str:
    return f"[{title}]({uri})" if "://" in uri else f"{title} ({uri})"


def stratified_sample(rows: pd.DataFrame, size: int, min_test: int) -> pd.DataFrame:
    """The ``size`` rows with the lowest sample keys, with test-split rows topped up to
    ``min_test`` (or every test row, if fewer) by swapping out the highest-keyed others.

    Within each stratum the sample is uniform (the lowest keys of that stratum).
    """
    size = min(size, len(rows))
    chosen = rows.head(size)
    is_test = rows["split"] == "test"
    want = min(min_test, size, int(is_test.sum()))
    if int((chosen["split"] == "test").sum()) >= want:
        return chosen
    picked = pd.concat([rows[is_test].head(want), rows[~is_test].head(size - want)])
    return picked.sort_values(["sample_key", "record_id"], ignore_index=True)


def question_candidates(
    chunks: pd.DataFrame,
    documents: pd.DataFrame,
    published: pd.DataFrame,
    splits: SplitSettings,
    argilla: ArgillaSettings,
) -> pd.DataFrame:
    """The rows to publish: the sample, plus every record published before whose chunk is
    still current (responses there stay useful whatever the sample says now)."""
    rows = chunk_rows(chunks, documents, splits, argilla.question_sample_seed)
    sample = stratified_sample(rows, argilla.question_sample_size, argilla.question_min_test)
    kept = rows["record_id"].isin(set(published["record_id"])) & ~rows["record_id"].isin(
        set(sample["record_id"])
    )
    both = pd.concat([sample, rows[kept]], ignore_index=True)
    return both.sort_values(["sample_key", "record_id"], ignore_index=True)


def append_question_history(
    history: pd.DataFrame, pulled: pd.DataFrame, now: datetime, table: Table = QUESTION_HISTORY
) -> tuple[pd.DataFrame, int]:
    """The history plus every pulled response version it does not hold yet (``table``: the
    history's schema; the search task keeps its own with the same rule)."""
    seen = set(
        zip(history["response_id"], pd.to_datetime(history["updated_at"], utc=True), strict=True)
    )
    stamps = pd.to_datetime(pulled["updated_at"], utc=True)
    is_new = pd.Series(
        [(r, t) not in seen for r, t in zip(pulled["response_id"], stamps, strict=True)],
        index=pulled.index,
        dtype=bool,
    )
    fresh = pulled[is_new].assign(pulled_at=now)[table.columns]
    if fresh.empty:
        return history, 0
    if history.empty:
        return fresh.reset_index(drop=True), len(fresh)
    return pd.concat([history, fresh], ignore_index=True), len(fresh)


def latest_responses(history: pd.DataFrame) -> pd.DataFrame:
    """Each annotator's latest response version per record, whatever Argilla holds now."""
    if history.empty:
        return history
    ordered = history.assign(updated_at=pd.to_datetime(history["updated_at"], utc=True))
    ordered = ordered.sort_values(["updated_at", "pulled_at", "response_id"])
    return ordered.drop_duplicates(["record_id", "user_id"], keep="last").reset_index(drop=True)


def human_questions(
    history: pd.DataFrame, records: pd.DataFrame, split_of: Callable[[str], str]
) -> pd.DataFrame:
    """Schema HUMAN_QUESTIONS: each annotator's latest *submitted* question per record.

    A later discard withdraws the question. ``split_of`` maps a doc_id to its split under
    the current settings, so a changed split config is honoured without re-publishing.
    The same question (normalized) written twice for one record is kept once, the earliest.
    """
    latest = latest_responses(history)
    if latest.empty:
        return HUMAN_QUESTIONS.empty()
    asked = latest[(latest["status"] == "submitted") & latest["query"].notna()]
    info = records.drop_duplicates("record_id").set_index("record_id")
    asked = asked[asked["record_id"].isin(info.index)]  # published elsewhere: no chunk to join
    frame = pd.DataFrame(
        {
            "record_id": asked["record_id"],
            "chunk_id": asked["record_id"].map(info["chunk_id"]),
            "doc_id": asked["record_id"].map(info["doc_id"]),
            "query": asked["query"].str.strip(),
            "annotator": asked["user_id"].astype(str),
            "responded_at": asked["updated_at"],
        }
    )
    frame = frame[frame["query"].str.len() > 0]
    frame["split"] = frame["doc_id"].map(split_of)
    frame = frame.sort_values(["responded_at", "record_id", "annotator"], ignore_index=True)
    normalized = frame["query"].map(normalize_query)
    frame = frame[~pd.DataFrame({"r": frame["record_id"], "q": normalized}).duplicated()]
    return frame[HUMAN_QUESTIONS.columns].reset_index(drop=True)
