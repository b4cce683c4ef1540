"""Training and evaluation inputs read from the DuckDB warehouse.

Plain functions, no ZenML: the steps call them and the unit tests call them directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from embedloop.config import Settings
from embedloop.evaluation.faq import without_question_headings
from embedloop.evaluation.gate import real_questions_gate
from embedloop.evaluation.holdout import Withheld, question_leaks, withhold_questions
from embedloop.evaluation.sets import REAL_SETS, EvalSet, leaked_documents
from embedloop.splits import SPLITS
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    EVALUATION_QUERIES,
    TRAINING_SPLITS,
    read_table,
)

CORPUS_COLUMNS = ["chunk_id", "text"]


@dataclass(frozen=True)
class IRInputs:
    """What an InformationRetrievalEvaluator needs: query -> chunk retrieval."""

    queries: dict[str, str]  # qid -> query text
    corpus: dict[str, str]  # chunk_id -> chunk text
    relevant_docs: dict[str, set[str]]  # qid -> relevant chunk_ids
    # Relevant chunks that are no longer in document_chunks; their passage was added back.
    restored_chunks: int = 0
    notes: list[str] = field(default_factory=list)


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    if not path.is_file():
        raise FileNotFoundError(f"warehouse not found: {path}")
    return duckdb.connect(str(path), read_only=True)


def read_pairs_and_corpus(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``training_splits`` (all splits) and the current corpus (chunk_id, text)."""
    with _connect(settings.warehouse_path) as conn:
        pairs = read_table(conn, TRAINING_SPLITS)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
    # Sorted so that datasets, qids and the snapshot hash do not depend on storage order.
    pairs = pairs.sort_values("pair_id", kind="stable").reset_index(drop=True)
    corpus = chunks[CORPUS_COLUMNS].sort_values("chunk_id", kind="stable").reset_index(drop=True)
    return pairs, corpus


def split_frame(pairs: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split.

    Args:
        pairs: ``training_splits`` rows.
        split: ``train``, ``validation`` or ``test``.

    Returns:
        Those rows, re-indexed from 0.
    """
    return pairs[pairs["split"] == split].reset_index(drop=True)


def gate_questions(settings: Settings) -> dict[str, list[str]]:
    """The real questions the gate will judge on (``questions`` and ``human`` of
    ``evaluation_queries``), by set; empty before ``evaluation_sets`` is materialized."""
    with _connect(settings.warehouse_path) as conn:
        queries = read_table(conn, EVALUATION_QUERIES)
    return {
        name: [str(q) for q in queries.loc[queries["set_name"] == name, "query"]]
        for name in REAL_SETS
    }


@dataclass(frozen=True)
class TrainingFrame:
    """The pairs a run trains on, and why those."""

    pairs: pd.DataFrame
    validation: pd.DataFrame  # picks the checkpoint and the averaging share
    every_document: bool  # True once real questions gate: the test split trains too
    withheld: Withheld | None = None

    def as_metadata(self) -> dict[str, object]:
        held = self.withheld.as_metadata() if self.withheld else {}
        trained = sorted(TRAINED_SPLITS[self.every_document])
        return {"trained_splits": trained, **held}


# Which splits train: before real questions gate, and after.
TRAINED_SPLITS = {False: ("train",), True: ("train", "test")}


def training_frame(
    pairs: pd.DataFrame, questions: dict[str, list[str]], min_real_queries: int
) -> TrainingFrame:
    """The train split; once real questions gate, the test split's documents as well, with
    every gate question kept out of every training input (``withhold_questions``).

    Validation stays out either way: it picks the checkpoint and the averaging share, and
    carries the synthetic figure once the test split trains."""
    sizes = {name: len(set(qs)) for name, qs in questions.items()}
    validation = split_frame(pairs, "validation")
    if not real_questions_gate(sizes, min_real_queries):
        return TrainingFrame(split_frame(pairs, "train"), validation, every_document=False)
    chosen = pairs[pairs["split"].isin(TRAINED_SPLITS[True])].reset_index(drop=True)
    asked = [q for qs in questions.values() for q in qs]
    withheld = withhold_questions(chosen, asked)
    validation = withhold_questions(validation, asked).pairs
    return TrainingFrame(withheld.pairs, validation, every_document=True, withheld=withheld)


def require_rows(frame: pd.DataFrame, what: str) -> None:
    """Refuse to train on nothing.

    Args:
        frame: The table read.
        what: How the error names it.

    Raises:
        ValueError: When ``frame`` is empty.
    """
    if frame.empty:
        raise ValueError(f"{what} is empty: materialize training_splits first")


def data_snapshot(pairs: pd.DataFrame, corpus: pd.DataFrame) -> dict[str, object]:
    """A hash that changes whenever the pairs, their split or the corpus membership changes."""
    digest = hashlib.sha256()
    for pair_id, split in sorted(zip(pairs["pair_id"], pairs["split"], strict=True)):
        digest.update(f"p\t{pair_id}\t{split}\n".encode())
    for chunk_id in sorted(corpus["chunk_id"]):
        digest.update(f"c\t{chunk_id}\n".encode())
    counts = {s: int((pairs["split"] == s).sum()) for s in SPLITS}
    return {
        "hash": digest.hexdigest(),
        "rows": {
            **counts,
            "chunks": len(corpus),
            "train_with_negative": int(_has_negative(split_frame(pairs, "train")).sum()),
        },
    }


def _has_negative(frame: pd.DataFrame) -> pd.Series:
    text = frame["negative"].astype("string").str.strip()
    return (text.notna() & (text != "")).fillna(False).astype(bool)


def train_datasets(train: pd.DataFrame, use_hard_negatives: bool, batch_size: int):
    """The training data for MultipleNegativesRankingLoss, named by shape.

    Rows with a hard negative become (anchor, positive, negative) triplets; the others stay
    (anchor, positive) pairs in a second dataset, so no negative is dropped and no row gets
    a fake one. Batches are drawn from one dataset at a time (the trainer's multi-dataset
    sampler), so a batch never mixes shapes. Fewer triplets than one batch would only give
    small, weak batches: then everything trains as pairs.
    """
    from datasets import Dataset, DatasetDict

    require_rows(train, "the train split")
    pairs = pd.DataFrame({"anchor": train["query"], "positive": train["positive"]})
    has_neg = _has_negative(train) if use_hard_negatives else pd.Series(False, index=train.index)
    if int(has_neg.sum()) < batch_size:
        return Dataset.from_pandas(pairs, preserve_index=False)
    triplets = pairs[has_neg].assign(negative=train.loc[has_neg, "negative"])
    parts = {"triplets": triplets, "pairs": pairs[~has_neg]}
    return DatasetDict(
        {
            name: Dataset.from_pandas(df, preserve_index=False)
            for name, df in parts.items()
            if len(df)
        }
    )


def ir_inputs(split_pairs: pd.DataFrame, corpus: pd.DataFrame) -> IRInputs:
    """Query -> chunk retrieval over ALL current chunks, the realistic set of distractors.

    Identical query texts become one query whose relevant set is the union of their
    chunks: scoring them separately would count a correct answer as a miss.
    """
    require_rows(split_pairs, "the evaluation split")
    docs = dict(zip(corpus["chunk_id"], corpus["text"], strict=True))
    queries: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    restored = 0
    for query, chunk_id, positive in zip(
        split_pairs["query"], split_pairs["chunk_id"], split_pairs["positive"], strict=True
    ):
        text = str(query).strip()
        qid = "q" + hashlib.sha1(text.encode()).hexdigest()[:16]
        queries[qid] = text
        relevant.setdefault(qid, set()).add(str(chunk_id))
        if chunk_id not in docs and isinstance(positive, str) and positive:
            # The chunk was re-chunked away after the pair was made; its passage still is
            # the right answer, so it goes back into the corpus rather than the query out.
            docs[str(chunk_id)] = positive
            restored += 1
    notes = [f"{restored} relevant chunks were missing from the corpus"] if restored else []
    return IRInputs(queries, docs, relevant, restored_chunks=restored, notes=notes)


def read_evaluation_data(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The corpus as scored (chunk_id, text) and the ``evaluation_queries`` table."""
    with _connect(settings.warehouse_path) as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        queries = read_table(conn, EVALUATION_QUERIES)
    if queries.empty:
        raise ValueError(
            "evaluation_queries is empty: no test-split pairs, human questions or question "
            "files to evaluate on (materialize evaluation_sets after training_splits)"
        )
    # Scored without FAQ question headings: an answer must not begin with its question.
    corpus = (
        without_question_headings(chunks)[CORPUS_COLUMNS]
        .sort_values("chunk_id", kind="stable")
        .reset_index(drop=True)
    )
    queries = queries.sort_values(["set_name", "query_id"], kind="stable").reset_index(drop=True)
    # Plain lists: DuckDB's VARCHAR[] arrives as numpy arrays, which the artifact store and
    # JSON metadata do not round-trip.
    queries["relevant_chunk_ids"] = queries["relevant_chunk_ids"].map(lambda ids: [*map(str, ids)])
    return corpus, queries


def training_documents(*frames: pd.DataFrame | None) -> set[str]:
    """Documents a model's training data (train and validation pairs) came from."""
    return {str(d) for f in frames if f is not None and not f.empty for d in f["doc_id"]}


def check_no_leak(
    sets: dict[str, EvalSet],
    train_pairs: pd.DataFrame,
    validation_pairs: pd.DataFrame | None,
    min_real_queries: int,
) -> None:
    """Refuse a candidate whose training data saw what the gate judges it on.

    While generated queries gate, that is any test-split document; once real questions
    gate (every document trains), any of those questions in a training input."""
    sizes = {name: len(s) for name, s in sets.items()}
    if real_questions_gate(sizes, min_real_queries):
        asked = [q for name in REAL_SETS for q in sets[name].queries.values()]
        leaks = question_leaks(train_pairs, asked)
        if leaks:
            shown = "; ".join(f"{q!r} in {col}" for q, col in leaks[:3])
            raise ValueError(
                f"refusing to evaluate: {len(leaks)} gate question(s) appear in the "
                f"candidate's training data ({shown}); retrain it"
            )
        return
    leaked = leaked_documents(training_documents(train_pairs, validation_pairs), sets)
    if leaked:
        shown = ", ".join(leaked[:5]) + (f" and {len(leaked) - 5} more" if len(leaked) > 5 else "")
        raise ValueError(
            f"refusing to evaluate: the candidate was trained on {len(leaked)} document(s) now "
            f"in the test split ({shown}); the split changed since it was trained, retrain it"
        )
