"""reStructuredText -> normalised Markdown by walking the docutils doctree."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives
from docutils.parsers.rst.directives.body import CodeBlock

from embedloop.ingestion.dialect import escape_paragraph, fence, finalize

_SETTINGS = {
    "report_level": 5,  # never print, never halt: broken markup still yields a tree
    "halt_level": 5,
    "doctitle_xform": False,  # keep the top section a section, so depth == heading level
    "sectsubtitle_xform": False,
    "file_insertion_enabled": False,  # `.. include:: /etc/passwd` must not read local files
    "raw_enabled": False,
    "syntax_highlight": "none",
    "_disable_config": True,  # ignore docutils.conf files on this machine
    "input_encoding": "unicode",
}
# `:func:`json.dumps``, `:ref:`Title <target>`` left behind by unknown (Sphinx) roles.
_ROLE = re.compile(r":(?:[\w-]+:)*[\w-]+:`([^`]*)`")
# Sphinx directives docutils does not know: render their argument and body, not an error.
_SPHINX_DESCRIBED = (
    "function", "class", "method", "attribute", "data", "exception", "decorator", "classmethod",
    "staticmethod", "module", "property", "describe", "object", "envvar", "option",
    "versionadded", "versionchanged", "deprecated", "seealso", "glossary", "productionlist",
)  # fmt: skip
# Sphinx directives that only steer the build (navigation, autodoc, indexes).
_SPHINX_DROPPED = (
    "toctree", "index", "highlight", "currentmodule", "literalinclude", "automodule",
    "autoclass", "autofunction", "automethod", "autodata", "autoattribute", "autoexception",
    "autosummary", "testsetup", "testcleanup", "only", "tabularcolumns", "sectionauthor",
    "moduleauthor", "codeauthor",
)  # fmt: skip


class _AnyOptions(dict[str, Callable[[str], str]]):
    """Accepts every `:option:` so Sphinx directive options never become errors."""

    def __missing__(self, key: str) -> Callable[[str], str]:
        return directives.unchanged

    def __bool__(self) -> bool:
        return True


class _DescribedDirective(Directive):
    has_content = True
    optional_arguments = 1
    final_argument_whitespace = True
    option_spec = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        node = nodes.container()
        if self.arguments:
            label = self.name.split(":")[-1].replace("version", "version ")
            node += nodes.paragraph(text=f"{label}: {self.arguments[0]}")
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


class _DroppedDirective(_DescribedDirective):
    def run(self) -> list[nodes.Node]:
        return []


def _register_sphinx_fallbacks() -> None:
    for name in _SPHINX_DESCRIBED:
        for full in (name, f"py:{name}"):
            directives.register_directive(full, _DescribedDirective)
    for name in _SPHINX_DROPPED:
        directives.register_directive(name, _DroppedDirective)
    directives.register_directive("testcode", CodeBlock)
    directives.register_directive("doctest", CodeBlock)


_register_sphinx_fallbacks()


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _role_text(match: re.Match[str]) -> str:
    text = match.group(1)
    titled = re.match(r"^(.*?)\s*<[^<>]+>$", text, re.S)
    if titled and titled.group(1):
        return titled.group(1)
    return text.lstrip("!~")


def _inline(node: nodes.Node) -> str:
    if isinstance(node, nodes.Text):
        return str(node)
    if isinstance(node, nodes.system_message):
        return ""
    if isinstance(node, nodes.literal):
        return f"`{node.astext()}`"
    if isinstance(node, nodes.problematic):
        return _ROLE.sub(_role_text, node.astext())
    return "".join(_inline(child) for child in node.children)


def _text(node: nodes.Node) -> str:
    return _collapse(_inline(node))


class _Renderer:
    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.title: str | None = None

    def children(self, node: nodes.Node, depth: int) -> None:
        for child in node.children:
            self.node(child, depth)

    def node(self, node: nodes.Node, depth: int) -> None:
        handler = _HANDLERS.get(type(node).__name__)
        if handler is not None:
            handler(self, node, depth)
        elif isinstance(node, nodes.Admonition):
            self.admonition(node, depth)
        elif isinstance(node, nodes.Invisible | nodes.system_message | nodes.Special):
            return
        elif isinstance(node, nodes.TextElement):
            self.paragraph(_text(node))
        else:
            self.children(node, depth)

    def paragraph(self, text: str) -> None:
        if text:
            self.blocks.append(escape_paragraph(text))

    def section(self, node: nodes.section, depth: int) -> None:
        title = node.next_node(nodes.title)
        text = _text(title) if title is not None else ""
        if text:
            self.title = self.title or text
            self.blocks.append("#" * min(depth + 1, 6) + " " + text)
        for child in node.children:
            if not isinstance(child, nodes.title):
                self.node(child, depth + 1)

    def literal_block(self, node: nodes.Element, depth: int) -> None:
        classes = [c for c in node.get("classes", []) if c != "code"]
        lang = node.get("language") or (classes[0] if classes else "")
        if isinstance(node, nodes.doctest_block):
            lang = "pycon"
        self.blocks.append(fence(node.astext(), lang))

    def list_block(self, node: nodes.Element, depth: int) -> None:
        lines: list[str] = []
        trailing = _Renderer()
        self.list_items(node, 0, lines, trailing)
        if lines:
            self.blocks.append("\n".join(lines))
        self.blocks.extend(trailing.blocks)

    def list_items(
        self, node: nodes.Element, indent: int, lines: list[str], rest: _Renderer
    ) -> None:
        for item in node.children:
            if not isinstance(item, nodes.list_item):
                continue
            first = True
            for child in item.children:
                if isinstance(child, nodes.bullet_list | nodes.enumerated_list):
                    self.list_items(child, indent + 1, lines, rest)
                elif isinstance(child, nodes.paragraph) and first:
                    lines.append("  " * indent + "- " + _text(child))
                    first = False
                else:  # further paragraphs and code follow the list as their own blocks
                    rest.node(child, 0)

    def definition_list(self, node: nodes.Element, depth: int) -> None:
        for item in node.children:
            terms = [
                _text(c) for c in item.children if isinstance(c, nodes.term | nodes.classifier)
            ]
            self.paragraph(" : ".join(t for t in terms if t))
            for child in item.children:
                if isinstance(child, nodes.definition):
                    self.children(child, depth)

    def field_list(self, node: nodes.Element, depth: int) -> None:
        for field in node.children:
            if isinstance(field, nodes.field) and len(field.children) == 2:
                name, body = field.children
                self.paragraph(f"{_text(name)}: {_text(body)}")
            else:  # docinfo's `:author:` and friends are typed nodes, not fields
                self.paragraph(f"{field.tagname.capitalize()}: {_text(field)}")

    def admonition(self, node: nodes.Element, depth: int) -> None:
        title = node.next_node(nodes.title)
        label = _text(title) if title is not None else type(node).__name__.capitalize()
        start = len(self.blocks)
        for child in node.children:
            if not isinstance(child, nodes.title):
                self.node(child, depth)
        if len(self.blocks) > start and not self.blocks[start].startswith(("`", "#", "- ")):
            self.blocks[start] = f"{label}: {self.blocks[start]}"
        else:
            self.blocks.insert(start, f"{label}:")

    def table(self, node: nodes.Element, depth: int) -> None:
        rows = []
        for row in node.findall(nodes.row):
            rows.append(" | ".join(_text(entry) for entry in row.children))
        if rows:
            self.blocks.append("\n".join(rows))

    def line_block(self, node: nodes.Element, depth: int) -> None:
        self.paragraph("\n".join(_text(line) for line in node.findall(nodes.line)))

    def topic(self, node: nodes.Element, depth: int) -> None:
        if "contents" not in node.get("classes", []):  # `.. contents::` is a generated TOC
            self.children(node, depth)


_HANDLERS: dict[str, Callable[[_Renderer, Any, int], None]] = {
    "section": _Renderer.section,
    "title": lambda r, n, d: r.paragraph(_text(n)),
    "literal_block": _Renderer.literal_block,
    "doctest_block": _Renderer.literal_block,
    "bullet_list": _Renderer.list_block,
    "enumerated_list": _Renderer.list_block,
    "definition_list": _Renderer.definition_list,
    "field_list": _Renderer.field_list,
    "docinfo": _Renderer.field_list,
    "table": _Renderer.table,
    "line_block": _Renderer.line_block,
    "topic": _Renderer.topic,
    "transition": lambda r, n, d: None,
    "image": lambda r, n, d: r.paragraph(_collapse(n.get("alt", ""))),
}  # fmt: skip


def rst_to_markdown(text: str) -> tuple[str | None, str]:
    """Return ``(title, markdown)``; the title is the first section title, if any."""
    settings = {**_SETTINGS, "warning_stream": io.StringIO()}
    doctree = publish_doctree(text, settings_overrides=settings)
    renderer = _Renderer()
    renderer.children(doctree, 0)
    return renderer.title, finalize("\n\n".join(renderer.blocks))
