"""Fold a batch read from the search log into the warehouse's copy of it.

New searches are appended; a feedback row replaces the one for the same (search, chunk,
user) (the log keeps only the latest verdict); a purge drops every search from before its
date and that search's feedback, here as in the log.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from embedloop.searches.log import LogBatch
from embedloop.searches.tables import SEARCH_FEEDBACK, SEARCHES

FEEDBACK_KEY = ["search_id", "chunk_id", "user_hash"]


@dataclass(frozen=True)
class MergedLog:
    searches: pd.DataFrame  # SEARCHES
    feedback: pd.DataFrame  # SEARCH_FEEDBACK
    purged: int  # searches dropped by purges in this batch


def merge_log(searches: pd.DataFrame, feedback: pd.DataFrame, batch: LogBatch) -> MergedLog:
    new = batch.searches.assign(searched_at=pd.to_datetime(batch.searches["searched_at"], utc=True))
    both = _concat(searches, new[SEARCHES.columns])
    both = both.drop_duplicates("search_id", keep="first").reset_index(drop=True)
    fresh = batch.feedback.assign(
        created_at=pd.to_datetime(batch.feedback["created_at"], utc=True),
        helpful=batch.feedback["helpful"].astype(bool),
    )
    verdicts = _concat(feedback, fresh[SEARCH_FEEDBACK.columns])
    verdicts = verdicts.drop_duplicates(FEEDBACK_KEY, keep="last").reset_index(drop=True)
    before = len(both)
    for stamp in batch.purges["before"]:
        both = both[pd.to_datetime(both["searched_at"], utc=True) >= pd.Timestamp(stamp)]
    verdicts = verdicts[verdicts["search_id"].isin(set(both["search_id"]))]
    return MergedLog(
        both.reset_index(drop=True), verdicts.reset_index(drop=True), before - len(both)
    )


def _concat(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    if old.empty:
        return new.reset_index(drop=True)
    if new.empty:
        return old
    return pd.concat([old, new], ignore_index=True)
