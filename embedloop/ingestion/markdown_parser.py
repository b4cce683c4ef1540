"""Markdown/MDX into the project's dialect (``embedloop.ingestion.dialect``).

The block structure of a Markdown source comes from markdown-it-py, a CommonMark parser:
which lines are code (fenced, or indented, inside list items too), which paragraphs an
underline turns into a heading, thematic breaks and link reference definitions. What
CommonMark leaves as text is ours: stripping inline HTML and MDX (imports, exports, JSX
tags, ``{/* */}`` comments), which no CommonMark parser knows, and rewriting list markers.
``bench/markdown_parity.py`` compares the chunk tables with the former all-regex parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from embedloop.ingestion.dialect import ATX_HEADING, fence, finalize

_HEADING_ID = re.compile(r"\s*\{#[\w:.-]+\}$")  # `# Title {#anchor}` (Docusaurus, MkDocs)
_LIST_ITEM = re.compile(r"^(\s*)(?:[*+-]|\d{1,9}[.)])[ \t]+(.*)$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# Inline HTML found in READMEs; unknown `<names>` stay (they are often prose: "Vec<String>").
_HTML_TAG_NAMES = (
    "a|abbr|b|big|blockquote|br|caption|center|cite|code|col|colgroup|dd|del|details|dfn|div|"
    "dl|dt|em|figcaption|figure|font|h[1-6]|hr|i|img|ins|kbd|li|mark|ol|p|picture|pre|q|s|samp|"
    "small|source|span|strike|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul|"
    "var|video|audio|iframe|section|article|nav|header|footer|main|aside|label|button|input|"
    "script|style|svg|noscript"
)
_HTML_TAG = re.compile(rf"</?(?:{_HTML_TAG_NAMES})\b(?:\s[^<>]*)?/?>", re.IGNORECASE)
_JSX_TAG = re.compile(r"</?[A-Za-z][\w.:-]*(?:\s[^<>]*)?/?>|<>|</>")
_MDX_COMMENT = re.compile(r"^\s*\{/\*.*\*/\}\s*$")
_LANG = re.compile(r"[\w+#.-]+")
# Raw HTML whose content is never prose: comments, CommonMark's <script>/<style> blocks,
# <noscript> fallbacks and inline <svg> icons and diagrams (their <text> is not prose).
_RAW_NAMES = "script|style|svg|noscript"
_RAW_OPEN = re.compile(rf"^\s*(?:<!--|<({_RAW_NAMES})(?=[\s/>]|$))", re.IGNORECASE)
_RAW_INLINE_OPEN = re.compile(rf"<!--|<({_RAW_NAMES})\b[^<>]*>", re.IGNORECASE)
_SELF_CLOSED = re.compile(r"[^<>]*/>")  # the rest of `<svg ... />`: it ends where it starts
_COMMENT_CLOSE = re.compile("-->")


def _fence_lang(info: str) -> str:
    # Info strings carry extras (```python title="x"`, ```{code-cell} ipython3): keep a word.
    match = _LANG.search(info.replace("{", " ").replace("}", " "))
    return match.group(0) if match else ""


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))  # same length, so columns stay valid


def _closer(name: str) -> re.Pattern[str]:
    """What ends raw HTML opened by ``<name`` (a comment when name is empty)."""
    return re.compile(rf"</{name}\s*>", re.IGNORECASE) if name else _COMMENT_CLOSE


def _raw_spans(line: str) -> tuple[list[tuple[int, int]], int]:
    """Spans of comments and script/style/svg elements within one line, and the column of
    a ``<!--`` that the line leaves open (-1 if none). Code spans are code, not markup.

    A closer that is missing is remembered, so a line full of openers stays linear (a lazy
    regex such as ``<!--.*?-->`` is quadratic there).
    """
    masked = _CODE_SPAN.sub(_blank, line)
    spans: list[tuple[int, int]] = []
    missing: set[str] = set()
    open_comment = -1
    for opener in _RAW_INLINE_OPEN.finditer(masked):
        if spans and opener.start() < spans[-1][1]:
            continue
        name = (opener.group(1) or "").lower()
        if opener.group(0).endswith("/>"):  # `<svg ... />` ends where it starts
            end = opener.end()
        elif name not in missing and (found := _closer(name).search(masked, opener.end())):
            end = found.end()
        else:
            missing.add(name)
            open_comment = opener.start() if not name and open_comment < 0 else open_comment
            continue
        while end < len(line) and line[end] in " \t":
            end += 1
        spans.append((opener.start(), end))
    return spans, open_comment


def _strip_inline_tags(line: str, mdx: bool) -> str:
    tag = _JSX_TAG if mdx else _HTML_TAG
    kept, pos = [], 0
    for start, end in _raw_spans(line)[0]:
        kept.append(line[pos:start])
        pos = end
    line = "".join(kept) + line[pos:]
    parts: list[str] = []
    pos = 0
    for span in _CODE_SPAN.finditer(line):  # never touch `List<T>` inside code spans
        parts.append(tag.sub("", line[pos : span.start()]))
        parts.append(span.group(0))
        pos = span.end()
    parts.append(tag.sub("", line[pos:]))
    return "".join(parts)


def _is_tag_only(line: str) -> bool:
    # A line of nothing but tags (`<div align="center">`, `</TabItem>`) is markup, not text.
    stripped = line.strip()
    return stripped.startswith("<") and not _JSX_TAG.sub("", stripped).strip()


def _unclosed_tag_start(line: str, mdx: bool) -> bool:
    # `<Tabs` or `<img` whose attributes continue on the next lines.
    name = r"[A-Za-z][\w.:-]*" if mdx else rf"(?:[A-Z][\w.]*|(?i:{_HTML_TAG_NAMES})\b)"
    return re.match(rf"^\s*<{name}(\s[^<>]*)?$", line) is not None


def _skip_statement(lines: list[str], i: int) -> int:
    """Index after an MDX ``import``/``export`` statement that starts at ``lines[i]``."""
    depth = 0
    while i < len(lines):
        depth += sum(lines[i].count(c) for c in "([{") - sum(lines[i].count(c) for c in ")]}")
        i += 1
        if depth <= 0:
            break
    return i


@dataclass(frozen=True)
class _Block:
    """A block markdown-it decided: ``text`` replaces lines ``start``..``end`` (None: drop)."""

    end: int
    text: str | None
    kind: str = "code"


def _commonmark(mdx: bool) -> MarkdownIt:
    parser = MarkdownIt("commonmark")
    # MDX 2 has no indented code: indentation there nests JSX, and fences inside keep working.
    return parser.disable("code") if mdx else parser


_PARSERS = {mdx: _commonmark(mdx) for mdx in (False, True)}


def _setext_title(content: str, mdx: bool) -> str:
    return " ".join(_strip_inline_tags(line, mdx).strip() for line in content.split("\n")).strip()


def _structural_blocks(lines: list[str], mdx: bool) -> dict[int, _Block]:
    """The blocks CommonMark settles, keyed by first line; other text is left to the stepper.

    Lines no block covers are link reference definitions (``[id]: https://…``), markers of
    empty list items and ``>`` lines of blank quote lines: none of them is prose.
    """
    found: dict[int, _Block] = {}
    covered = [False] * (len(lines) + 1)
    tokens = _PARSERS[mdx].parse("\n".join(lines))
    for index, token in enumerate(tokens):
        if token.map is None or token.type not in _LEAF_BLOCKS:
            continue
        start, end = token.map
        covered[start:end] = [True] * (end - start)
        if token.type == "fence":
            found[start] = _Block(end, fence(token.content, _fence_lang(token.info)))
        elif token.type == "code_block":
            found[start] = _Block(end, fence(token.content))
        elif token.type == "hr":
            found[start] = _Block(end, None, "blank")
        elif token.type == "heading_open" and token.markup[0] in "=-":  # an underlined one
            title = _setext_title(tokens[index + 1].content, mdx)
            heading = f"{'#' * int(token.tag[1])} {title}" if title else None
            found[start] = _Block(end, heading, "heading")
    for i, line in enumerate(lines):
        if not covered[i] and line.strip():
            found[i] = _Block(i + 1, None, "blank")
    return found


_LEAF_BLOCKS = {"paragraph_open", "heading_open", "html_block", "fence", "code_block", "hr"}


class _MarkdownNormalizer:
    """One pass over the lines; `kinds` tracks what each emitted line is for setext detection."""

    def __init__(self, text: str, mdx: bool) -> None:
        self.lines = text.split("\n")
        self.mdx = mdx
        self.blocks = _structural_blocks(self.lines, mdx)
        self.out: list[str] = []
        self.kinds: list[str] = []
        # Where a search for a closer failed: later searches for it would fail too, and
        # remembering that keeps a page of unclosed openers linear instead of quadratic.
        self.unclosed: dict[str, int] = {}
        self.comment_unclosed_until = -1

    def emit(self, line: str, kind: str) -> None:
        self.out.append(line)
        self.kinds.append(kind)

    def prev_kind(self) -> str:
        return self.kinds[-1] if self.kinds else "blank"

    def in_list(self) -> bool:
        previous = next((k for k in reversed(self.kinds) if k != "blank"), "blank")
        return previous in ("list", "indented")

    def run(self) -> str:
        i = 0
        while i < len(self.lines):
            i = self.step(i)
        return finalize("\n".join(self.out))

    def step(self, i: int) -> int:
        line = self.lines[i]
        if (block := self.blocks.get(i)) is not None:
            return self.structural(block)
        if not line.strip():
            self.emit("", "blank")
            return i + 1
        if raw := _RAW_OPEN.match(line):
            return self.raw_block(i, raw)
        if self.mdx and re.match(r"^(import|export)\s", line):
            return _skip_statement(self.lines, i)
        if _MDX_COMMENT.match(line):
            return i + 1
        if _unclosed_tag_start(line, self.mdx) and (end := self.tag_end(i)) is not None:
            return end
        if _is_tag_only(line):
            return i + 1
        if i > self.comment_unclosed_until and (cut := _raw_spans(line)[1]) >= 0:
            return self.inline_comment(i, cut)
        self.text_line(line)
        return i + 1

    def tag_end(self, i: int) -> int | None:
        """Index after a multi-line tag, or None if no `>` closes it soon (then it is prose)."""
        for j in range(i + 1, min(i + 30, len(self.lines))):
            if ">" in self.lines[j]:
                return j + 1
            if not self.lines[j].strip():
                return None
        return None

    def raw_block(self, i: int, opening: re.Match[str]) -> int:
        """Skip raw HTML that never holds prose; text after its end on the same line stays.

        An unclosed comment hides the rest of the page, as it does when rendered; an
        unclosed tag hides only its paragraph, so a stray `<script` cannot eat a page.
        """
        name = (opening.group(1) or "").lower()
        end: tuple[int, int] | None
        if name and (closed := _SELF_CLOSED.match(self.lines[i], opening.end())):
            end = (i, closed.end())
        else:
            end = self.find_closer(i, opening.end(), _closer(name))
        if end is None:
            return self.paragraph_end(i) if name else len(self.lines)
        j, column = end
        rest = self.lines[j][column:].strip()
        if not rest:
            return j + 1
        self.lines[j] = rest  # shorter than before, so the next step makes progress
        return j

    def find_closer(self, i: int, column: int, closer: re.Pattern[str]) -> tuple[int, int] | None:
        """``(line, column)`` just after the first `closer` at or after line i, column."""
        if i >= self.unclosed.get(closer.pattern, len(self.lines)):
            return None
        for j in range(i, len(self.lines)):
            found = closer.search(self.lines[j], column if j == i else 0)
            if found:
                return j, found.end()
        self.unclosed[closer.pattern] = i + 1
        return None

    def paragraph_end(self, i: int) -> int:
        i += 1
        while i < len(self.lines) and self.lines[i].strip():
            i += 1
        return i

    def inline_comment(self, i: int, cut: int) -> int:
        """``text <!-- a note`` closed on a later line of the paragraph: keep only the text."""
        j = i + 1
        while j < len(self.lines) and self.lines[j].strip():
            column = self.lines[j].find("-->")
            if column >= 0:
                after = self.lines[j][column + 3 :].lstrip()
                self.lines[j] = f"{self.lines[i][:cut].rstrip()} {after}"
                return j
            j += 1
        self.comment_unclosed_until = j  # no line before j closes a comment either
        self.text_line(self.lines[i])  # never closed in its paragraph: prose, not markup
        return i + 1

    def structural(self, block: _Block) -> int:
        if block.text is None:
            self.emit("", "blank")
        elif block.kind == "code":
            self.emit_block(block.text, "code")
        else:
            self.emit(block.text, block.kind)
        return block.end

    def emit_block(self, block: str, kind: str) -> None:
        if self.prev_kind() != "blank":
            self.emit("", "blank")
        for line in block.split("\n"):
            self.emit(line, kind)
        self.emit("", "blank")

    def text_line(self, line: str) -> None:
        line = _strip_inline_tags(line, self.mdx)
        if not line.strip():
            return
        atx = ATX_HEADING.match(line)
        if atx:
            title = re.sub(r"[ \t]+#+$", "", _HEADING_ID.sub("", atx.group(2) or "")).strip()
            if title and title.strip("#"):
                self.emit(f"{atx.group(1)} {title}", "heading")
            return
        item = _LIST_ITEM.match(line)
        if item:
            self.emit(f"{item.group(1)}- {item.group(2)}", "list")
        elif line.startswith((" ", "\t")) and self.in_list():
            self.emit(line, "indented")
        else:
            self.emit(line.lstrip(), "para")


def normalize_markdown(text: str, mdx: bool = False) -> str:
    """Rewrite Markdown (or MDX) into the project's normalised dialect."""
    return _MarkdownNormalizer(text.replace("\r\n", "\n").replace("\r", "\n"), mdx).run()
