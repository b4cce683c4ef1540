"""LLM-free pseudo-queries from a chunk and its context.

Weak supervision that needs no model: section titles with their context as keyword queries
(the title→passage pairs behind E5-style pre-training), questions phrased from headings,
definitions and summary sentences, sentences of a neighbouring chunk of the same section
(Inverse Cloze Task), and identifiers from code blocks. Strategies are interleaved so a
chunk's few queries are of different kinds.

Every query is meant for the exact chunk text as its positive (the corpus's surface form),
so a query made only of the chunk's own words is a copy that evaluation would flatter. A
query whose content words all occur in the chunk therefore gets the nearest context the
chunk does not spell out (an outer heading or the document title), as a user who asks
"How do I … in sqlite3?" would. What still copies the chunk is dropped later by
``filters.copy_kind``. Terms are cleaned (section numbers, ``class``/``method`` prefixes,
markup) and templates are never applied to non-terms (pronouns, determiners, verbs), which
``terms`` decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from embedloop.pairs.terms import (
    clean_heading,
    contains_passage,
    content_words,
    humanize,
    is_object_phrase,
    is_question,
    is_term,
    normalize,
)

STRATEGIES = ("heading", "question", "definition", "inverse_cloze", "identifier")

# Candidates per strategy and chunk: enough to skip a few non-terms, bounded for speed.
_PER_STRATEGY = 6


@dataclass(frozen=True)
class PseudoQuery:
    query: str
    strategy: str


@dataclass(frozen=True)
class _Chunk:
    text: str
    words: frozenset[str]  # content words of the text
    headings: list[str]  # outer → inner, cleaned
    title: str
    prose: list[str]  # sentences outside code blocks
    code: list[str]  # code block contents
    neighbour_prose: list[str]  # sentences of adjacent chunks of the same section


def pseudo_queries(
    text: str,
    heading_path: str,
    title: str,
    n: int,
    strategies: Sequence[str],
    neighbours: Sequence[str] = (),
) -> list[PseudoQuery]:
    """Up to ``n`` distinct pseudo-queries, alternating between the enabled strategies.

    ``neighbours`` are the texts of the adjacent chunks of the same section: the inverse
    cloze strategy takes its sentences from them, never from this chunk.
    """
    chunk = _analyse(text, heading_path, title, neighbours)
    generators = [
        (name, _bounded(_GENERATORS[name](chunk))) for name in STRATEGIES if name in strategies
    ]
    seen: set[str] = set()
    out: list[PseudoQuery] = []
    while generators and len(out) < n:
        for name, candidates in list(generators):
            query = next(candidates, None)
            if query is None:
                generators.remove((name, candidates))
                continue
            key = normalize(query.query)
            if key and key not in seen:
                seen.add(key)
                out.append(query)
                if len(out) == n:
                    break
    return out


def _bounded(candidates: Iterator[PseudoQuery]) -> Iterator[PseudoQuery]:
    for i, query in enumerate(candidates):
        if i >= _PER_STRATEGY:
            return
        yield query


# --- chunk analysis ----------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")
_MARKUP = re.compile(r"[`*#>\[\]]")
_URL = re.compile(r"<?https?://\S+>?")


def _analyse(text: str, heading_path: str, title: str, neighbours: Sequence[str]) -> _Chunk:
    headings = [h for h in (clean_heading(p) for p in heading_path.split(" > ")) if h]
    lines = text.strip().splitlines()
    body = text
    # The chunker repeats the innermost heading as the chunk's first line.
    if lines and headings and clean_heading(lines[0]) == headings[-1]:
        body = "\n".join(lines[1:]).strip()
    code = [m.group(2) for m in _FENCE.finditer(body)]
    neighbour_prose = [
        s for other in neighbours for s in _sentences(other) if not contains_passage(text, s)
    ]
    return _Chunk(
        text=text,
        words=frozenset(content_words(text)),
        headings=headings,
        title=clean_heading(title),
        prose=_sentences(body),
        code=code,
        neighbour_prose=neighbour_prose,
    )


def _sentences(text: str) -> list[str]:
    """Sentences outside code blocks, wrapped lines re-joined with single spaces."""
    prose = _FENCE.sub("\n", text)
    return [
        s.strip()
        for para in re.split(r"\n\s*\n", prose)
        for s in _SENTENCE_END.split(" ".join(para.split()))
        if len(s.split()) >= 3
    ]


def _pick(options: Sequence[str], key: str) -> str:
    # Stable choice: the same chunk always gets the same template.
    digest = hashlib.sha256(key.encode()).digest()
    return options[digest[0] % len(options)]


def _context(chunk: _Chunk, query: str) -> str | None:
    """The nearest outer heading (or the title) that adds a content word the chunk lacks."""
    have = set(content_words(query))
    for candidate in [*reversed(chunk.headings[:-1]), chunk.title]:
        words = set(content_words(candidate))
        if words - chunk.words - have and is_term(candidate):
            return humanize(candidate)
    return None


def _needs_context(chunk: _Chunk, query: str) -> bool:
    return set(content_words(query)) <= chunk.words


def _keyword(chunk: _Chunk, query: str) -> str:
    """A keyword query, prefixed with context when its own words all come from the chunk."""
    context = _context(chunk, query) if _needs_context(chunk, query) else None
    return f"{context} {query}" if context else query


def _question(chunk: _Chunk, question: str) -> str:
    """``How do I X?`` → ``How do I X in <context>?`` when X alone copies the chunk."""
    context = _context(chunk, question) if _needs_context(chunk, question) else None
    return f"{question.rstrip('?')} in {context}?" if context else question


# --- strategies ----------------------------------------------------------------------------


def _heading_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    if not chunk.headings:
        return
    leaf = chunk.headings[-1]
    if is_question(leaf):
        return  # the question strategy keeps it as it is
    if is_term(leaf):
        yield PseudoQuery(_keyword(chunk, humanize(leaf)), "heading")


_QUESTION_TEMPLATES = ("What is {h}?", "How does {h} work?", "How do I use {h}?")
# An API member ("deque.append") is used, not defined: no "What is".
_MEMBER_TEMPLATES = _QUESTION_TEMPLATES[1:]
_VERB_BASE = {
    "returns": "get", "return": "get", "creates": "create", "create": "create",
    "removes": "remove", "remove": "remove", "deletes": "delete", "delete": "delete",
    "sets": "set", "set": "set", "gets": "get", "get": "get", "converts": "convert",
    "convert": "convert", "opens": "open", "open": "open", "closes": "close", "close": "close",
    "adds": "add", "add": "add", "computes": "compute", "compute": "compute",
    "configures": "configure", "configure": "configure", "installs": "install",
    "install": "install", "runs": "run", "run": "run", "starts": "start", "start": "start",
    "stops": "stop", "stop": "stop", "changes": "change", "change": "change",
    "reads": "read", "read": "read", "writes": "write", "write": "write",
    "builds": "build", "build": "build", "use": "use", "uses": "use", "checks": "check",
    "check": "check", "parses": "parse", "parse": "parse", "deploy": "deploy",
    "deploys": "deploy", "copy": "copy", "copies": "copy", "lists": "list", "list": "list",
    "makes": "make", "make": "make", "finds": "find", "find": "find", "sends": "send",
    "send": "send", "loads": "load", "load": "load", "saves": "save", "save": "save",
}  # fmt: skip


def _question_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    if chunk.headings and is_question(chunk.headings[-1]):
        # A question the authors wrote (FAQ-style heading): kept as it is.
        yield PseudoQuery(chunk.headings[-1], "question")
    for sentence in chunk.prose[:2]:
        question = _summary_question(sentence)
        if question:
            yield PseudoQuery(_question(chunk, question), "question")
    if chunk.headings and not is_question(chunk.headings[-1]) and is_term(chunk.headings[-1]):
        leaf = humanize(chunk.headings[-1])
        member = re.search(r"\w\.\w", chunk.headings[-1]) is not None
        template = _pick(_MEMBER_TEMPLATES if member else _QUESTION_TEMPLATES, chunk.text)
        yield PseudoQuery(_question(chunk, template.format(h=leaf)), "question")


def _summary_question(sentence: str) -> str | None:
    """ "Return the number of items." → "How do I get the number of items?"."""
    words = _MARKUP.sub("", sentence).rstrip(".!:;").split()
    if len(words) < 3 or len(words) > 25:
        return None
    base = _VERB_BASE.get(words[0].lower())
    # "Create one per process and reuse it": the object is a pronoun, not a topic.
    if base is None or not is_object_phrase(" ".join(words[1:])):
        return None
    return f"How do I {base} {' '.join(words[1:])}?"


_DEFINITION = re.compile(
    r"^(?:An?\s+|The\s+)?(?P<term>[\w`.\- ]{2,60}?)\s+(?:is|are|refers to|means)\s+"
    r"(?:an?|the|used|responsible|what)\b",
    re.I,
)


def _definition_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    for sentence in chunk.prose:
        match = _DEFINITION.match(_MARKUP.sub("", sentence))
        if not match:
            continue
        term = match.group("term").strip()
        if len(term.split()) <= 6 and is_term(term):
            yield PseudoQuery(_question(chunk, f"What is {term}?"), "definition")


def _inverse_cloze_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    # A sentence of a neighbouring chunk of the section is a query for this chunk, which
    # does not contain it (checked whitespace-normalized: wrapped lines are re-joined).
    # Longer, content-bearing sentences make better queries.
    candidates = [s for s in chunk.neighbour_prose if 6 <= len(s.split()) <= 30 and _prose(s)]
    candidates.sort(key=lambda s: -len(set(normalize(s).split())))
    for sentence in candidates:
        text = _URL.sub(" ", _MARKUP.sub("", sentence))
        yield PseudoQuery(" ".join(text.split()).rstrip(".:;"), "inverse_cloze")


def _prose(sentence: str) -> bool:
    """Mostly words, not code or notation that slipped out of a code block."""
    tokens = sentence.split()
    return sum(t.strip(".,;:()\"'").isalpha() for t in tokens) >= 0.7 * len(tokens)


_IDENTIFIER = re.compile(
    r"(?:^|\s)(?:def|class|async def)\s+([A-Za-z_]\w*)|([A-Za-z_][\w.]*)\s*\(|(--[a-z][\w-]+)",
    re.M,
)
_NOISE_IDENTIFIERS = {"print", "self", "len", "str", "int", "list", "dict", "range", "super"}


def _identifier_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    seen: set[str] = set()
    for block in chunk.code:
        for match in _IDENTIFIER.finditer(block):
            name = next(g for g in match.groups() if g)
            short = name.split(".")[-1]
            if short in _NOISE_IDENTIFIERS or short in seen or len(short) < 3:
                continue
            seen.add(short)
            yield PseudoQuery(_keyword(chunk, humanize(name)), "identifier")


_GENERATORS: dict[str, Callable[[_Chunk], Iterator[PseudoQuery]]] = {
    "heading": _heading_queries,
    "question": _question_queries,
    "definition": _definition_queries,
    "inverse_cloze": _inverse_cloze_queries,
    "identifier": _identifier_queries,
}
