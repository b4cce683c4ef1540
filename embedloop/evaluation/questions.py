"""Question files: the real questions a team already has (search logs, tickets, an FAQ).

CSV (with a header row) or JSONL, one question per row: ``question`` and where its answer
is, in any of ``document`` (uri, path relative to its source, or URL; optionally
``#anchor``), ``section`` (heading text) and ``answer`` (a quoted passage); optional ``id``
and ``source``. See ``embedloop.evaluation.locate`` for how locations resolve.

A malformed file fails as a whole, naming file, line and value for every bad row, before
anything is written. A row whose location matches nothing is an error too, unless
``skip_unmatched``: then it is reported in the set's notes and left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from embedloop.evaluation.locate import LocateError, Locator
from embedloop.evaluation.sets import EvalSet, build_set, expand_relevance

QUESTION = "question"
LOCATIONS = ("document", "section", "answer")
_MAX_SHOWN = 20


class QuestionFileError(ValueError):
    """A question file is unreadable, malformed or names answers that do not exist."""


@dataclass(frozen=True)
class QuestionRow:
    line: int
    question: str
    document: str | None
    section: str | None
    answer: str | None
    id: str | None
    source: str | None


def _value(raw: dict[str, object], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _row(path: Path, line: int, raw: dict[str, object], errors: list[str]) -> QuestionRow | None:
    raw = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
    question = _value(raw, QUESTION)
    if question is None:
        errors.append(f"{path}:{line}: empty question ({QUESTION}={raw.get(QUESTION)!r})")
        return None
    locations = {k: _value(raw, k) for k in LOCATIONS}
    if not any(locations.values()):
        errors.append(
            f"{path}:{line}: no answer location for question {question!r}: "
            f"give one of {', '.join(LOCATIONS)}"
        )
        return None
    return QuestionRow(
        line, question, **locations, id=_value(raw, "id"), source=_value(raw, "source")
    )


def _csv_rows(path: Path, text: str, errors: list[str]) -> Iterator[tuple[int, dict]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [str(h).strip().lower() for h in reader.fieldnames or []]
    if QUESTION not in header or not any(k in header for k in LOCATIONS):
        errors.append(
            f"{path}:1: missing column: the header needs {QUESTION!r} and one of "
            f"{', '.join(map(repr, LOCATIONS))} (found {', '.join(header) or 'nothing'})"
        )
        return
    start = 2
    for raw in reader:
        if None in raw:  # more values than columns
            errors.append(f"{path}:{start}: more values than columns: {raw[None]!r}")  # type: ignore[index]
        elif any(v is not None and str(v).strip() for v in raw.values()):
            yield start, raw
        start = reader.line_num + 1


def _jsonl_rows(path: Path, text: str, errors: list[str]) -> Iterator[tuple[int, dict]]:
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            raw = json.loads(content)
        except json.JSONDecodeError as err:
            errors.append(f"{path}:{line}: bad JSON ({err.msg}): {content[:80]!r}")
            continue
        if not isinstance(raw, dict):
            errors.append(f"{path}:{line}: expected a JSON object, got {content[:80]!r}")
        elif QUESTION not in raw:
            errors.append(f"{path}:{line}: missing column {QUESTION!r}: {content[:80]!r}")
        else:
            yield line, raw


def read_question_rows(path: Path | str) -> list[QuestionRow]:
    """Parse a question file; QuestionFileError lists every malformed row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise QuestionFileError(f"cannot read question file {path}: {err}") from None
    errors: list[str] = []
    is_jsonl = path.suffix.lower() in (".jsonl", ".ndjson", ".json")
    raw_rows = (_jsonl_rows if is_jsonl else _csv_rows)(path, text, errors)
    rows = [r for line, raw in raw_rows if (r := _row(path, line, raw, errors)) is not None]
    ids = [r.id for r in rows if r.id]
    errors += [f"{path}: duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    _raise(path, errors)
    if not rows:
        raise QuestionFileError(f"question file {path} holds no questions")
    return rows


def _raise(path: Path, errors: list[str]) -> None:
    if errors:
        more = f"\n  ... and {len(errors) - _MAX_SHOWN} more" if len(errors) > _MAX_SHOWN else ""
        shown = "\n  ".join(errors[:_MAX_SHOWN])
        raise QuestionFileError(f"question file {path} has {len(errors)} errors:\n  {shown}{more}")


def _describe(row: QuestionRow) -> str:
    given = {k: getattr(row, k) for k in LOCATIONS if getattr(row, k)}
    return ", ".join(f"{k}={v if len(v) <= 80 else v[:77] + '...'!r}" for k, v in given.items())


def load_question_file(
    path: Path | str,
    chunks: pd.DataFrame,
    documents: pd.DataFrame | None = None,
    *,
    skip_unmatched: bool = False,
    doc_split: Callable[[str], str] | None = None,
    set_name: str = "questions",
) -> EvalSet:
    """The questions of one file as an EvalSet over ``chunks`` (``document_chunks``).

    ``documents`` (``source_documents``) lets a row name its document by ``uri``;
    ``doc_split`` gives each query's split for its provenance row.
    """
    path = Path(path)
    rows = read_question_rows(path)
    return rows_to_set(path, rows, Locator(chunks, documents), skip_unmatched, doc_split, set_name)


def rows_to_set(
    path: Path,
    rows: list[QuestionRow],
    locator: Locator,
    skip_unmatched: bool,
    doc_split: Callable[[str], str] | None,
    set_name: str,
) -> EvalSet:
    """Locate each question's answer in the chunks and build the set from them.

    Args:
        path: The question file, for error messages.
        rows: Its rows (``read_question_rows``).
        locator: Finds the chunks of a document, section or answer passage.
        skip_unmatched: Report and skip rows whose answer matches no chunk, else fail.
        doc_split: The split of a document id, or None when splits do not matter.
        set_name: The set's name (``questions``, or a bring-your-own file's).

    Returns:
        The evaluation set with provenance per query.

    Raises:
        QuestionFileError: When rows match no chunk and ``skip_unmatched`` is false.
    """
    errors: list[str] = []
    records = []
    for row in rows:
        try:
            positives = locator.locate(row.document, row.section, row.answer)
        except LocateError as err:
            errors.append(f"{path}:{row.line}: {err} ({_describe(row)})")
            continue
        doc = min(locator.index.doc[c] for c in positives)
        records.append(
            {
                "query_id": f"{path.name}:{row.id or row.line}",
                "query": row.question,
                "relevant_chunk_ids": sorted(expand_relevance(positives, locator.index)),
                "source": row.source or f"file:{path.name}",
                "split": doc_split(doc) if doc_split else "",
                "doc_id": doc,
            }
        )
    if errors and not skip_unmatched:
        _raise(path, errors)
    notes = [f"skipped (evaluation.skip_unmatched): {e}" for e in errors]
    return build_set(set_name, records, notes)
