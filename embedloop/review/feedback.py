"""From pulled Argilla responses to training decisions.

The history only grows; the current view is each annotator's latest response per pair;
a pair's decision is the majority of its annotators' latest *submitted* labels, ties going
to the more cautious label (a doubtful pair is better left out of training).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from embedloop.warehouse import FEEDBACK_HISTORY, FEEDBACK_PAIRS, HUMAN_EVAL

ACCEPTED, PARTIAL, REJECTED = "accepted", "partial", "rejected"
DECISION_OF_LABEL = {
    "relevant": ACCEPTED,
    "partially_relevant": PARTIAL,
    "not_relevant": REJECTED,
}
CAUTION = {ACCEPTED: 0, PARTIAL: 1, REJECTED: 2}


def append_history(
    history: pd.DataFrame, pulled: pd.DataFrame, now: datetime
) -> tuple[pd.DataFrame, int]:
    """The history plus every pulled response version it does not hold yet."""
    seen = set(
        zip(history["response_id"], pd.to_datetime(history["updated_at"], utc=True), strict=True)
    )
    fresh = pulled[
        [
            (rid, ts) not in seen
            for rid, ts in zip(pulled["response_id"], pulled["updated_at"], strict=True)
        ]
    ].assign(pulled_at=now)
    if fresh.empty:
        return history, 0
    fresh = fresh[FEEDBACK_HISTORY.columns]
    if history.empty:
        return fresh.reset_index(drop=True), len(fresh)
    combined = pd.concat([history, fresh], ignore_index=True)
    return combined, len(fresh)


# Each annotator's latest response per pair, for SQL users; current_view() computes the same.
CURRENT_VIEW_SQL = """
CREATE OR REPLACE VIEW feedback_current AS
SELECT * EXCLUDE (version) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY pair_id, user_id ORDER BY updated_at DESC, pulled_at DESC, response_id DESC
    ) AS version
    FROM feedback_history
) WHERE version = 1
"""


def current_view(history: pd.DataFrame) -> pd.DataFrame:
    """Each annotator's latest response per pair, whatever Argilla holds now."""
    if history.empty:
        return history
    ordered = history.assign(updated_at=pd.to_datetime(history["updated_at"], utc=True))
    ordered = ordered.sort_values(["updated_at", "pulled_at", "response_id"])
    return ordered.drop_duplicates(["pair_id", "user_id"], keep="last").reset_index(drop=True)


def decide(current: pd.DataFrame, reviewed: pd.DataFrame) -> pd.DataFrame:
    """One row per pair with a submitted, labelled response (schema FEEDBACK_PAIRS).

    ``reviewed`` is the review_records table: it tells which chunk, document, split and
    query each record showed.
    """
    submitted = current[(current["status"] == "submitted") & current["relevance"].notna()]
    info = reviewed.set_index("pair_id")
    rows = []
    for pair_id, group in submitted.groupby("pair_id", sort=True):
        if pair_id not in info.index:
            continue  # published by another tool or deployment: nothing to join it to
        decisions = group["relevance"].map(DECISION_OF_LABEL).dropna()
        if decisions.empty:
            continue
        counts = decisions.value_counts()
        top = counts[counts == counts.max()].index
        corrections = group.sort_values("updated_at")["corrected_query"].dropna()
        meta = info.loc[pair_id]
        rows.append(
            {
                "pair_id": pair_id,
                "chunk_id": meta["chunk_id"],
                "doc_id": meta["doc_id"],
                "split": meta["split"],
                "query": meta["query"],
                "passage": meta["passage"],
                "decision": max(top, key=CAUTION.__getitem__),
                "corrected_query": corrections.iloc[-1] if len(corrections) else None,
                "annotators": int(group["user_id"].nunique()),
                "updated_at": group["updated_at"].max(),
            }
        )
    return pd.DataFrame(rows, columns=FEEDBACK_PAIRS.columns)


def human_eval_set(decisions: pd.DataFrame) -> pd.DataFrame:
    """Test-split queries people vouched for: accepted pairs and their corrected queries.

    Only the test split: a query from train or validation would measure memorization.
    """
    test = decisions[decisions["split"] == "test"]
    accepted = test[test["decision"] == ACCEPTED]
    corrected = test[test["corrected_query"].notna()]
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "query": accepted["query"],
                    "chunk_id": accepted["chunk_id"],
                    "pair_id": accepted["pair_id"],
                    "origin": "accepted",
                }
            ),
            pd.DataFrame(
                {
                    "query": corrected["corrected_query"],
                    "chunk_id": corrected["chunk_id"],
                    "pair_id": corrected["pair_id"],
                    "origin": "corrected",
                }
            ),
        ],
        ignore_index=True,
    )
    return frame.drop_duplicates(["query", "chunk_id"]).reset_index(drop=True)[HUMAN_EVAL.columns]
