"""The expectation suites for each warehouse table, as plain functions of the data.

Cross-table rules (every chunk's document exists) and ratios (skipped share) are expressed
as ordinary GX expectations over a derived frame, so every rule is reported the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import great_expectations.expectations as gxe
import pandas as pd

from embedloop.pairs.filters import normalize_query
from embedloop.splits import SPLITS, leakage_report
from quality.gx_validation import ValidationOutcome, combine, validate_frame

FORMATS = ["markdown", "rst", "html", "text", "notebook"]


def validate_source_documents(documents: pd.DataFrame) -> ValidationOutcome:
    live = documents[~documents["deleted"].astype(bool)]
    return validate_frame(
        live,
        "source_documents",
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="doc_id"),
            gxe.ExpectColumnValuesToBeUnique(column="doc_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="text"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
            gxe.ExpectColumnValuesToMatchRegex(column="content_hash", regex=r"^[0-9a-f]{64}$"),
            gxe.ExpectColumnValuesToBeInSet(column="format", value_set=FORMATS),
        ],
    )


def validate_skipped_ratio(
    documents: pd.DataFrame, skipped: pd.DataFrame, max_ratio: float
) -> ValidationOutcome:
    live = int((~documents["deleted"].astype(bool)).sum())
    seen = live + len(skipped)
    ratio = len(skipped) / seen if seen else 0.0
    return validate_frame(
        pd.DataFrame({"skipped_ratio": [ratio], "skipped": [len(skipped)], "seen": [seen]}),
        "skipped_documents",
        [gxe.ExpectColumnValuesToBeBetween(column="skipped_ratio", max_value=max_ratio)],
    )


def validate_document_chunks(
    chunks: pd.DataFrame, documents: pd.DataFrame, max_tokens: int
) -> ValidationOutcome:
    live_ids = documents.loc[~documents["deleted"].astype(bool), "doc_id"].tolist()
    table = validate_frame(
        chunks,
        "document_chunks",
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToNotBeNull(column="chunk_id"),
            gxe.ExpectColumnValuesToBeUnique(column="chunk_id"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="text", min_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="n_tokens", min_value=1, max_value=max_tokens),
            gxe.ExpectColumnValuesToBeInSet(column="doc_id", value_set=live_ids),
        ],
    )
    # One row per (chunk, origin document): every page a collapsed chunk came from must exist.
    origins = chunks[["chunk_id", "doc_ids"]].explode("doc_ids")
    lineage = validate_frame(
        origins.rename(columns={"doc_ids": "origin_doc_id"}),
        "document_chunks_origins",
        [gxe.ExpectColumnValuesToBeInSet(column="origin_doc_id", value_set=live_ids)],
    )
    return combine("document_chunks", [table, lineage])


def validate_synthetic_queries(queries: pd.DataFrame) -> ValidationOutcome:
    return validate_frame(
        queries,
        "synthetic_queries",
        [
            gxe.ExpectColumnValuesToNotBeNull(column="pair_id"),
            gxe.ExpectColumnValuesToBeUnique(column="pair_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="query"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="query", min_value=1),
            gxe.ExpectColumnValueLengthsToBeBetween(column="positive", min_value=1),
        ],
    )


def validate_hard_negatives(
    negatives: pd.DataFrame, queries: pd.DataFrame, chunks: pd.DataFrame
) -> ValidationOutcome:
    """No negative is its own positive, shares its text, or comes from the positive's
    section (those are answers, not negatives); every negative is a current chunk."""
    sections = chunks["doc_id"] + "\x1f" + chunks["heading_path"]
    section = dict(zip(chunks["chunk_id"], sections, strict=True))
    text = dict(zip(chunks["chunk_id"], chunks["text"].str.strip(), strict=True))
    positive = dict(zip(queries["pair_id"], queries["chunk_id"], strict=True))
    pos = negatives["pair_id"].map(positive)
    neg = negatives["negative_chunk_id"]
    facts = pd.DataFrame(
        {
            "pair_id": negatives["pair_id"],
            "known_pair": pos.notna(),
            "known_chunk": neg.isin(text.keys()),
            "is_positive": neg == pos,
            "same_section": neg.map(section).eq(pos.map(section)) & pos.notna(),
            "same_text": neg.map(text).eq(pos.map(text)) & pos.notna(),
        }
    )
    return validate_frame(
        facts,
        "hard_negatives",
        [
            gxe.ExpectColumnValuesToBeInSet(column="known_pair", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(column="known_chunk", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(column="is_positive", value_set=[False]),
            gxe.ExpectColumnValuesToBeInSet(column="same_section", value_set=[False]),
            gxe.ExpectColumnValuesToBeInSet(column="same_text", value_set=[False]),
        ],
    )


def validate_training_splits(
    pairs: pd.DataFrame,
    max_queries_per_chunk: int,
    chunk_split: Mapping[str, str] | None = None,
    suite: str = "training_splits",
) -> ValidationOutcome:
    """For candidate_pairs and training_splits alike; ``chunk_split`` (chunk_id -> split of
    its document) lets the suite catch a train pair whose negative is a test passage."""
    table = validate_frame(
        pairs,
        suite,
        [
            gxe.ExpectTableRowCountToBeBetween(min_value=1),
            gxe.ExpectColumnValuesToBeUnique(column="pair_id"),
            gxe.ExpectColumnValuesToNotBeNull(column="query"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="query", min_value=1),
            gxe.ExpectColumnValueLengthsToBeBetween(column="positive", min_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="split", value_set=list(SPLITS)),
        ],
    )
    leakage = validate_frame(
        leakage_report(pairs, chunk_split),
        f"{suite}_leakage",
        [
            # A document in two splits leaks its passages into evaluation.
            gxe.ExpectColumnValuesToBeBetween(column="doc_splits", max_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="test_query_in_train", value_set=[False]),
            gxe.ExpectColumnValuesToBeInSet(column="negative_is_positive", value_set=[False]),
            gxe.ExpectColumnValuesToBeInSet(
                column="negative_from_test_document", value_set=[False]
            ),
        ],
    )
    per_chunk = pairs.groupby("chunk_id").size().rename("queries").reset_index()
    distribution = validate_frame(
        per_chunk,
        f"{suite}_queries_per_chunk",
        [
            gxe.ExpectColumnValuesToBeBetween(
                column="queries", min_value=1, max_value=max_queries_per_chunk
            )
        ],
    )
    return combine(suite, [table, leakage, distribution])


def validate_human_question_leakage(
    pairs: pd.DataFrame, questions: pd.DataFrame, chunk_split: Mapping[str, str]
) -> ValidationOutcome:
    """No question people wrote for a test-split passage is in the training table.

    Those questions are the `human` evaluation set: a pair that carries one (same chunk,
    same normalized query), or a question-task pair on a test document, would let training
    see the exam. ``chunk_split`` (chunk_id -> split under the current settings) catches a
    question whose split was recorded under older split settings.
    """
    on_test = (questions["split"] == "test") | questions["chunk_id"].map(
        lambda c: chunk_split.get(c) == "test"
    )
    asked = questions[on_test]
    exam = set(zip(asked["chunk_id"], asked["query"].map(normalize_query), strict=True))
    # A synthetic test pair that happens to read the same is evaluation data, not a leak.
    trained = (pairs["split"] != "test") | (pairs["generator"] == "human-question")
    facts = pd.DataFrame(
        {
            "pair_id": pairs["pair_id"],
            "is_test_human_question": trained
            & pd.Series(
                [
                    (c, normalize_query(q)) in exam
                    for c, q in zip(pairs["chunk_id"], pairs["query"], strict=True)
                ],
                index=pairs.index,
                dtype=bool,
            ),
            "question_task_pair_on_test_document": (pairs["generator"] == "human-question")
            & (
                (pairs["split"] == "test")
                | pairs["chunk_id"].map(lambda c: chunk_split.get(c) == "test")
            ),
        }
    )
    return validate_frame(
        facts,
        "training_splits_human_questions",
        [
            gxe.ExpectColumnValuesToBeInSet(column="is_test_human_question", value_set=[False]),
            gxe.ExpectColumnValuesToBeInSet(
                column="question_task_pair_on_test_document", value_set=[False]
            ),
        ],
    )
