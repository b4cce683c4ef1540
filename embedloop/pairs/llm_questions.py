"""The prompt a small local LLM can follow, and the parser that keeps only real questions.

distilabel's ``GenerateSentencePair`` asks for a query and a hard negative in one answer:
twice the output, in a format a 0.5B model often breaks. Here the model writes questions
only, ``n`` numbered lines per passage (the passage is read once for all of them), and the
hard negatives are mined from the corpus as for every other generator.

The parser drops what is not a usable question, with a reason per line, and strips what
small models add to good ones ("... in the given passage?"). ``PROMPT_VERSION`` is part of
the generation cache key: change the prompt or the parser, bump it, and every chunk is
asked again.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

PROMPT_VERSION = 1

SYSTEM_PROMPT = (
    "You write the questions that people type into the search box of {corpus}."
    " Each question is short, specific, and answered by the passage."
)
USER_PROMPT = (
    "Passage:\n{passage}\n\n"
    "Write {n} different questions that a user could ask and that this passage answers."
    " Do not mention the passage or the documentation. Write one question per line,"
    " numbered 1., 2., and nothing else."
)
# A passage is cut here before it reaches the prompt: small models lose the instruction
# after long inputs, and the chunker's chunks are shorter anyway.
MAX_PASSAGE_CHARS = 2400

# Why a line was not kept (each counted in the asset's metadata).
DROP_REASONS = ("empty", "too_long", "not_a_question", "repeated", "prompt_echo")

_NUMBERING = re.compile(r"^\s*(?:[-*•]\s*|\(?\d{1,2}[.):]\s*|q(?:uestion)?\s*\d*\s*[:.]\s*)", re.I)
# "... in the given passage?", "... according to the documentation?", "... in Linux?" stays.
_ARTEFACT = re.compile(
    r"\s*(?:,\s*)?(?:as\s+)?(?:(?:in|from|according\s+to|based\s+on|described\s+in|mentioned"
    r"\s+in)\s+)(?:the|this|a|an)\s+(?:given\s+|provided\s+|above\s+|following\s+)?"
    r"(?:technical\s+)?(?:passage|text|documentation|document|context|excerpt|section)\s*(?=\?$)",
    re.I,
)
_ECHO = re.compile(r"\b(passage|numbered|one question per line|search box)\b", re.I)
_QUESTION_START = re.compile(
    r"^(how|what|why|when|where|which|who|whom|whose|can|could|should|is|are|does|do|did|"
    r"will|would|may|must|has|have)\b",
    re.I,
)


def messages(passage: str, n: int, corpus: str) -> list[dict[str, str]]:
    """The chat messages asking for ``n`` questions about ``passage``."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT.format(corpus=corpus)},
        {
            "role": "user",
            "content": USER_PROMPT.format(passage=passage[:MAX_PASSAGE_CHARS].strip(), n=n),
        },
    ]


@dataclass
class ParsedQuestions:
    questions: list[str]
    dropped: Counter[str] = field(default_factory=Counter)


def parse_questions(raw: str | None, n: int, max_words: int = 40) -> ParsedQuestions:
    """The first ``n`` usable questions of one answer, and why the other lines were dropped.

    ``None`` (no answer at all) gives nothing and counts nothing: the caller counts errors.
    """
    parsed = ParsedQuestions([])
    if raw is None:
        return parsed
    seen: set[str] = set()
    lines = [line for line in raw.splitlines() if line.strip()] or [""]
    for line in lines:
        question, reason = _clean_line(line, max_words)
        if question is not None and question.lower() in seen:
            reason, question = "repeated", None
        if question is None:
            parsed.dropped[reason] += 1
            continue
        seen.add(question.lower())
        if len(parsed.questions) < n:
            parsed.questions.append(question)
    return parsed


def _clean_line(line: str, max_words: int) -> tuple[str | None, str]:
    text = _NUMBERING.sub("", line.strip(), count=1).strip().strip('"').strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text).strip()
    if not text:
        return None, "empty"
    text = re.sub(r"\s+\?$", "?", _ARTEFACT.sub("", text))
    if _ECHO.search(text):
        return None, "prompt_echo"
    if not (text.endswith("?") or _QUESTION_START.match(text)):
        return None, "not_a_question"
    if not text.endswith("?"):
        text += "?"
    if len(text.split()) > max_words:
        return None, "too_long"
    return text[0].upper() + text[1:], ""
