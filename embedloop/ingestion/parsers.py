"""Turn raw documentation files into titled, normalised Markdown.

Every format ends up in one Markdown dialect (see `markdown_parser`): ATX headings,
``` fences, ``- `` list items, blank-line separated paragraphs and no HTML. The chunker
relies on that, so a new format only has to produce it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from embedloop.ingestion.html_parser import html_to_markdown
from embedloop.ingestion.markdown_parser import (
    fence,
    finalize,
    first_heading,
    iter_lines_outside_fences,
    normalize_markdown,
    split_front_matter,
)
from embedloop.ingestion.rst_parser import rst_to_markdown

FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".text": "text",
    ".ipynb": "notebook",
}
_MAX_TITLE = 120


@dataclass(frozen=True)
class ParsedDocument:
    title: str
    text: str


class ParseError(ValueError):
    """The file cannot become a document; the message is a short reason for humans."""


def detect_format(relpath: str) -> str | None:
    return FORMATS.get(PurePosixPath(relpath).suffix.lower())


# ESM lines only MDX has; plain Markdown prose never looks like this.
_MDX_ESM = re.compile(
    r"""^(?:import\s.*\bfrom\s+['"]|import\s+['"]|export\s+(?:default|const|let|function)\b)"""
)


def _is_mdx(text: str, fallback_title: str) -> bool:
    # .mdx shares the "markdown" format name, so look at the file name and the content.
    if fallback_title.lower().endswith(".mdx"):
        return True
    return any(not code and _MDX_ESM.match(line) for line, code in iter_lines_outside_fences(text))


def _decode(data: bytes) -> str:
    if b"\x00" in data:
        raise ParseError("binary file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ParseError(f"not valid UTF-8 (byte {err.start}: {err.reason})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _parse_markdown(text: str, fallback_title: str) -> ParsedDocument:
    meta, body = split_front_matter(text)
    markdown = normalize_markdown(body, mdx=_is_mdx(body, fallback_title))
    title = meta.get("title")
    title = str(title).strip() if title not in (None, "") else first_heading(markdown)
    return ParsedDocument(title or fallback_title, markdown)


def _parse_rst(text: str, fallback_title: str) -> ParsedDocument:
    try:
        title, markdown = rst_to_markdown(text)
    except Exception as err:  # docutils has many failure modes; all mean "not usable rst"
        raise ParseError(f"malformed reStructuredText: {type(err).__name__}: {err}") from None
    return ParsedDocument(title or fallback_title, markdown)


def _parse_html(text: str, fallback_title: str) -> ParsedDocument:
    title, markdown = html_to_markdown(text)
    return ParsedDocument(title or fallback_title, markdown)


def _parse_text(text: str, fallback_title: str) -> ParsedDocument:
    first_line = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return ParsedDocument(first_line[:_MAX_TITLE] or fallback_title, finalize(text))


def _cell_source(cell: dict[str, object]) -> str:
    source = cell.get("source", cell.get("input", ""))
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return str(source)


def _notebook_cells(data: object) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Cells and metadata of a v4 notebook, or of a v3 one (cells under `worksheets`)."""
    if not isinstance(data, dict):
        raise ParseError("malformed notebook: top level is not a JSON object")
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if isinstance(data.get("cells"), list):
        cells = data["cells"]
    elif isinstance(data.get("worksheets"), list):
        cells = [
            c for ws in data["worksheets"] if isinstance(ws, dict) for c in ws.get("cells", [])
        ]
    else:
        raise ParseError("malformed notebook: no 'cells' list")
    if not all(isinstance(c, dict) for c in cells):
        raise ParseError("malformed notebook: a cell is not a JSON object")
    return cells, metadata


def _notebook_language(metadata: dict[str, object]) -> str:
    for key in ("language_info", "kernelspec"):
        section = metadata.get(key)
        if isinstance(section, dict):
            name = section.get("name") if key == "language_info" else section.get("language")
            if isinstance(name, str) and name:
                return name.lower()
    return "python"


def _parse_notebook(text: str, fallback_title: str) -> ParsedDocument:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(
            f"malformed notebook: invalid JSON ({err.msg}, line {err.lineno})"
        ) from None
    cells, metadata = _notebook_cells(data)
    language = _notebook_language(metadata)
    blocks: list[str] = []
    for cell in cells:
        source = _cell_source(cell)
        if not source.strip():
            continue
        if cell.get("cell_type") == "markdown":
            blocks.append(normalize_markdown(source))
        elif cell.get("cell_type") == "code":
            blocks.append(fence(source, language))
        # raw cells are build instructions (LaTeX, reST for nbconvert), not prose
    markdown = finalize("\n\n".join(blocks))
    return ParsedDocument(first_heading(markdown, max_level=6) or fallback_title, markdown)


_PARSERS: dict[str, Callable[[str, str], ParsedDocument]] = {
    "markdown": _parse_markdown,
    "rst": _parse_rst,
    "html": _parse_html,
    "text": _parse_text,
    "notebook": _parse_notebook,
}


def parse_document(data: bytes, fmt: str, fallback_title: str) -> ParsedDocument:
    """Parse one file's bytes; raises `ParseError` with a short reason when it is unusable.

    ``fallback_title`` is used when the document names no title of its own; a name ending in
    ``.mdx`` (the usual fallback is the file name) switches on the MDX rules.
    """
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise ParseError(f"unsupported format {fmt!r}")
    text = _decode(data)
    try:
        doc = parser(text, fallback_title)
    except RecursionError:
        raise ParseError("document nested too deeply to parse") from None
    if not doc.text.strip():
        raise ParseError("empty document")
    return ParsedDocument(doc.title.strip() or fallback_title, doc.text)
