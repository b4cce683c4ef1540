"""The question-writing task without a server: sampling, latest-wins, merge, leakage suite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from pydantic import ValidationError

from embedloop.config import ArgillaSettings, SplitSettings
from embedloop.review.questions_task import (
    append_question_history,
    chunk_rows,
    human_questions,
    question_candidates,
    stratified_sample,
)
from embedloop.splits import chunk_splits, split_of
from embedloop.training_set import merge_feedback
from embedloop.warehouse import (
    CANDIDATE_PAIRS,
    FEEDBACK_PAIRS,
    HUMAN_QUESTIONS,
    QUESTION_HISTORY,
    QUESTION_RECORDS,
)
from quality.suites import validate_human_question_leakage

NOW = datetime(2026, 11, 28, tzinfo=UTC)
SPLITS = SplitSettings(seed=3, validation=0.1, test=0.2)


def corpus(docs: int, per_doc: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    chunks = pd.DataFrame(
        [
            {
                "chunk_id": f"c{d:04d}-{p:02d}",
                "doc_id": f"docs:page{d}.md",
                "heading_path": f"Page {d} > Part {p}",
                "text": f"Passage {p} of page {d}.",
                "position": p,
            }
            for d in range(docs)
            for p in range(per_doc)
        ]
    )
    documents = pd.DataFrame(
        {
            "doc_id": [f"docs:page{d}.md" for d in range(docs)],
            "title": [f"Page {d}" for d in range(docs)],
            "uri": [f"https://docs.example/page{d}" for d in range(docs)],
        }
    )
    return chunks, documents


def test_the_sample_is_uniform_stable_and_stratified() -> None:
    chunks, documents = corpus(400, 10)
    rows = chunk_rows(chunks, documents, SPLITS, seed=1)
    sample = stratified_sample(rows, 800, min_test=0)
    assert len(sample) == 800 and sample["record_id"].is_unique
    # Uniform: each split's share and the positions within documents match the corpus.
    share = sample["split"].value_counts(normalize=True)
    corpus_share = rows["split"].value_counts(normalize=True)
    for split in ("train", "validation", "test"):
        assert abs(share[split] - corpus_share[split]) < 0.05
    positions = sample["chunk_id"].str[-2:].astype(int).value_counts()
    assert positions.min() > 50 and positions.max() < 110  # 80 expected per position
    # Adding chunks never reshuffles: the new sample keeps all but a few old records.
    more, more_docs = corpus(420, 10)
    again = stratified_sample(chunk_rows(more, more_docs, SPLITS, seed=1), 800, min_test=0)
    assert len(set(again["record_id"]) & set(sample["record_id"])) > 740
    # Another seed, another sample.
    other = stratified_sample(chunk_rows(chunks, documents, SPLITS, seed=2), 800, min_test=0)
    assert len(set(other["record_id"]) & set(sample["record_id"])) < 300


def test_test_documents_are_topped_up_uniformly() -> None:
    chunks, documents = corpus(60, 5)
    rows = chunk_rows(chunks, documents, SPLITS, seed=1)
    plain = stratified_sample(rows, 20, min_test=0)
    topped = stratified_sample(rows, 20, min_test=12)
    assert len(topped) == 20 and (topped["split"] == "test").sum() == 12
    assert (plain["split"] == "test").sum() < 12
    # Within a stratum the picks are still the lowest keys.
    test_rows = rows[rows["split"] == "test"]
    assert set(topped.loc[topped["split"] == "test", "record_id"]) == set(
        test_rows.head(12)["record_id"]
    )
    # Fewer test chunks than asked: all of them.
    n_test = int((rows["split"] == "test").sum())
    assert (stratified_sample(rows, 200, min_test=500)["split"] == "test").sum() == n_test


def test_records_published_before_stay_while_their_chunk_exists() -> None:
    chunks, documents = corpus(30, 4)
    settings = ArgillaSettings(question_sample_size=10, question_min_test=0)
    first = question_candidates(chunks, documents, QUESTION_RECORDS.empty(), SPLITS, settings)
    smaller = settings.model_copy(update={"question_sample_size": 5})
    published = first.assign(content_hash="x", published_at=NOW)
    later = question_candidates(chunks, documents, published, SPLITS, smaller)
    assert set(later["record_id"]) == set(first["record_id"])
    assert later["split"].tolist() == [chunk_splits(chunks, SPLITS)[c] for c in later["chunk_id"]]


@pytest.mark.parametrize(
    "names",
    [
        {"dataset": "same", "question_dataset": "same"},
        {"dataset": "same", "search_dataset": "same"},
        {"question_dataset": "same", "search_dataset": "same"},
    ],
)
def test_the_three_datasets_must_differ(names: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="must be three different datasets"):
        ArgillaSettings(**names)


def responses(*rows: tuple[str, str, str, str | None, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "response_id": f"{record}-{user}",
                "record_id": record,
                "user_id": user,
                "status": status,
                "query": query,
                "updated_at": NOW + timedelta(minutes=minute),
            }
            for record, user, status, query, minute in rows
        ]
    )


def test_latest_submitted_question_per_annotator_and_record_wins() -> None:
    records = pd.DataFrame(
        {"record_id": ["q-a", "q-b"], "chunk_id": ["a", "b"], "doc_id": ["d1", "d2"]}
    )
    history, n = append_question_history(
        QUESTION_HISTORY.empty(),
        responses(
            ("q-a", "u1", "submitted", "how do I start", 0),
            ("q-a", "u2", "submitted", "How do I start?", 1),  # same question, kept once
            ("q-b", "u1", "submitted", "where are logs", 2),
            ("q-x", "u1", "submitted", "from another tool", 3),
        ),
        NOW,
    )
    assert n == 4
    # u1 edits q-a, then discards q-b: the edit wins, the discard withdraws the question.
    history, n = append_question_history(
        history,
        responses(
            ("q-a", "u1", "submitted", "how do I start the worker", 5),
            ("q-b", "u1", "discarded", None, 6),
        ),
        NOW + timedelta(hours=1),
    )
    assert n == 2 and len(history) == 6
    _, again = append_question_history(history, responses(("q-b", "u1", "discarded", None, 6)), NOW)
    assert again == 0
    table = human_questions(history, records, {"d1": "test", "d2": "train"}.__getitem__)
    assert list(table.columns) == HUMAN_QUESTIONS.columns
    assert sorted(table["query"]) == ["How do I start?", "how do I start the worker"]
    assert set(table["split"]) == {"test"} and set(table["chunk_id"]) == {"a"}


def pair(pid: str, chunk: str, doc: str, split: str, negative: str | None) -> dict[str, object]:
    return {
        "pair_id": pid,
        "split": split,
        "doc_id": doc,
        "chunk_id": chunk,
        "query": f"query {pid}",
        "positive": f"text {chunk}",
        "negative": f"text {negative}" if negative else None,
        "negative_chunk_id": negative,
        "generator": "offline",
        "model": "offline:heading",
    }


def question(record: str, chunk: str, doc: str, split: str, query: str) -> dict[str, object]:
    return {
        "record_id": record,
        "chunk_id": chunk,
        "doc_id": doc,
        "split": split,
        "query": query,
        "annotator": "u1",
        "responded_at": NOW,
    }


def test_train_questions_become_pairs_and_test_questions_never_do() -> None:
    chunks = pd.DataFrame(
        {
            "chunk_id": ["a", "b", "t", "n"],
            "doc_id": ["d1", "d1", "dt", "d2"],
            "text": ["text a", "text b", "text t", "text n"],
        }
    )
    candidates = pd.DataFrame(
        [pair("p1", "a", "d1", "train", "n"), pair("p2", "t", "dt", "test", None)],
        columns=CANDIDATE_PAIRS.columns,
    )
    questions = pd.DataFrame(
        [
            question("q-a", "a", "d1", "train", "how do I configure a"),
            question("q-b", "b", "d1", "train", "what is b for"),
            question("q-t", "t", "dt", "test", "how do I test t"),
            question("q-a", "a", "d1", "train", "query p1"),  # the chunk has it already
            question("q-gone", "gone", "d1", "train", "a vanished chunk"),
        ]
    )
    built = merge_feedback(candidates, FEEDBACK_PAIRS.empty(), chunks, questions)
    asked = built.pairs[built.pairs["generator"] == "human-question"].set_index("chunk_id")
    assert built.question_pairs == 2 and set(asked.index) == {"a", "b"}
    assert asked.loc["a", "positive"] == "text a" and asked.loc["a", "split"] == "train"
    assert asked.loc["a", "negative_chunk_id"] == "n"  # mined for the same chunk
    assert pd.isna(asked.loc["b", "negative"])  # none mined: no negative
    assert "how do I test t" not in set(built.pairs["query"])

    chunk_split = {"a": "train", "b": "train", "t": "test", "n": "train"}
    clean = validate_human_question_leakage(built.pairs, questions, chunk_split)
    assert clean.success
    leaked = pd.concat(
        [
            built.pairs,
            pd.DataFrame([{**pair("x", "t", "dt", "train", None), "query": "How do I test t?"}]),
        ]
    )
    assert not validate_human_question_leakage(leaked, questions, chunk_split).success
    # A question recorded as train whose document is test under the current settings.
    moved = questions.assign(split="train")
    relabelled = merge_feedback(candidates, FEEDBACK_PAIRS.empty(), chunks, moved)
    assert "how do I test t" not in set(relabelled.pairs["query"])  # candidates know dt is test
    assert not validate_human_question_leakage(
        built.pairs.assign(generator="human-question"), moved, chunk_split
    ).success


def test_split_of_is_what_human_questions_records() -> None:
    records = pd.DataFrame({"record_id": ["q-a"], "chunk_id": ["a"], "doc_id": ["docs:x.md"]})
    history, _ = append_question_history(
        QUESTION_HISTORY.empty(), responses(("q-a", "u1", "submitted", "why x", 0)), NOW
    )
    table = human_questions(history, records, lambda d: split_of(d, SPLITS))
    assert table["split"].tolist() == [split_of("docs:x.md", SPLITS)]


def test_pulling_nothing_appends_nothing() -> None:
    empty = responses().reindex(columns=[c for c in QUESTION_HISTORY.columns if c != "pulled_at"])
    history, n = append_question_history(QUESTION_HISTORY.empty(), empty, NOW)
    assert n == 0 and list(history.columns) == QUESTION_HISTORY.columns
