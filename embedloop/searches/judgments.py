"""What reviewers' judgments of real searches become: training pairs and the ``searches``
evaluation set.

A passage judged to *answer* a train-role search becomes a training pair (generator
``search``) whose hard negative is the best-ranked passage of the same search judged *not*
to answer: a negative a person labelled, the best kind there is. A passage nobody judged
is never a negative, and *partly* is neither. Evaluate-role searches form the ``searches``
set (relevant: every passage judged to answer); they never train, and a search whose
answer was not among its hits cannot be scored, so it is counted, not used.

With ``feedback.trust_searchers`` a searcher's explicit ``helpful`` on a search that is not
an evaluation search trains as well, without a negative.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime

import pandas as pd

from embedloop.pairs.filters import normalize_query
from embedloop.review.questions_task import append_question_history
from embedloop.searches.log import NONE_HELPFUL
from embedloop.searches.publication import ANSWERS, DOES_NOT, EVALUATE, LABELS, PARTLY, TRAIN
from embedloop.searches.scrub import scrub
from embedloop.searches.tables import SEARCH_HISTORY, SEARCH_JUDGMENTS

SEARCH_GENERATOR = "search"  # generator of pairs from judged searches


def append_search_history(
    history: pd.DataFrame, pulled: pd.DataFrame, now: datetime
) -> tuple[pd.DataFrame, int]:
    """The history plus every pulled response version it does not hold yet."""
    return append_question_history(history, pulled, now, SEARCH_HISTORY)


def judge(history: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """SEARCH_JUDGMENTS: per published search and passage, the label of the annotators'
    latest submitted responses (the majority; a tie is ``partly``, which teaches nothing)."""
    if history.empty or records.empty:
        return SEARCH_JUDGMENTS.empty()
    ordered = history.assign(updated_at=pd.to_datetime(history["updated_at"], utc=True))
    ordered = ordered.sort_values(["updated_at", "pulled_at", "response_id"])
    latest = ordered.drop_duplicates(["record_id", "user_id"], keep="last")
    latest = latest[latest["status"] == "submitted"]
    info = records.drop_duplicates("record_id").set_index("record_id")
    votes: dict[tuple[str, int], Counter[str]] = {}
    judged_at: dict[str, object] = {}
    for row in latest.itertuples():
        if row.record_id not in info.index:
            continue
        for position, label in json.loads(row.labels or "{}").items():
            if label in LABELS:
                votes.setdefault((row.record_id, int(position)), Counter())[label] += 1
        judged_at[row.record_id] = max(judged_at.get(row.record_id, row.updated_at), row.updated_at)  # type: ignore[type-var]
    rows = []
    for (rid, position), counter in sorted(votes.items()):
        shown = list(info.at[rid, "chunk_ids"])
        if position > len(shown):
            continue
        top = counter.most_common(2)
        label = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else PARTLY
        rows.append(
            {
                "record_id": rid,
                "search_id": info.at[rid, "search_id"],
                "role": info.at[rid, "role"],
                "query": info.at[rid, "query"],
                "chunk_id": shown[position - 1],
                "rank": position,
                "label": label,
                "annotators": sum(counter.values()),
                "judged_at": judged_at[rid],
            }
        )
    return pd.DataFrame(rows, columns=SEARCH_JUDGMENTS.columns)


def evaluation_queries(judgments: pd.DataFrame) -> set[str]:
    """Normalized queries of evaluation searches: they must never train."""
    evaluate = judgments[judgments["role"] == EVALUATE]
    return {normalize_query(q) for q in evaluate["query"]}


PAIR_COLUMNS = [
    "pair_id",
    "chunk_id",
    "doc_id",
    "query",
    "positive",
    "negative",
    "negative_chunk_id",
    "generator",
    "model",
]


def search_pairs(
    judgments: pd.DataFrame,
    chunks: pd.DataFrame,
    searches: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    trust_searchers: bool = False,
) -> pd.DataFrame:
    """Training pairs (query, positive, negative, generator ``search``) from train-role
    judgments, plus trusted searcher feedback when asked (PAIR_COLUMNS; the caller adds the
    split)."""
    pairs = _Pairs(chunks, evaluation_queries(judgments))
    train = judgments[judgments["role"] == TRAIN]
    for search_id, group in train.groupby("search_id", sort=True):
        negatives = group[(group["label"] == DOES_NOT) & group["chunk_id"].isin(pairs.text)]
        ranked = negatives.sort_values("rank")["chunk_id"]
        negative = str(ranked.iloc[0]) if len(ranked) else None
        for row in group[group["label"] == ANSWERS].itertuples():
            pairs.add(str(search_id), row.query, row.chunk_id, negative, "argilla:search-review")
    if trust_searchers and searches is not None and feedback is not None:
        reviewed = set(judgments["search_id"])
        query = dict(zip(searches["search_id"], searches["query"], strict=True))
        liked = feedback[feedback["helpful"].astype(bool) & (feedback["chunk_id"] != NONE_HELPFUL)]
        for row in liked.itertuples():
            if row.search_id in reviewed or row.search_id not in query:
                continue  # a reviewed search trains through its judgments
            asked = scrub(query[row.search_id])
            pairs.add(str(row.search_id), asked, row.chunk_id, None, "api:searcher-feedback")
    return pd.DataFrame(pairs.rows, columns=PAIR_COLUMNS)


class _Pairs:
    """Pairs being collected: one per (chunk, normalized query), never an exam query."""

    def __init__(self, chunks: pd.DataFrame, banned: set[str]) -> None:
        self.text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
        self.doc = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
        self.banned = banned
        self.seen: set[tuple[str, str]] = set()
        self.rows: list[dict[str, object]] = []

    def add(
        self, search_id: str, query: str, chunk_id: str, negative: str | None, model: str
    ) -> None:
        key = (chunk_id, normalize_query(query))
        if chunk_id not in self.text or key in self.seen or key[1] in self.banned:
            return
        self.seen.add(key)
        digest = hashlib.sha256(f"{search_id}\x1f{chunk_id}".encode()).hexdigest()[:24]
        self.rows.append(
            {
                "pair_id": f"search-{digest}",
                "chunk_id": chunk_id,
                "doc_id": self.doc[chunk_id],
                "query": query,
                "positive": self.text[chunk_id],
                "negative": self.text[negative] if negative else None,
                "negative_chunk_id": negative,
                "generator": SEARCH_GENERATOR,
                "model": model,
            }
        )


def unscorable_evaluations(judgments: pd.DataFrame) -> set[str]:
    """Evaluation searches that reviewers judged and found no answering passage in: they
    score nothing (their answer was not among the hits), so they do not fill the set."""
    evaluate = judgments[judgments["role"] == EVALUATE]
    answered = set(evaluate.loc[evaluate["label"] == ANSWERS, "search_id"])
    return set(evaluate["search_id"]) - answered


def evaluation_rows(judgments: pd.DataFrame) -> tuple[list[dict[str, object]], int]:
    """Rows (query, chunk_id, source) of the ``searches`` set, and how many evaluation
    searches could not be scored (no returned passage answers them)."""
    evaluate = judgments[judgments["role"] == EVALUATE]
    rows = [
        {"query": q, "chunk_id": c, "source": "argilla:search-review"}
        for q, c, label in zip(
            evaluate["query"], evaluate["chunk_id"], evaluate["label"], strict=True
        )
        if label == ANSWERS
    ]
    answered = {r["query"] for r in rows}
    unanswered = len(set(evaluate["query"]) - answered)
    return rows, unanswered
