"""Which logged searches go to Argilla for judgment, in which role, with which suggestions.

Reviewers' time is the scarce part, so a publication picks ``argilla.search_sample_size``
new searches: first those a searcher said did not help, then the lowest top scores (the
model was least sure), then the rest by time; a query that is a near-duplicate (same words)
of one already picked or published is shown once. Searches that returned nothing have
nothing to judge and are left out.

Each record gets a role when it is first published, and keeps it: the newest share
(``feedback.eval_share``, and every search until the ``searches`` set holds
``feedback.min_eval_searches``) *evaluate*, the older ones *train*. An evaluation search
that reviewers judged and found no answering passage in can score nothing, so it does not
count toward the minimum (in the Debian FAQ bench one judged search in five was such): the
next publication makes up for it, from the judgments pulled so far. A searcher's own
verdicts are suggestions on train records only: a suggestion anchors the annotator, and an
evaluation judged through the searcher's eyes would inherit their position bias.

Records are keyed ``s-<search_id>``; a record is sent again only when what it shows
changed (a suggestion from feedback that arrived later), and never deleted, as in the
other two datasets. Queries are scrubbed (``embedloop.searches.scrub``) before they leave.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from embedloop.config import ArgillaSettings, FeedbackSettings
from embedloop.pairs.filters import normalize_query
from embedloop.searches.log import NONE_HELPFUL
from embedloop.searches.scrub import scrub
from embedloop.searches.tables import SEARCH_RECORDS

TRAIN, EVALUATE = "train", "evaluate"
ANSWERS, PARTLY, DOES_NOT = "answers", "partly", "does_not"
LABELS = (ANSWERS, PARTLY, DOES_NOT)
RECORD_PREFIX = "s-"


def record_id(search_id: str) -> str:
    return f"{RECORD_PREFIX}{search_id}"


def searcher_verdicts(feedback: pd.DataFrame) -> dict[str, dict[str, bool]]:
    """search_id -> {chunk_id: helpful} over every user ('' = none helped); a chunk that
    anyone marked unhelpful counts as unhelpful."""
    out: dict[str, dict[str, bool]] = {}
    for row in feedback.itertuples():
        verdicts = out.setdefault(str(row.search_id), {})
        chunk = str(row.chunk_id)
        verdicts[chunk] = bool(verdicts.get(chunk, True)) and bool(row.helpful)
    return out


def _summary(verdicts: dict[str, bool]) -> str:
    if not verdicts:
        return "none"
    return "unhelpful" if not all(verdicts.values()) else "helpful"


def suggestions_for(chunk_ids: list[str], verdicts: dict[str, bool]) -> dict[str, str]:
    """{position: label} from a searcher's verdicts: helpful -> answers, unhelpful (or
    "none helped", for every passage without a verdict of its own) -> does_not."""
    none_helped = verdicts.get(NONE_HELPFUL) is False
    out = {}
    for position, chunk in enumerate(chunk_ids, start=1):
        if chunk in verdicts:
            out[str(position)] = ANSWERS if verdicts[chunk] else DOES_NOT
        elif none_helped:
            out[str(position)] = DOES_NOT
    return out


def _pick(
    searches: pd.DataFrame, verdicts: dict[str, dict[str, bool]], published: pd.DataFrame, size: int
) -> pd.DataFrame:
    """The ``size`` new searches to publish, in priority order (see the module docstring)."""
    fresh = searches[~searches["search_id"].isin(set(published["search_id"]))]
    fresh = fresh[fresh["chunk_ids"].map(len) > 0].copy()
    fresh["verdict"] = [_summary(verdicts.get(s, {})) for s in fresh["search_id"]]
    fresh["top_score"] = [float(s[0]) for s in fresh["scores"]]
    if fresh.empty or size == 0:
        return fresh.iloc[0:0]
    fresh["unhelpful_first"] = (fresh["verdict"] != "unhelpful").astype(int)
    fresh = fresh.sort_values(["unhelpful_first", "top_score", "searched_at", "search_id"])
    seen = {normalize_query(scrub(q)) for q in published["query"]}
    keep = []
    for index, query in zip(fresh.index, fresh["query"], strict=True):
        key = normalize_query(scrub(query))
        if key in seen or not key:
            continue
        seen.add(key)
        keep.append(index)
        if len(keep) == size:
            break
    return fresh.loc[keep]


def _roles(
    picked: pd.DataFrame,
    published: pd.DataFrame,
    feedback: FeedbackSettings,
    unscorable: Collection[str],
) -> list[str]:
    """Evaluate for the newest share of the batch (and all it takes to reach the minimum of
    evaluation searches that score or may still: judged with no answer, one does not)."""
    n = len(picked)
    have = 0
    if len(published):
        evaluate = published.loc[published["role"] == EVALUATE, "search_id"]
        have = int((~evaluate.isin(set(unscorable))).sum())
    n_eval = min(n, max(math.ceil(feedback.eval_share * n), feedback.min_eval_searches - have))
    newest = picked.sort_values(["searched_at", "search_id"], ascending=False)["search_id"]
    evaluate = set(newest.head(n_eval))
    return [EVALUATE if s in evaluate else TRAIN for s in picked["search_id"]]


@dataclass
class SearchPublication:
    to_send: pd.DataFrame  # records to create or update (SEARCH_RECORDS rows)
    table: pd.DataFrame  # the new search_records table, once they are sent
    new: int
    updated: int


def plan_search_publication(
    searches: pd.DataFrame,
    feedback: pd.DataFrame,
    published: pd.DataFrame,
    argilla: ArgillaSettings,
    settings: FeedbackSettings,
    now: datetime,
    unscorable: Collection[str] = (),
) -> SearchPublication:
    """New records for the picked searches, and published train records whose suggestions
    changed since (feedback that came later); every other record stays as it is.
    ``unscorable``: evaluation searches judged with no answering passage (they do not count
    toward ``feedback.min_eval_searches``)."""
    verdicts = searcher_verdicts(feedback)
    picked = _pick(searches, verdicts, published, argilla.search_sample_size)
    n = argilla.search_passages
    new = pd.DataFrame(
        {
            "record_id": picked["search_id"].map(record_id),
            "search_id": picked["search_id"],
            "role": _roles(picked, published, settings, unscorable),
            "query": picked["query"].map(scrub),
            "chunk_ids": [list(c)[:n] for c in picked["chunk_ids"]],
            "top_score": picked["top_score"],
            "searcher_verdict": picked["verdict"],
            "priority": range(len(picked), 0, -1),
            "searched_at": picked["searched_at"],
        }
    )
    table = pd.concat([published, new], ignore_index=True) if len(published) else new
    table = table.reset_index(drop=True)
    table["suggestions"] = [
        json.dumps(suggestions_for(list(c), verdicts.get(s, {})), sort_keys=True)
        if role == TRAIN
        else "{}"
        for s, c, role in zip(table["search_id"], table["chunk_ids"], table["role"], strict=True)
    ]
    old_hash = dict(zip(published["record_id"], published["content_hash"], strict=True))
    table["content_hash"] = [_content_hash(r) for r in table.to_dict("records")]
    changed = table["content_hash"] != table["record_id"].map(old_hash)
    old_time = dict(zip(published["record_id"], published["published_at"], strict=True))
    table["published_at"] = [
        now if c else old_time[r] for c, r in zip(changed, table["record_id"], strict=True)
    ]
    is_new = ~table["record_id"].isin(set(old_hash))
    table = table[SEARCH_RECORDS.columns]
    return SearchPublication(
        to_send=table[changed].reset_index(drop=True),
        table=table,
        new=int(is_new.sum()),
        updated=int((changed & ~is_new).sum()),
    )


def _content_hash(row: dict) -> str:
    shown = {k: row[k] for k in ("record_id", "role", "query", "suggestions")}
    shown["chunk_ids"] = list(row["chunk_ids"])
    return hashlib.sha256(json.dumps(shown, sort_keys=True).encode()).hexdigest()[:24]
