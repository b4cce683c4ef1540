"""LLM-free pseudo-queries from a chunk and its context.

Weak supervision that needs no model: section titles as queries for their section (the
title→passage pairs behind E5-style pre-training), questions phrased from headings,
definitions and summary sentences, key sentences as queries for the rest of the chunk
(Inverse Cloze Task), and identifiers from code blocks as keyword queries. Strategies are
interleaved so a chunk's few queries are of different kinds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

STRATEGIES = ("heading", "question", "definition", "inverse_cloze", "identifier")


@dataclass(frozen=True)
class PseudoQuery:
    query: str
    strategy: str
    # The passage the query should retrieve: the chunk, or the chunk without the words that
    # became the query (title and inverse cloze), so training cannot match on a verbatim copy.
    passage: str


@dataclass(frozen=True)
class _Chunk:
    text: str
    headings: list[str]  # outer → inner, cleaned
    title: str
    body: str  # the text without its leading heading line
    prose: list[str]  # sentences outside code blocks
    code: list[str]  # code block contents


def pseudo_queries(
    text: str, heading_path: str, title: str, n: int, strategies: Sequence[str]
) -> list[PseudoQuery]:
    """Up to ``n`` distinct pseudo-queries, alternating between the enabled strategies."""
    chunk = _analyse(text, heading_path, title)
    generators = [(name, _GENERATORS[name](chunk)) for name in STRATEGIES if name in strategies]
    seen: set[str] = set()
    out: list[PseudoQuery] = []
    while generators and len(out) < n:
        for name, candidates in list(generators):
            query = next(candidates, None)
            if query is None:
                generators.remove((name, candidates))
                continue
            key = _normalize(query.query)
            if key and key not in seen:
                seen.add(key)
                out.append(query)
                if len(out) == n:
                    break
    return out


# --- chunk analysis ----------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1\s*$", re.S | re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")
_MARKUP = re.compile(r"[`*#>\[\]]")


def _analyse(text: str, heading_path: str, title: str) -> _Chunk:
    headings = [_clean_heading(h) for h in heading_path.split(" > ") if h.strip()]
    lines = text.strip().splitlines()
    body = text
    # The chunker repeats the innermost heading as the chunk's first line.
    if lines and headings and _clean_heading(lines[0]) == headings[-1]:
        body = "\n".join(lines[1:]).strip()
    code = [m.group(2) for m in _FENCE.finditer(body)]
    prose_text = _FENCE.sub("\n", body)
    prose = [
        s.strip()
        for para in re.split(r"\n\s*\n", prose_text)
        for s in _SENTENCE_END.split(" ".join(para.split()))
        if len(s.split()) >= 3
    ]
    return _Chunk(text, headings, _clean_heading(title), body, prose, code)


def _clean_heading(heading: str) -> str:
    heading = re.sub(r"^#+\s*", "", heading.strip())
    heading = re.sub(r"^(class|function|method|module)\s+", "", heading)
    return " ".join(_MARKUP.sub("", heading).split())


def _normalize(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _pick(options: Sequence[str], key: str) -> str:
    # Stable choice: the same chunk always gets the same template.
    digest = hashlib.sha256(key.encode()).digest()
    return options[digest[0] % len(options)]


def _humanize(identifier: str) -> str:
    """``Connection.iterdump`` → ``Connection iterdump``; ``max_seq_length`` → words."""
    return " ".join(re.sub(r"[._]+", " ", identifier).split())


# --- strategies ----------------------------------------------------------------------------


def _heading_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    if not chunk.headings or not chunk.body:
        return
    leaf = _humanize(chunk.headings[-1])
    yield PseudoQuery(leaf, "heading", chunk.body)
    if len(chunk.headings) > 1:
        parent = _humanize(chunk.headings[0])
        if _normalize(parent) not in _normalize(leaf):
            yield PseudoQuery(f"{parent} {leaf}", "heading", chunk.body)


_QUESTION_TEMPLATES = ("What is {h}?", "How does {h} work?", "How do I use {h}?", "{h} explained")
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
}  # fmt: skip


def _question_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    if chunk.prose:
        question = _summary_question(chunk.prose[0])
        if question:
            yield PseudoQuery(question, "question", chunk.text)
    if chunk.headings:
        leaf = _humanize(chunk.headings[-1])
        if re.match(r"(?i)^(how|what|why|when|where|which|can|should|do|does|is)\b", leaf):
            yield PseudoQuery(leaf.rstrip("?") + "?", "question", chunk.text)
        else:
            template = _pick(_QUESTION_TEMPLATES, chunk.text)
            yield PseudoQuery(template.format(h=leaf), "question", chunk.text)


def _summary_question(sentence: str) -> str | None:
    """ "Return the number of items." → "How do I get the number of items?"."""
    words = _MARKUP.sub("", sentence).rstrip(".!").split()
    if len(words) < 3 or len(words) > 25:
        return None
    base = _VERB_BASE.get(words[0].lower())
    if base is None:
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
        if 1 <= len(term.split()) <= 6 and term.lower() not in {"it", "this", "that", "there"}:
            yield PseudoQuery(f"What is {term}?", "definition", chunk.text)


def _inverse_cloze_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    # Longer, content-bearing sentences make better queries; the rest must still say enough.
    candidates = [s for s in chunk.prose if 6 <= len(s.split()) <= 30]
    candidates.sort(key=lambda s: -len(set(_normalize(s).split())))
    for sentence in candidates:
        rest = chunk.text.replace(sentence, " ").strip()
        if len(rest.split()) >= 2 * len(sentence.split()):
            yield PseudoQuery(sentence.rstrip("."), "inverse_cloze", " ".join(rest.split(" ")))


_IDENTIFIER = re.compile(
    r"(?:^|\s)(?:def|class|async def)\s+([A-Za-z_]\w*)|([A-Za-z_][\w.]*)\s*\(|(--[a-z][\w-]+)",
    re.M,
)
_NOISE_IDENTIFIERS = {"print", "self", "len", "str", "int", "list", "dict", "range", "super"}


def _identifier_queries(chunk: _Chunk) -> Iterator[PseudoQuery]:
    seen: set[str] = set()
    context = _humanize(chunk.headings[0]) if chunk.headings else chunk.title
    for block in chunk.code:
        for match in _IDENTIFIER.finditer(block):
            name = next(g for g in match.groups() if g)
            short = name.split(".")[-1]
            if short in _NOISE_IDENTIFIERS or short in seen or len(short) < 3:
                continue
            seen.add(short)
            query = _humanize(name)
            if context and _normalize(context) not in _normalize(query):
                query = f"{context} {query}"
            yield PseudoQuery(query, "identifier", chunk.text)


_GENERATORS: dict[str, Callable[[_Chunk], Iterator[PseudoQuery]]] = {
    "heading": _heading_queries,
    "question": _question_queries,
    "definition": _definition_queries,
    "inverse_cloze": _inverse_cloze_queries,
    "identifier": _identifier_queries,
}
