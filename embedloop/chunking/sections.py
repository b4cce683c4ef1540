"""Markdown documents as sections of blocks: the structure chunks are cut along.

Only the subset of Markdown that the ingest step emits is understood: ATX headings,
blank-line separated paragraphs, ``-``/``*``/``+``/``1.`` list items and fenced code
blocks (```` ``` ```` or ``~~~``). Everything else is treated as paragraph text, which
is the safe default for chunking: it is only ever split at sentence/word boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["paragraph", "list", "code"]

# Indentation is accepted on fences (unlike strict CommonMark) because fences nested in
# list items are common in docs and must still protect their contents from heading
# detection.
_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_HEADING = re.compile(r"^ {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])(?:\s|$)")

HEADING_SEPARATOR = " > "


@dataclass(frozen=True)
class Block:
    """An atomic unit of section content; only split when it alone exceeds the budget."""

    kind: BlockKind
    text: str
    # Code blocks keep their fence lines separately so oversize pieces can be re-wrapped
    # into individually valid fenced blocks.
    fence_open: str = ""
    fence_close: str = ""
    body: str = ""


@dataclass
class Section:
    """A heading (or the document preamble) and the blocks up to the next heading."""

    heading_path: str
    title: str
    blocks: list[Block] = field(default_factory=list)


def _is_fence_close(line: str, fence: str) -> bool:
    stripped = line.strip()
    # A closing fence must use the opening character, be at least as long and carry no
    # info string; otherwise ```` blocks containing ``` examples would end early.
    return (
        len(stripped) >= len(fence)
        and stripped == stripped[0] * len(stripped)
        and stripped[0] == fence[0]
    )


def _parse_fence_open(line: str) -> str | None:
    match = _FENCE_OPEN.match(line)
    if match is None:
        return None
    fence = match.group("fence")
    # CommonMark: a backtick fence's info string may not contain backticks, which keeps
    # inline spans like ```x``` from opening a block that would swallow the document.
    if fence[0] == "`" and "`" in match.group("info"):
        return None
    return fence


def _parse_heading(line: str) -> tuple[int, str] | None:
    match = _HEADING.match(line)
    if match is None:
        return None
    title = _CLOSING_HASHES.sub("", match.group("title") or "").strip()
    return len(match.group("hashes")), title


class _SectionBuilder:
    """Line-driven state machine; kept as a class so each transition stays small."""

    def __init__(self, preamble_title: str) -> None:
        self.sections: list[Section] = [Section("", preamble_title)]
        self._stack: list[tuple[int, str]] = []
        self._para: list[str] = []
        self._fence: str | None = None
        self._fence_lines: list[str] = []

    def feed(self, line: str) -> None:
        if self._fence is not None:
            self._feed_fenced(line)
            return
        fence = _parse_fence_open(line)
        if fence is not None:
            # Fences interrupt paragraphs without needing a blank line.
            self._flush_paragraph()
            self._fence = fence
            self._fence_lines = [line]
            return
        heading = _parse_heading(line)
        if heading is not None:
            self._flush_paragraph()
            self._start_section(*heading)
        elif not line.strip():
            self._flush_paragraph()
        else:
            self._para.append(line)

    def finish(self) -> list[Section]:
        self._flush_paragraph()
        if self._fence is not None:
            # An unclosed fence runs to the end of the document; we close it so every
            # emitted chunk is valid Markdown on its own.
            open_line = self._fence_lines[0]
            indent = open_line[: len(open_line) - len(open_line.lstrip())]
            self._emit_code(indent + self._fence)
        return [s for s in self.sections if s.blocks]

    def _feed_fenced(self, line: str) -> None:
        assert self._fence is not None
        if _is_fence_close(line, self._fence):
            self._emit_code(line)
        else:
            self._fence_lines.append(line)

    def _emit_code(self, close_line: str) -> None:
        open_line, body_lines = self._fence_lines[0], self._fence_lines[1:]
        # Blank edge lines inside a fence carry no meaning but would waste budget.
        while body_lines and not body_lines[0].strip():
            body_lines.pop(0)
        while body_lines and not body_lines[-1].strip():
            body_lines.pop()
        body = "\n".join(body_lines)
        text = "\n".join([open_line, *body_lines, close_line])
        self.sections[-1].blocks.append(Block("code", text, open_line, close_line, body))
        self._fence = None
        self._fence_lines = []

    def _flush_paragraph(self) -> None:
        if not self._para:
            return
        text = "\n".join(self._para)
        self._para = []
        blocks = self.sections[-1].blocks
        is_list = _LIST_ITEM.match(text) is not None
        continues_list = bool(blocks) and blocks[-1].kind == "list"
        # Loose lists (items separated by blank lines) and indented continuation
        # paragraphs belong to one list group, so they are packed and split together.
        if continues_list and (is_list or text[0].isspace()):
            blocks[-1] = Block("list", blocks[-1].text + "\n\n" + text)
        else:
            blocks.append(Block("list" if is_list else "paragraph", text))

    def _start_section(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))
        path = HEADING_SEPARATOR.join(t for _, t in self._stack if t)
        self.sections.append(Section(path, title))


def split_sections(text: str, preamble_title: str = "") -> list[Section]:
    """Split a Markdown document into non-empty sections in document order.

    Sections without any body content (e.g. a heading directly followed by a
    sub-heading) are omitted; their titles still appear in descendants' paths.
    """
    builder = _SectionBuilder(preamble_title)
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    for line in normalized.split("\n"):
        # Trailing whitespace is never meaningful for retrieval and would otherwise
        # leak into chunk boundaries.
        builder.feed(line.rstrip())
    return builder.finish()
