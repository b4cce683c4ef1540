"""HTML -> normalised Markdown, keeping the page's content and dropping its chrome."""

from __future__ import annotations

import re
import warnings

from bs4 import (
    BeautifulSoup,
    Comment,
    Declaration,
    Doctype,
    MarkupResemblesLocatorWarning,
    NavigableString,
    Tag,
    XMLParsedAsHTMLWarning,
)
from bs4.element import CData, PageElement, ProcessingInstruction

from embedloop.ingestion.dialect import escape_paragraph, fence, finalize

# Elements that never carry documentation text.
_BOILERPLATE_TAGS = frozenset({
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
    "button", "template", "canvas", "object", "embed", "dialog", "select",
})  # fmt: skip
# Matched against each class token and the id: `md-sidebar`, `sphinxsidebar`, `navbar-nav`...
_BOILERPLATE_NAME = re.compile(
    r"^(?!(?:has|with|no|show|is)-)(?:.*[-_])?"
    r"(?:nav|navbar|navigation|sidebar|sphinxsidebar|breadcrumbs?|toc|menu|footer|header|"
    r"skip-?link|headerlink|related)(?:[-_].*)?$",
    re.IGNORECASE,
)
_HEADER_LIKE = re.compile(r"header", re.IGNORECASE)
# Where documentation generators put the page body, best guess first.
_CONTENT_SELECTORS = ("main", "[role=main]", "article", "div.body", "div#content", "body")
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "html", "li",
    "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
})  # fmt: skip
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, CData, ProcessingInstruction)


def _soup(text: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        # XHTML pages (`<?xml ...?>` first) and one-word pages are still HTML to us.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        try:
            return BeautifulSoup(text, "lxml")
        except Exception:  # lxml missing or choking: the stdlib parser is slower but total
            return BeautifulSoup(text, "html.parser")


def _names(tag: Tag) -> list[str]:
    names = (*tag.get_attribute_list("class"), tag.get("id"))
    return [n for n in names if isinstance(n, str) and n]


def _looks_like_boilerplate(tag: Tag) -> bool:
    if tag.name in _BOILERPLATE_TAGS or tag.get("role") == "navigation":
        return not _holds_page_heading(tag)
    if any(_BOILERPLATE_NAME.match(name) for name in _names(tag)):
        # Class names are guesses: a wrapper like `page-with-sidebar` may hold the page itself.
        return not _holds_page_heading(tag) and tag.find(("main", "article", "h1")) is None
    return False


def _holds_page_heading(tag: Tag) -> bool:
    # Article headers often hold the page's own <h1>; dropping them would lose the title.
    is_header = tag.name == "header" or any(_HEADER_LIKE.search(n) for n in _names(tag))
    return is_header and tag.find(_HEADINGS) is not None


def _remove_boilerplate(root: Tag) -> None:
    # Top-down without recursion: a removed element's descendants are never visited.
    stack = [root]
    while stack:
        for child in list(stack.pop().children):
            if not isinstance(child, Tag):
                continue
            if _looks_like_boilerplate(child):
                child.decompose()
            else:
                stack.append(child)


def _content_root(soup: BeautifulSoup) -> Tag:
    for selector in _CONTENT_SELECTORS:
        found = soup.select_one(selector)
        if found is not None:
            return found
    return soup


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _inline(node: PageElement) -> str:
    """Inline text with code spans kept as backticks; whitespace is left for `_collapse`."""
    if isinstance(node, _SKIPPED_STRINGS):
        return ""
    if isinstance(node, NavigableString):
        return str(node)
    if not isinstance(node, Tag):
        return ""
    if node.name == "br":
        return " "
    if node.name in ("code", "kbd", "tt", "samp") and node.find_parent("pre") is None:
        code = _collapse(node.get_text())
        return f"`{code}`" if code else ""
    return "".join(_inline(child) for child in node.children)


def _code_language(pre: Tag) -> str:
    # `language-python` (highlight.js, Prism), `highlight-python` (Sphinx), `lang-py`...
    candidates = [pre, pre.find("code"), pre.parent, pre.parent.parent if pre.parent else None]
    for tag in candidates:
        if not isinstance(tag, Tag):
            continue
        for cls in tag.get_attribute_list("class"):
            match = re.match(r"^(?:language|lang|highlight|sourceCode)-([\w+#.-]+)$", cls or "")
            if match and match.group(1) not in ("default", "none", "text"):
                return match.group(1)
    return ""


def _contains_block(tag: Tag) -> bool:
    # Plain iteration: `find()` with a list of names rebuilds its matcher on every call.
    return any(isinstance(d, Tag) and d.name in _BLOCK_TAGS for d in tag.descendants)


class _Renderer:
    def __init__(self) -> None:
        self.blocks: list[str] = []

    def container(self, node: Tag) -> None:
        """Children in order; runs of inline content become paragraphs."""
        pending: list[str] = []
        self.walk(node, pending)
        self.paragraph("".join(pending))

    def walk(self, node: Tag, pending: list[str]) -> None:
        for child in node.children:
            if isinstance(child, Tag) and child.name in _BLOCK_TAGS:
                self.paragraph("".join(pending))
                pending.clear()
                self.block(child)
            elif isinstance(child, Tag) and _contains_block(child):
                # An inline element wrapping blocks (`<a><div>`, or a parser's repair of
                # unclosed tags): its text continues the current paragraph.
                self.walk(child, pending)
            else:
                pending.append(_inline(child))

    def paragraph(self, text: str) -> None:
        text = _collapse(text)
        if text:
            self.blocks.append(escape_paragraph(text))

    def block(self, tag: Tag) -> None:
        if tag.name in _HEADINGS:
            text = _collapse(_inline(tag))
            if text:
                self.blocks.append("#" * int(tag.name[1]) + " " + text)
        elif tag.name == "pre":
            code = tag.get_text()
            if code.strip():
                self.blocks.append(fence(code.rstrip(), _code_language(tag)))
        elif tag.name in ("ul", "ol"):
            self.list_block(tag)
        elif tag.name == "table":
            self.table(tag)
        elif tag.name == "hr":
            return
        else:
            self.container(tag)

    def list_block(self, tag: Tag) -> None:
        if tag.find("li", recursive=False) is None:  # e.g. <ul><div><li>: not a usable list
            self.container(tag)
            return
        lines: list[str] = []
        trailing: list[Tag] = []
        self.list_items(tag, 0, lines, trailing)
        if lines:
            self.blocks.append("\n".join(lines))
        for block in trailing:  # code inside list items follows the list as its own block
            self.block(block)

    def list_items(self, tag: Tag, depth: int, lines: list[str], trailing: list[Tag]) -> None:
        for item in tag.find_all("li", recursive=False):
            parts: list[str] = []
            nested: list[Tag] = []
            for child in item.children:
                if isinstance(child, Tag) and child.name in ("ul", "ol"):
                    nested.append(child)
                elif isinstance(child, Tag) and (child.name == "pre" or child.find("pre")):
                    trailing.append(child)
                else:
                    parts.append(_inline(child) + " ")
            text = _collapse("".join(parts))
            if text:
                lines.append("  " * depth + "- " + text)
            for sub in nested:
                self.list_items(sub, depth + 1, lines, trailing)

    def table(self, tag: Tag) -> None:
        rows = []
        for row in tag.find_all("tr"):
            cells = [_collapse(_inline(c)) for c in row.find_all(("td", "th"), recursive=False)]
            if any(cells):
                rows.append(" | ".join(cells))
        if rows:
            self.blocks.append("\n".join(rows))


def html_to_markdown(text: str) -> tuple[str | None, str]:
    """Return ``(title, markdown)``; title is the first <h1>, else <title>, else None."""
    soup = _soup(text)
    page_title = soup.title.get_text() if soup.title else ""
    root = _content_root(soup)
    _remove_boilerplate(root)
    renderer = _Renderer()
    renderer.container(root)
    h1 = root.find("h1")
    title = _collapse(_inline(h1)) if h1 else _collapse(page_title)
    return title or None, finalize("\n\n".join(renderer.blocks))
