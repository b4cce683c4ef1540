"""The evaluation sets, built from the warehouse and the configured question files.

- ``synthetic``: the test split of ``training_splits`` (generated queries; reviewers'
  corrected queries are human and go to ``human``); its validation split once real
  questions gate, since the test split then trains.
- ``human``: ``human_eval`` (test pairs reviewers accepted or corrected) and the test-split
  rows of ``human_questions`` (questions annotators wrote for uniformly sampled passages).
- ``questions``: every ``evaluation.question_files`` row, plus question headings of
  test-split FAQ pages when ``evaluation.harvest_faq``.
- ``searches``: searches people ran that reviewers judged, in the evaluate role (the
  newest of each published batch); relevant: the returned passages judged to answer.

Identical query texts within a set become one query whose relevant chunks are the union.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import duckdb
import pandas as pd

from embedloop.config import Settings
from embedloop.evaluation.faq import harvest_faq
from embedloop.evaluation.gate import real_questions_gate
from embedloop.evaluation.locate import Locator, slug
from embedloop.evaluation.questions import read_question_rows, rows_to_set
from embedloop.evaluation.sets import (
    PROVENANCE_COLUMNS,
    ChunkIndex,
    EvalSet,
    build_set,
    empty_set,
    expand_relevance,
    query_id,
)
from embedloop.searches.judgments import evaluation_rows
from embedloop.searches.tables import SEARCH_JUDGMENTS
from embedloop.splits import split_of
from embedloop.training_set import HUMAN_CORRECTION
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    HUMAN_EVAL,
    HUMAN_QUESTIONS,
    SOURCE_DOCUMENTS,
    TRAINING_SPLITS,
    read_table,
)

__all__ = ["EvalTables", "build_eval_sets", "doc_split_lookup"]


@dataclass(frozen=True)
class EvalTables:
    pairs: pd.DataFrame  # training_splits
    chunks: pd.DataFrame  # document_chunks
    documents: pd.DataFrame  # source_documents (live)
    human_eval: pd.DataFrame
    human_questions: pd.DataFrame
    search_judgments: pd.DataFrame | None = None

    @classmethod
    def read(cls, conn: duckdb.DuckDBPyConnection) -> EvalTables:
        documents = read_table(conn, SOURCE_DOCUMENTS)
        live = documents[~documents["deleted"].fillna(False).astype(bool)]
        return cls(
            read_table(conn, TRAINING_SPLITS),
            read_table(conn, DOCUMENT_CHUNKS),
            live.reset_index(drop=True),
            read_table(conn, HUMAN_EVAL),
            read_table(conn, HUMAN_QUESTIONS),
            read_table(conn, SEARCH_JUDGMENTS),
        )


def doc_split_lookup(pairs: pd.DataFrame, settings: Settings) -> Callable[[str], str]:
    """A document's split: as ``training_splits`` has it, else by the split rule."""
    known = dict(zip(pairs["doc_id"], pairs["split"], strict=True))
    return lambda doc: str(known.get(doc) or split_of(doc, settings.splits))


def _merged(
    name: str,
    rows: Iterable[dict[str, object]],
    index: ChunkIndex,
    prefix: str,
    split: str = "test",
) -> EvalSet:
    """Rows of (query, chunk_id, source) merged by query text, relevance expanded."""
    merged: dict[str, dict[str, object]] = {}
    missing = 0
    for row in rows:
        text = " ".join(str(row["query"]).split())
        if not text or row["chunk_id"] not in index:
            missing += bool(text)
            continue
        qid = query_id(prefix, text)
        entry = merged.setdefault(
            qid,
            {
                "query_id": qid,
                "query": text,
                "chunks": set(),
                "sources": set(),
                "doc_id": index.doc[str(row["chunk_id"])],
                "split": split,
            },
        )
        entry["chunks"].add(str(row["chunk_id"]))  # type: ignore[attr-defined]
        entry["sources"].add(str(row["source"]))  # type: ignore[attr-defined]
    records = [
        {
            **{k: v for k, v in e.items() if k not in ("chunks", "sources")},
            "relevant_chunk_ids": sorted(expand_relevance(e["chunks"], index)),  # type: ignore[arg-type]
            "source": ",".join(sorted(e["sources"])),  # type: ignore[call-overload]
        }
        for e in merged.values()
    ]
    notes = [f"{missing} {name} rows name a chunk no longer in document_chunks"] if missing else []
    return build_set(name, records, notes)


def _synthetic_source(generator: object, model: object) -> str:
    model = str(model or "")
    return (
        f"synthetic:{model.removeprefix('offline:')}"
        if model.startswith("offline:")
        else (f"synthetic:{generator}")
    )


def synthetic_set(pairs: pd.DataFrame, index: ChunkIndex, split: str = "test") -> EvalSet:
    """Generated queries of one split: ``test``, or ``validation`` once the test split
    trains (real questions gate; see ``embedloop.evaluation.holdout``)."""
    test = pairs[(pairs["split"] == split) & (pairs["generator"] != HUMAN_CORRECTION)]
    rows = (
        {"query": q, "chunk_id": c, "source": _synthetic_source(g, m)}
        for q, c, g, m in zip(
            test["query"], test["chunk_id"], test["generator"], test["model"], strict=True
        )
    )
    built = _merged("synthetic", rows, index, "s-", split)
    if split == "test":
        return built
    note = f"synthetic: {split} split (real questions gate, so the test split trains too)"
    return replace(built, notes=(*built.notes, note))


def human_set(
    human_eval: pd.DataFrame,
    human_questions: pd.DataFrame,
    index: ChunkIndex,
    doc_split: Callable[[str], str],
) -> EvalSet:
    """Reviewed test pairs and written test questions whose passage is still a test-split
    chunk: one whose document moved to train since is training data now, left out."""
    reviewed = [
        {"query": q, "chunk_id": c, "source": f"argilla:review-{o or 'accepted'}"}
        for q, c, o in zip(
            human_eval["query"], human_eval["chunk_id"], human_eval["origin"], strict=True
        )
    ]
    test = human_questions[human_questions["split"] == "test"]
    written = [
        {"query": q, "chunk_id": c, "source": "argilla:question-task"}
        for q, c in zip(test["query"], test["chunk_id"], strict=True)
    ]
    rows = [*reviewed, *written]
    kept = [
        r
        for r in rows
        if r["chunk_id"] not in index or doc_split(index.doc[r["chunk_id"]]) == "test"
    ]
    built = _merged("human", kept, index, "h-")
    if len(kept) < len(rows):
        note = f"{len(rows) - len(kept)} human rows answer from documents no longer in test"
        return replace(built, notes=(*built.notes, note))
    return built


def searches_set(judgments: pd.DataFrame | None, index: ChunkIndex) -> EvalSet:
    """Judged evaluation searches; those whose answer was not among the hits are noted."""
    if judgments is None or judgments.empty:
        return empty_set("searches")
    rows, unanswered = evaluation_rows(judgments)
    built = _merged("searches", rows, index, "sr-", split="search")
    if unanswered:
        note = f"{unanswered} evaluation searches had no returned passage that answers"
        return replace(built, notes=(*built.notes, note))
    return built


def questions_set(
    settings: Settings, tables: EvalTables, doc_split: Callable[[str], str]
) -> EvalSet:
    """The ``questions`` set: the team's question files, then FAQ headings of test pages.

    Args:
        settings: The project settings (``evaluation`` section).
        tables: The chunks, documents and splits as the warehouse holds them.
        doc_split: The split of a document id.

    Returns:
        The set (file questions, then headings not already asked), with the notes of
        skipped rows.
    """
    locator = Locator(tables.chunks, tables.documents)
    frames: list[pd.DataFrame] = []
    notes: list[str] = []
    asked: set[str] = set()
    for path in settings.evaluation.question_files:
        rows = read_question_rows(path)
        part = rows_to_set(
            path, rows, locator, settings.evaluation.skip_unmatched, doc_split, "questions"
        )
        frames.append(part.provenance)
        notes += part.notes
        asked |= {slug(r.question) for r in rows}
    if settings.evaluation.harvest_faq:
        harvested = harvest_faq(tables.chunks, doc_split, frozenset(asked))
        frames.append(harvested.provenance)
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PROVENANCE_COLUMNS)
    )
    return build_set("questions", frame.to_dict("records"), notes)


def build_eval_sets(settings: Settings, tables: EvalTables) -> dict[str, EvalSet]:
    """``synthetic``, ``human``, ``questions`` and ``searches`` over the current chunks."""
    if tables.chunks.empty:
        raise ValueError("document_chunks is empty: materialize it before the evaluation sets")
    index = ChunkIndex(tables.chunks)
    doc_split = doc_split_lookup(tables.pairs, settings)
    real = {
        "human": human_set(tables.human_eval, tables.human_questions, index, doc_split),
        "questions": questions_set(settings, tables, doc_split),
        "searches": searches_set(tables.search_judgments, index),
    }
    gate = real_questions_gate(
        {k: len(v) for k, v in real.items()}, settings.training.min_real_queries
    )
    synthetic = synthetic_set(tables.pairs, index, "validation" if gate else "test")
    return {"synthetic": synthetic, **real}
