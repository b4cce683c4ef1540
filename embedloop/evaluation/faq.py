"""FAQ pages already in the docs: question headings and the sections that answer them.

A heading that ends in "?" ("How do I reset my password?", "5.8 Why is my build slow?") is a
question someone really asked, and its section is the answer. Only test-split documents
are harvested: a train-split FAQ heading is already a training query (heading strategy),
so scoring on it would measure recall of the training set.

A chunk's text begins with its own heading, so an answer chunk would begin with the very
question asked: every model finds it by copy. ``without_question_headings`` drops that
line from the corpus that models are scored on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from embedloop.chunking.sections import HEADING_SEPARATOR
from embedloop.evaluation.locate import slug
from embedloop.evaluation.sets import ChunkIndex, EvalSet, build_set, expand_relevance, query_id

SOURCE = "harvested-faq"
MIN_WORDS = 3
# "1.2.3 ", "Q: ", "Q. ", "Question 4: " before the question itself.
_PREFIX = re.compile(r"^\s*(?:\d+(?:\.\d+)*\.?\s+|q(?:uestion)?\s*\d*\s*[:.]\s*)", re.IGNORECASE)


def question_heading(heading: str) -> str | None:
    """The question a heading asks, without its numbering, or None for other headings."""
    text = _PREFIX.sub("", " ".join(heading.split())).strip()
    if not text.endswith("?") or len(text.split()) < MIN_WORDS:
        return None
    return text


def harvest_faq(
    chunks: pd.DataFrame,
    doc_split: Callable[[str], str],
    skip_questions: set[str] | frozenset[str] = frozenset(),
) -> EvalSet:
    """Question headings of test-split documents as a ``questions`` set.

    ``skip_questions``: slugs of questions a question file already asks (not counted twice).
    """
    index = ChunkIndex(chunks)
    records: dict[str, dict[str, object]] = {}
    for (doc, path), members in sorted(index.sections.items()):
        if not path or doc_split(doc) != "test":
            continue
        question = question_heading(path.split(HEADING_SEPARATOR)[-1])
        if question is None or slug(question) in skip_questions:
            continue
        # Subsections belong to the answer too.
        answer = [
            c
            for (d, p), cs in index.sections.items()
            if d == doc
            for c in cs
            if p == path or p.startswith(path + HEADING_SEPARATOR)
        ]
        qid = query_id("faq-", f"{doc}\n{path}")
        records[qid] = {
            "query_id": qid,
            "query": question,
            "relevant_chunk_ids": sorted(expand_relevance(answer or members, index)),
            "source": SOURCE,
            "split": "test",
            "doc_id": doc,
        }
    return build_set("questions", records.values())


def without_question_headings(chunks: pd.DataFrame) -> pd.DataFrame:
    """The chunks with a question heading's line removed from the start of their text.

    Only the heading the chunk begins with (the last of its path) is removed, and only
    when it asks a question (see ``question_heading``); other chunks are returned as-is.
    """
    last = chunks["heading_path"].fillna("").map(lambda p: p.split(HEADING_SEPARATOR)[-1])

    def strip(text: str, heading: str) -> str:
        first, sep, rest = text.partition("\n")
        if sep and heading and first.strip() == heading.strip() and question_heading(heading):
            return rest.lstrip("\n") or text
        return text

    texts = [strip(t, h) for t, h in zip(chunks["text"], last, strict=True)]
    return chunks.assign(text=texts)
