"""Turn raw documentation files into titled, normalised Markdown.

Every format ends up in one Markdown dialect (see `markdown_parser`): ATX headings,
``` fences, ``- `` list items, blank-line separated paragraphs and no HTML. The chunker
relies on that, so a new format only has to produce it.

Files come from sources nobody here controls, so every parser answers any bytes with a
document or a `ParseError` (the catalog's skip reason), and input is read as data only:
front matter is never constructed into Python objects, YAML aliases are refused (a
400-byte "billion laughs" file used to expand into a 722 MB title) and titles are capped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from embedloop.ingestion.dialect import fence, finalize, first_heading, iter_lines_outside_fences
from embedloop.ingestion.html_parser import html_to_markdown
from embedloop.ingestion.markdown_parser import normalize_markdown
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
_MAX_TITLE = 120  # a plain-text file's first line is only a guess at a title
# Every title is capped: it is stored per document and prefixed to its chunks.
MAX_TITLE_CHARS = 500


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


# --- front matter -----------------------------------------------------------------------------
# Real front matter is a few lines of `key: value`; anything this big is not documentation.
MAX_FRONT_MATTER_CHARS = 16_000
_MAX_YAML_DEPTH = 32
_YAML_NULL = "tag:yaml.org,2002:null"
_FRONT_MATTER = re.compile(r"^(---|\+\+\+)[ \t]*\n(.*?)\n(?:---|\.\.\.|\+\+\+)[ \t]*(?:\n|$)", re.S)


class _NodeLoader(yaml.SafeLoader):
    """Builds the YAML node tree only, refusing aliases and deep nesting.

    Aliases are what "billion laughs" bombs are made of (400 bytes of front matter that
    expand to gigabytes once constructed and printed). Since no Python objects are built,
    implicit ints and dates (``n: 1111...``, ``date: 2023-02-30``) cannot raise either.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise ParseError("front matter uses YAML aliases")
        self.depth += 1
        if self.depth > _MAX_YAML_DEPTH:
            raise ParseError("front matter nested too deeply")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _scalar_fields(node: yaml.Node | None) -> dict[str, str]:
    """The scalar values of a top-level mapping as written; lists and maps are left out."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    fields: dict[str, str] = {}
    for key, value in node.value:  # a repeated key: the last one wins, as in safe_load
        if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode):
            fields[key.value] = "" if value.tag == _YAML_NULL else value.value
    return fields


def _yaml_fields(source: str) -> dict[str, str]:
    try:  # the loader's constructor already raises, on control characters
        return _scalar_fields(_NodeLoader(source).get_single_node())
    except yaml.YAMLError:
        return {}  # broken front matter is still front matter: drop it, keep the body


def split_front_matter(text: str) -> tuple[str | None, str]:
    """``(title, body)``: the front matter's title, if it has a usable one, and the rest.

    YAML (``---``) and TOML (``+++``) front matter are recognised; only ``title`` is used.
    Raises `ParseError` for front matter that is huge, uses YAML aliases or nests deeply.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    source, body = match.group(2), text[match.end() :]
    if len(source) > MAX_FRONT_MATTER_CHARS:
        raise ParseError(f"front matter longer than {MAX_FRONT_MATTER_CHARS} characters")
    if match.group(1) == "+++":
        found = re.search(r"""^title\s*=\s*["'](.*)["']\s*$""", source, re.M)
        title = found.group(1) if found else ""
    else:
        title = _yaml_fields(source).get("title", "")
    title = " ".join(title.split())[:MAX_TITLE_CHARS]
    return title or None, body


def _parse_markdown(text: str, fallback_title: str) -> ParsedDocument:
    title, body = split_front_matter(text)
    markdown = normalize_markdown(body, mdx=_is_mdx(body, fallback_title))
    return ParsedDocument(title or first_heading(markdown) or fallback_title, markdown)


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


def _cell_source(cell: dict[str, object]) -> str | None:
    """A cell's text; None when `source` is neither a string nor a list of strings."""
    source = cell.get("source", cell.get("input", ""))
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    return source if isinstance(source, str) else None


def _notebook_cells(data: object) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Cells and metadata of a v4 notebook, or of a v3 one (cells under `worksheets`)."""
    if not isinstance(data, dict):
        raise ParseError("malformed notebook: top level is not a JSON object")
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if isinstance(data.get("cells"), list):
        cells = data["cells"]
    elif isinstance(data.get("worksheets"), list):
        sheets = [ws for ws in data["worksheets"] if isinstance(ws, dict)]
        cells = [c for ws in sheets if isinstance(ws.get("cells"), list) for c in ws["cells"]]
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
            # It becomes a fence's info string: a newline or backtick would break the fence.
            if isinstance(name, str) and re.fullmatch(r"[\w+#.-]{1,40}", name):
                return name.lower()
    return "python"


def _load_notebook(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(
            f"malformed notebook: invalid JSON ({err.msg}, line {err.lineno})"
        ) from None
    except ValueError as err:  # e.g. an integer literal over Python's 4300-digit limit
        raise ParseError(f"malformed notebook: {str(err).split(':')[0]}") from None


def _parse_notebook(text: str, fallback_title: str) -> ParsedDocument:
    cells, metadata = _notebook_cells(_load_notebook(text))
    language = _notebook_language(metadata)
    sources = [(cell, source) for cell in cells if (source := _cell_source(cell)) is not None]
    if cells and not sources:
        raise ParseError("malformed notebook: no cell has a text source")
    blocks: list[str] = []
    for cell, source in sources:
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
    except MemoryError:
        raise ParseError("document too large to parse in memory") from None
    if not doc.text.strip():
        raise ParseError("empty document")
    title = doc.title.strip()[:MAX_TITLE_CHARS].strip()
    return ParsedDocument(title or fallback_title[:MAX_TITLE_CHARS], doc.text)
