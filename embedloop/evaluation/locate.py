"""Where an answer is, as people write it down, resolved to chunks.

A team knows its answers by page and section, not by chunk id: a document (the ``uri`` as
ingested, a path relative to its source, or the URL it is published under, which shares
the path but not the extension), a ``#anchor`` (the heading's slug or id; GitHub, MkDocs
and Sphinx slugs all reduce to the heading's letters and digits), a section heading, or a
quoted answer passage. Each locator narrows the candidate chunks; what is left answers.
A section includes its subsections.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import pandas as pd

from embedloop.chunking.sections import HEADING_SEPARATOR
from embedloop.evaluation.sets import ChunkIndex

_EXTENSIONS = {".md", ".mdx", ".markdown", ".rst", ".html", ".htm", ".txt", ".ipynb"}
_INDEX_PAGES = {"index", "readme", "_index"}
_MARKUP = re.compile(r"[*_`#>|]+")
_SPACE = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class LocateError(LookupError):
    """The answer location matches no document or chunk; the message says which part."""


def slug(text: str) -> str:
    """Letters and digits only, lower case: how anchors and headings are compared."""
    return _NOT_ALNUM.sub("", unquote(text).casefold())


def normalize_passage(text: str) -> str:
    """Whitespace-normalized, case-folded text without Markdown emphasis or code marks."""
    return _SPACE.sub(" ", _MARKUP.sub(" ", text)).strip().casefold()


def _path_parts(value: str) -> list[str]:
    """A path or URL as comparable components: no scheme/host, extension or index page."""
    parts = urlsplit(value)
    path = parts.path if parts.scheme else value
    if parts.scheme and parts.scheme not in ("file",) and not parts.path.strip("/"):
        path = parts.netloc
    pieces = [p for p in unquote(path).replace("\\", "/").split("/") if p not in ("", ".")]
    if pieces:
        last = PurePosixPath(pieces[-1])
        if last.suffix.lower() in _EXTENSIONS:
            pieces[-1] = last.stem
        if pieces[-1].lower() in _INDEX_PAGES and len(pieces) > 1:
            pieces.pop()
    return [p.lower() for p in pieces]


def _suffix_score(a: list[str], b: list[str]) -> int:
    """Components matched when the shorter path is a suffix of the longer; 0 otherwise."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) if short and long[len(long) - len(short) :] == short else 0


class Locator:
    """Resolves answer locations against the current chunks (and documents, for uris)."""

    def __init__(self, chunks: pd.DataFrame, documents: pd.DataFrame | None = None) -> None:
        self.index = ChunkIndex(chunks)
        docs = sorted(self.index.by_doc)
        uris = (
            {}
            if documents is None
            else dict(zip(documents["doc_id"], documents["uri"], strict=True))
        )
        self.keys: dict[str, list[list[str]]] = {}
        self.exact: dict[str, str] = {}
        for doc in docs:
            relpath = doc.split(":", 1)[-1]
            names = [doc, relpath] + ([str(uris[doc])] if uris.get(doc) else [])
            for name in names:
                self.exact.setdefault(name, doc)
            self.keys[doc] = [_path_parts(n) for n in names[1:]]
        self._passages: dict[str, str] = {}

    def document(self, value: str) -> str:
        """The doc_id a document reference names (exactly one, else LocateError)."""
        value = value.strip()
        cleaned = value.removeprefix("./").lstrip("/") if "://" not in value else value
        for key in (value, cleaned, value.rstrip("/")):
            if key in self.exact:
                return self.exact[key]
        wanted = _path_parts(value)
        scores = {
            doc: max(_suffix_score(wanted, k) for k in keys) for doc, keys in self.keys.items()
        }
        best = max(scores.values(), default=0)
        if best == 0:
            raise LocateError(f"unknown document {value!r}: no ingested document has this path")
        matches = sorted(d for d, s in scores.items() if s == best)
        if len(matches) > 1:
            shown = ", ".join(matches[:3]) + (" ..." if len(matches) > 3 else "")
            raise LocateError(f"document {value!r} is ambiguous: it matches {shown}")
        return matches[0]

    def _headings(self, chunk_id: str) -> list[str]:
        path = self.index.heading[chunk_id]
        return [slug(p) for p in path.split(HEADING_SEPARATOR)] if path else []

    def anchor(self, doc_id: str, anchor: str) -> set[str]:
        """Chunks under the heading (or subheading) whose slug is ``anchor``."""
        wanted = slug(anchor)
        chunks = self.index.doc_chunks(doc_id)
        found = {c for c in chunks if wanted and wanted in self._headings(c)}
        if not found and len(wanted) >= 4:  # Sphinx ids: `json.dumps` for "json.dumps(obj...)"
            found = {c for c in chunks if any(h.startswith(wanted) for h in self._headings(c))}
        if not found:
            raise LocateError(f"anchor #{anchor} matches no heading of {doc_id}")
        return found

    def section(self, heading: str, within: Iterable[str]) -> set[str]:
        """Chunks whose heading path contains ``heading`` (``A > B`` for a nested one)."""
        wanted = [slug(p) for p in heading.split(">") if slug(p)]
        found = set()
        for cid in within:
            parts = self._headings(cid)
            n = len(wanted)
            if n and any(parts[i : i + n] == wanted for i in range(len(parts) - n + 1)):
                found.add(cid)
        if not found:
            raise LocateError(f"section {heading!r} matches no heading")
        return found

    def answer(self, passage: str, within: Iterable[str]) -> set[str]:
        """Chunks whose text contains the passage (whitespace- and markup-normalized)."""
        wanted = normalize_passage(passage)
        if not wanted:
            raise LocateError("answer passage is empty")
        found = {c for c in within if wanted in self._passage(c)}
        if not found:
            raise LocateError(f"answer passage {_short(passage)!r} is in no chunk")
        return found

    def _passage(self, chunk_id: str) -> str:
        if chunk_id not in self._passages:
            self._passages[chunk_id] = normalize_passage(self.index.text[chunk_id])
        return self._passages[chunk_id]

    def locate(self, document: str | None, section: str | None, answer: str | None) -> set[str]:
        """The chunks every given locator agrees on (LocateError when there are none)."""
        within: set[str] = set(self.index.text)
        if document:
            ref, _, anchor = document.partition("#")
            doc = self.document(ref) if ref.strip() else None
            if doc is None:
                raise LocateError(f"document {document!r} names no page before '#'")
            within = set(self.index.doc_chunks(doc))
            if anchor.strip():
                within = self.anchor(doc, anchor.strip())
        if section:
            within = self.section(section, within)
        if answer:
            within = self.answer(answer, within)
        docs = sorted({self.index.doc[c] for c in within})
        if len(docs) > 1 and not document:
            shown = ", ".join(docs[:3]) + (" ..." if len(docs) > 3 else "")
            raise LocateError(f"the location matches {len(docs)} documents ({shown}): add one")
        return within


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
