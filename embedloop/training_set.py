"""The training table: candidate pairs with human review merged in.

Pairs reviewers rejected leave; their corrected queries join as pairs of their own (generator
``human``), in their document's split, with the reviewed pair's hard negative. Questions
people wrote in the question task (table human_questions) join as generator
``human-question`` with a hard negative mined for the same chunk, if any; those on
test-split documents never do: they are evaluation queries, and a model trained on them
would be graded on its own homework. Searches people ran and reviewers judged (table
search_judgments, train role) join as generator ``search`` with a negative a reviewer
labelled (``embedloop.searches.judgments``), in the split of the passage's document.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from embedloop.candidates import PairSet
from embedloop.pairs.filters import normalize_query
from embedloop.warehouse import FEEDBACK_PAIRS, TRAINING_SPLITS

HUMAN_CORRECTION = "human"  # generator of pairs whose query a reviewer corrected
HUMAN_QUESTION = "human-question"  # generator of pairs from the question-writing task
HUMAN_GENERATORS = frozenset({HUMAN_CORRECTION, HUMAN_QUESTION})  # queries people wrote


@dataclass
class TrainingSet(PairSet):
    human_pairs: int = 0  # pairs written by reviewers (corrected queries)
    question_pairs: int = 0  # pairs from the question-writing task (train/validation only)
    search_pairs: int = 0  # pairs from judged searches (and trusted searcher feedback)


def merge_feedback(
    candidates: pd.DataFrame,
    feedback: pd.DataFrame,
    chunks: pd.DataFrame,
    questions: pd.DataFrame | None = None,
    searched: pd.DataFrame | None = None,
) -> TrainingSet:
    """``candidates`` (table candidate_pairs) with ``feedback`` (table feedback_pairs),
    ``questions`` (table human_questions) and ``searched`` (pairs from judged searches,
    ``embedloop.searches.judgments.search_pairs``)."""
    questions = questions if questions is not None else pd.DataFrame()
    searched = searched if searched is not None else pd.DataFrame()
    feedback = feedback if len(feedback) else FEEDBACK_PAIRS.empty()
    if feedback.empty and questions.empty and searched.empty:
        return TrainingSet(pairs=candidates[TRAINING_SPLITS.columns].reset_index(drop=True))
    rejected = set(feedback.loc[feedback["decision"] == "rejected", "pair_id"])
    is_rejected = candidates["pair_id"].isin(rejected)
    kept = candidates[~is_rejected]
    corrections = _corrected_pairs(feedback, kept, chunks)
    asked = _question_pairs(questions, kept, corrections, chunks)
    judged = _search_pairs(searched, kept, chunks)
    if len(corrections) or len(asked) or len(judged):
        # Row-wise: the added pairs' all-null columns would upset pd.concat.
        rows = [*kept.to_dict("records"), *corrections.to_dict("records")]
        rows += [*asked.to_dict("records"), *judged.to_dict("records")]
        kept = pd.DataFrame(rows, columns=kept.columns)
    kept = kept.sort_values("pair_id", ignore_index=True)
    return TrainingSet(
        pairs=kept[TRAINING_SPLITS.columns],
        dropped={"human_rejected": int(is_rejected.sum())},
        human_pairs=len(corrections),
        question_pairs=len(asked),
        search_pairs=len(judged),
    )


def _search_pairs(searched: pd.DataFrame, kept: pd.DataFrame, chunks: pd.DataFrame) -> pd.DataFrame:
    """Judged-search pairs in the split of their passage's document (the candidates' split
    when the document has pairs, else the split rule's, which ``searched`` carries), unless
    the chunk already has that query or the chunk is gone."""
    if searched.empty:
        return pd.DataFrame(columns=kept.columns)
    doc_split = dict(zip(kept["doc_id"], kept["split"], strict=True))
    existing = set(zip(kept["chunk_id"], kept["query"].map(normalize_query), strict=True))
    fresh = [
        (c, normalize_query(q)) not in existing
        for c, q in zip(searched["chunk_id"], searched["query"], strict=True)
    ]
    rows = searched[fresh & searched["chunk_id"].isin(set(chunks["chunk_id"]))].copy()
    rows["split"] = [
        doc_split.get(d, s) for d, s in zip(rows["doc_id"], rows["split"], strict=True)
    ]
    return rows[kept.columns].reset_index(drop=True)


def _question_pairs(
    questions: pd.DataFrame, kept: pd.DataFrame, corrections: pd.DataFrame, chunks: pd.DataFrame
) -> pd.DataFrame:
    """A pair per human question on a train or validation document whose chunk still
    exists, unless the chunk already has that query. The split is the document's (the
    candidates' split when the document has pairs, as they are the freshest); the negative
    is a mined one of another pair of the same chunk."""
    if questions.empty:
        return pd.DataFrame(columns=kept.columns)
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    doc_split = dict(zip(kept["doc_id"], kept["split"], strict=True))
    with_negative = kept[kept["negative_chunk_id"].notna()].sort_values("pair_id")
    negative = with_negative.drop_duplicates("chunk_id").set_index("chunk_id")
    both = pd.concat([kept[["chunk_id", "query"]], corrections[["chunk_id", "query"]]])
    existing = set(zip(both["chunk_id"], both["query"].map(normalize_query), strict=True))
    rows = []
    for row in questions.itertuples():
        split = doc_split.get(row.doc_id, row.split)
        key = (row.chunk_id, normalize_query(row.query))
        if split == "test" or row.split == "test" or row.chunk_id not in text or key in existing:
            continue
        existing.add(key)
        origin = negative.loc[row.chunk_id] if row.chunk_id in negative.index else None
        digest = hashlib.sha256(f"{row.record_id}\x1f{row.query}".encode()).hexdigest()[:24]
        rows.append(
            {
                "pair_id": f"hq-{digest}",
                "split": split,
                "chunk_id": row.chunk_id,
                "doc_id": row.doc_id,
                "query": row.query,
                "positive": text[row.chunk_id],
                "negative": origin["negative"] if origin is not None else None,
                "negative_chunk_id": origin["negative_chunk_id"] if origin is not None else None,
                "generator": HUMAN_QUESTION,
                "model": "argilla:question-task",
            }
        )
    return pd.DataFrame(rows, columns=kept.columns)


def _corrected_pairs(
    feedback: pd.DataFrame, kept: pd.DataFrame, chunks: pd.DataFrame
) -> pd.DataFrame:
    """A pair per corrected query whose chunk still exists, unless the chunk already has
    that query. Split and negative are the reviewed pair's (same passage, same document)."""
    text = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    doc = dict(zip(chunks["chunk_id"], chunks["doc_id"], strict=True))
    reviewed = kept.set_index("pair_id")
    existing = set(zip(kept["chunk_id"], kept["query"].map(normalize_query), strict=True))
    rows = []
    for row in feedback[feedback["corrected_query"].notna()].itertuples():
        query = str(row.corrected_query).strip()
        key = (row.chunk_id, normalize_query(query))
        if row.chunk_id not in text or not query or key in existing:
            continue
        existing.add(key)
        origin = reviewed.loc[row.pair_id] if row.pair_id in reviewed.index else None
        digest = hashlib.sha256(f"{row.pair_id}\x1f{query}".encode()).hexdigest()[:24]
        rows.append(
            {
                "pair_id": f"human-{digest}",
                "split": origin["split"] if origin is not None else row.split,
                "chunk_id": row.chunk_id,
                "doc_id": doc[row.chunk_id],
                "query": query,
                "positive": text[row.chunk_id],
                "negative": origin["negative"] if origin is not None else None,
                "negative_chunk_id": origin["negative_chunk_id"] if origin is not None else None,
                "generator": HUMAN_CORRECTION,
                "model": "argilla",
            }
        )
    return pd.DataFrame(rows, columns=kept.columns)
