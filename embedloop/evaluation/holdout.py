"""What may train once people's questions gate: every document, but never their questions.

Until real questions (``questions`` + ``human``) hold ``training.min_real_queries``, the test
split's documents are held out so the synthetic test set measures unseen text. After that
the gate judges on the questions, and holding documents out only leaves them unadapted: the
pages people's questions are answered by are the pages worth learning. So the test split
trains too, and what stays out is the questions themselves:

- a pair whose query contains a gate question (a reviewer's correction, a generated query
  that copied a FAQ heading) is dropped;
- a passage line that is a gate question (the FAQ heading an answer chunk starts with) is
  removed from the passage, as the scored corpus removes it; a passage that still holds a
  question elsewhere is dropped.

``question_leaks`` is the check behind it: any gate question found in a training input is
a leak, and the evaluation step refuses such a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from embedloop.pairs.filters import normalize_query

TEXT_COLUMNS = ("query", "positive", "negative")
MIN_QUESTION_WORDS = 3  # shorter "questions" ("Why?") would match everywhere
HEADING_EXTRA_WORDS = 4  # "5.8.1", "Q:", "Question 4:" around a question heading


@dataclass(frozen=True)
class QuestionGuard:
    """Normalized gate questions, matched word for word inside normalized texts."""

    questions: tuple[str, ...]

    @classmethod
    def of(cls, questions: Iterable[str]) -> QuestionGuard:
        norm = {normalize_query(q) for q in questions}
        return cls(tuple(sorted(q for q in norm if len(q.split()) >= MIN_QUESTION_WORDS)))

    def found_in(self, text: object) -> str | None:
        """The first gate question ``text`` contains, or None."""
        if not isinstance(text, str) or not text or not self.questions:
            return None
        padded = f" {normalize_query(text)} "
        return next((q for q in self.questions if f" {q} " in padded), None)

    def strip_lines(self, text: object) -> object:
        """``text`` without the lines that are a gate question, give or take a section
        number or a "Q:" (a FAQ heading)."""
        if not isinstance(text, str) or not self.questions:
            return text

        def heading(line: str) -> bool:
            found = self.found_in(line)
            extra = len(normalize_query(line).split()) - len(found.split()) if found else 0
            return found is not None and extra <= HEADING_EXTRA_WORDS

        return "\n".join(ln for ln in text.split("\n") if not heading(ln)).strip("\n")


@dataclass(frozen=True)
class Withheld:
    """The training pairs with gate questions kept out, and what that took."""

    pairs: pd.DataFrame
    dropped_query: int = 0
    dropped_passage: int = 0
    stripped_lines: int = 0
    cleared_negatives: int = 0

    def as_metadata(self) -> dict[str, int]:
        return {
            "gate_questions_dropped_queries": self.dropped_query,
            "gate_questions_dropped_passages": self.dropped_passage,
            "gate_questions_stripped_headings": self.stripped_lines,
            "gate_questions_cleared_negatives": self.cleared_negatives,
        }


def withhold_questions(pairs: pd.DataFrame, questions: Sequence[str]) -> Withheld:
    """``pairs`` with no gate question in any training input (see the module docstring)."""
    guard = QuestionGuard.of(questions)
    if pairs.empty or not guard.questions:
        return Withheld(pairs)
    asked = pairs["query"].map(guard.found_in).notna()
    kept = pairs[~asked].copy()
    stripped = 0
    for column in ("positive", "negative"):
        if column not in kept:
            continue
        before = kept[column]
        kept[column] = before.map(guard.strip_lines)
        stripped += int((before.fillna("") != kept[column].fillna("")).sum())
    # A hard negative that still quotes a question (or held only it) is cleared; such a
    # positive drops the pair.
    cleared = 0
    if "negative" in kept:
        negative = kept["negative"]
        kept["negative"] = negative.where(negative.map(guard.found_in).isna() & (negative != ""))
        cleared = int((negative.notna() & kept["negative"].isna()).sum())
    quoted = kept["positive"].map(guard.found_in).notna() | (kept["positive"] == "")
    kept = kept[~quoted].reset_index(drop=True)
    return Withheld(kept, int(asked.sum()), int(quoted.sum()), stripped, cleared)


def question_leaks(pairs: pd.DataFrame, questions: Sequence[str]) -> list[tuple[str, str]]:
    """(question, column) for every gate question found in a training input of ``pairs``."""
    guard = QuestionGuard.of(questions)
    leaks: dict[tuple[str, str], None] = {}
    for column in TEXT_COLUMNS:
        if column not in pairs:
            continue
        for text in pairs[column]:
            found = guard.found_in(text)
            if found:
                leaks[(found, column)] = None
    return list(leaks)
