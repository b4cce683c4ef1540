"""Which pairs go to Argilla for review, in what order, and what changed since last time.

Plain pandas: the asset supplies the tables, this module decides. A record is keyed by its
stable ``pair_id``; re-publishing only sends records whose content changed, and a record
whose chunk changed or vanished is flagged through ``chunk_state``, never deleted, so no
annotation is lost.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from embedloop.warehouse import REVIEW_RECORDS, REVIEW_TARGET, Table

CURRENT = "current"
CHUNK_CHANGED = "chunk_changed"  # its document is still there, the chunk text is not
CHUNK_REMOVED = "chunk_removed"  # its document is gone
UNRANKED = 1000  # priority of a pair the model has not ranked yet: review it first


def review_rows(
    pairs: pd.DataFrame,
    chunks: pd.DataFrame,
    documents: pd.DataFrame,
    retrieval: pd.DataFrame,
) -> pd.DataFrame:
    """One row per candidate pair with the fields and metadata its record carries.

    ``priority`` is where the current model ranks the pair's passage for its query (0 =
    first): the higher, the less sure the model is, and the more a human label teaches it.
    """
    heading = dict(zip(chunks["chunk_id"], chunks["heading_path"], strict=True))
    uri = dict(zip(documents["doc_id"], documents["uri"], strict=True))
    title = dict(zip(documents["doc_id"], documents["title"], strict=True))
    rank = dict(zip(retrieval["pair_id"], retrieval["positive_rank"], strict=True))
    rows = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "chunk_id": pairs["chunk_id"],
            "doc_id": pairs["doc_id"],
            "split": pairs["split"],
            "query": pairs["query"],
            "passage": pairs["positive"],
            "heading": pairs["chunk_id"].map(lambda c: heading.get(c) or ""),
            "source": [_link(title.get(d) or d, uri.get(d) or d) for d in pairs["doc_id"]],
            "generator": pairs["generator"],
            "model": pairs["model"],
            "priority": [int(rank[p]) if p in rank else UNRANKED for p in pairs["pair_id"]],
            "chunk_state": CURRENT,
        }
    )
    return rows.sort_values(["priority", "pair_id"], ascending=[False, True], ignore_index=True)


def _link(title: str, uri: str) -> str:
    return f"[{title}]({uri})" if "://" in uri else f"{title} ({uri})"


def content_hash(row: pd.Series | dict, records: Table = REVIEW_RECORDS) -> str:
    """Changes whenever anything the record shows or filters on changes."""
    keys = [c for c in records.columns if c not in ("content_hash", "published_at")]
    payload = json.dumps({k: _plain(row[k]) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def _plain(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def review_target(
    api_url: str, workspace: str, dataset: str, dataset_id: str, now: datetime
) -> pd.DataFrame:
    """The one-row review_target table for the dataset being published to."""
    return pd.DataFrame(
        [
            {
                "api_url": api_url.rstrip("/"),
                "workspace": workspace,
                "dataset": dataset,
                "dataset_id": str(dataset_id),
                "since": now,
            }
        ],
        columns=REVIEW_TARGET.columns,
    )


def mirror_of(
    published: pd.DataFrame,
    stored_target: pd.DataFrame,
    target: pd.DataFrame,
    records: Table = REVIEW_RECORDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What is already in ``target``'s dataset, and the review_target row to keep.

    The local mirror only describes the dataset it was published to. For another server,
    workspace or dataset id it describes nothing: everything must be sent again.
    """
    key = ["api_url", "workspace", "dataset_id"]
    same = len(stored_target) == 1 and (
        stored_target[key].astype(str).iloc[0].tolist() == target[key].iloc[0].tolist()
    )
    if same:
        return published, stored_target
    return records.empty(), target


@dataclass
class Publication:
    to_send: pd.DataFrame  # records to create or update in Argilla
    table: pd.DataFrame  # the new review_records table, once they are sent
    new: int
    updated: int
    flagged: int  # records newly marked chunk_changed / chunk_removed


def plan_publication(
    candidates: pd.DataFrame,
    published: pd.DataFrame,
    live_doc_ids: set[str],
    max_records: int | None,
    now: datetime,
    key: str = "pair_id",
    records: Table = REVIEW_RECORDS,
) -> Publication:
    """Diff the candidate rows against what was published before.

    The ``max_records`` highest-priority candidates are published; a record published
    before stays published (and updated) while its pair exists, whatever its priority now.
    ``key`` and ``records`` name the record id column and the mirror table (the question
    task publishes through the same plan).
    """
    previous = published.set_index(key, drop=False) if len(published) else None
    known = set(published[key]) if len(published) else set()
    chosen = candidates if max_records is None else candidates.head(max_records)
    keep = candidates[candidates[key].isin(known) & ~candidates[key].isin(chosen[key])]
    current = pd.concat([chosen, keep], ignore_index=True)

    stale = published[~published[key].isin(candidates[key])].copy()
    if len(stale):
        stale["chunk_state"] = [
            CHUNK_CHANGED if d in live_doc_ids else CHUNK_REMOVED for d in stale["doc_id"]
        ]
    table = pd.concat(
        [current, stale[current.columns]] if len(stale) else [current], ignore_index=True
    )
    table["content_hash"] = [content_hash(r, records) for _, r in table.iterrows()]

    old_hash = previous["content_hash"].to_dict() if previous is not None else {}
    changed = table["content_hash"] != table[key].map(old_hash)
    old_state = previous["chunk_state"].to_dict() if previous is not None else {}
    flagged = changed & (table["chunk_state"] != CURRENT) & (table[key].map(old_state) == CURRENT)
    published_at = table[key].map(
        previous["published_at"].to_dict() if previous is not None else {}
    )
    table["published_at"] = [now if c else p for c, p in zip(changed, published_at, strict=True)]
    is_new = ~table[key].isin(known)
    return Publication(
        to_send=table[changed].reset_index(drop=True),
        table=table[records.columns],
        new=int(is_new.sum()),
        updated=int((changed & ~is_new & ~flagged).sum()),
        flagged=int(flagged.sum()),
    )
