"""Property-based fuzzing of the parsers and the chunker.

Ingestion reads whatever files a source holds, so the parsers must turn any bytes into
either a document or a `ParseError` (the catalog's skip reason), never another exception;
and the chunker must split any text it is handed within the token budget.

Each test draws at most ``EXAMPLES[name]`` inputs; ``TOTAL_EXAMPLES`` is what one run tries
at most (3,800 with the counts below, about 20 s on two shared cores).
"""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import HFTokenCounter, chunk_document
from embedloop.ingestion.markdown_parser import normalize_markdown
from embedloop.ingestion.parsers import (
    FORMATS,
    MAX_TITLE_CHARS,
    ParsedDocument,
    ParseError,
    detect_format,
    parse_document,
)

EXAMPLES = {
    "bytes": 500,
    "text": 500,
    "markdown": 600,
    "front_matter": 500,
    "rst": 300,
    "html": 500,
    "notebook": 300,
    "raw_html_dropped": 200,
    "chunker": 400,
}
TOTAL_EXAMPLES = sum(EXAMPLES.values())
PARSER_FORMATS = sorted(set(FORMATS.values()))


def fuzz(name: str) -> settings:
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def check_parse(data: bytes, fmt: str, fallback_title: str) -> ParsedDocument | None:
    """The parser property: a well-formed document, or a ParseError with a reason."""
    try:
        doc = parse_document(data, fmt, fallback_title)
    except ParseError as err:
        assert str(err).strip()
        return None
    assert isinstance(doc.title, str) and isinstance(doc.text, str)
    assert len(doc.title) <= MAX_TITLE_CHARS
    assert doc.text.strip()
    return doc


# --- generators ---------------------------------------------------------------------------------

# Unicode without NUL (which is "binary file" before any parser runs) or surrogates.
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=300)
WORDS = st.text("abcdefghij XYZ.,!?-_*`#<>/&;:=[]{}()|'\"\\~+\t", max_size=40)
FILE_NAMES = st.builds(
    lambda stem, suffix: stem + suffix,
    st.text(st.characters(exclude_characters="/\x00"), max_size=20),
    st.sampled_from([*FORMATS, "", ".MDX", ".Rst", ".pdf", ".md.bak"]),
)


def documents(fragments: list[str], max_size: int = 80) -> st.SearchStrategy[str]:
    """Documents stitched from format-specific fragments, random words and separators."""
    piece = st.one_of(st.sampled_from(fragments), WORDS, TEXT.map(lambda t: t[:40]))
    separator = st.sampled_from(["\n", "\n\n", " ", "", "\r\n"])

    @st.composite
    def document(draw: st.DrawFn) -> str:
        size = draw(st.integers(0, max_size))  # plain lists stay short on average
        parts = draw(st.lists(st.tuples(piece, separator), min_size=size, max_size=size))
        return "".join(p + sep for p, sep in parts)

    return document()


MARKDOWN_FRAGMENTS = [
    "# Title", "## Sub {#id}", "### x ###", "#", "######", "Title\n===", "Sub\n---", "---",
    "***", "```", "```python", "````md", "~~~", "~~~js", "```a`b", "    indented code",
    "\tcode", "- item", "* item", "1. one", "10) ten", "  - nested", "<div align=\"center\">",
    "</div>", "<img src=x", "  alt=y/>", "<br>", "<b>bold</b>", "`code <b>`", "``", "<!--",
    "-->", "<!-- c -->", "<script>", "</script>", "<style>", "</style>", "<svg/>", "<svg>",
    "</svg>", "<noscript>", "import X from './x';", "import {", "} from 'y';",
    "export const a = {", "};", "export default X", "{/* c */}", "<Tabs>", "</Tabs>",
    "<Callout type=\"x\" />", "<>", "</>", "+++", "title = \"T\"", "...", "Vec<String>",
    "[link](http://x)", "![img](y.png)", "| a | b |", "|---|---|", "> quote", "\\# hash",
]  # fmt: skip
RST_FRAGMENTS = [
    "Title", "=====", "-----", "~~~~~", "=", "Title\n=====", "=====\nTitle\n=====",
    ".. code-block:: python", ".. code-block::", "   x = 1", "::", "Example::", ">>> 1 + 1",
    "2", ".. note:: n", ".. warning::", ".. admonition:: Custom", ".. function:: f(x)",
    ".. py:class:: C", ":param x: y", ":returns: z", ".. toctree::", "   page",
    ".. include:: /etc/passwd", ".. raw:: html", "   <b>x</b>", ".. image:: x.png",
    "   :alt: alt", ".. contents::", ".. |sub| replace:: text", "|sub|", ":func:`f`",
    ":ref:`T <t>`", "`x`_", ".. _t:", "*emph", "**strong**", "``lit``", "- a", "  - b",
    "1. one", "#. auto", "term", "   definition", "+---+---+", "| a | b |", "+===+===+",
    "=== ===", "a   b", "| line", ".. [1] note", "[1]_", "..", ".. unknown:: x",
    ".. only:: html", ".. versionadded:: 1.0", ".. math::", "   x^2", "\\", "`",
]  # fmt: skip
HTML_TAGS = [
    "div", "p", "pre", "code", "span", "a", "b", "ul", "ol", "li", "table", "tr", "td", "th",
    "h1", "h2", "h3", "h6", "dl", "dt", "dd", "br", "hr", "main", "article", "section",
    "header", "footer", "nav", "aside", "script", "style", "svg", "blockquote", "kbd", "title",
    "body", "html", "head", "form", "template", "noscript", "img", "details", "summary",
]  # fmt: skip
HTML_ATTRS = [
    "", ' class="sidebar"', ' class="has-sidebar"', ' class="language-python"',
    ' class="highlight-rst"', ' role="main"', ' role="navigation"', ' id="toc"',
    ' class="md-header"', ' alt="x"', " hidden", ' class=""',
]  # fmt: skip


def html_nodes() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        WORDS,
        st.sampled_from(["<!-- c -->", "<![CDATA[x]]>", "<?pi x?>", "&amp;", "&#0;", "<", ">"]),
    )

    def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.builds(
            lambda tag, attrs, body, close: (
                f"<{tag}{attrs}>{body}" + (f"</{tag}>" if close else "")
            ),
            st.sampled_from(HTML_TAGS),
            st.sampled_from(HTML_ATTRS),
            st.lists(children, max_size=4).map("".join),
            st.booleans(),
        )

    return st.recursive(leaf, element, max_leaves=40)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
CELL_SOURCES = st.one_of(
    documents(MARKDOWN_FRAGMENTS, max_size=8), st.lists(WORDS, max_size=4), JSON_VALUES
)
CELLS = st.fixed_dictionaries(
    {
        "cell_type": st.sampled_from(["markdown", "code", "raw", "heading", 3]),
        "source": CELL_SOURCES,
    },
    optional={"input": CELL_SOURCES, "outputs": JSON_VALUES},
)
NOTEBOOK_METADATA = st.fixed_dictionaries(
    {},
    optional={
        "language_info": st.fixed_dictionaries({}, optional={"name": TEXT | JSON_VALUES}),
        "kernelspec": st.fixed_dictionaries({}, optional={"language": TEXT | JSON_VALUES}),
    },
)
NOTEBOOKS = st.one_of(
    st.fixed_dictionaries({"cells": st.lists(CELLS, max_size=6), "metadata": NOTEBOOK_METADATA}),
    st.fixed_dictionaries(
        {"worksheets": st.lists(st.fixed_dictionaries({"cells": st.lists(CELLS) | JSON_VALUES}))}
    ),
    JSON_VALUES,
)
YAML_KEYS = ["title", "date", "n", "tags", "a", "b", "<<", "? k", "- x"]
YAML_VALUES = [
    "T", "'quoted'", '"esc\\u00e9"', "|\n  block\n  text", ">-\n  folded", "[a, b]", "{x: 1}",
    "null", "~", "", "2023-02-30", "2023-01-01", "2023-02-30T25:61:00", "12", "1e999", ".nan",
    "0x1F", "0o17", "1_000", "9" * 5000, "!!binary aGk=", "!!python/object:os.system x",
    "!custom x", "&a [x, x]", "[*a, *a]", "*a", "*undefined", "&c {d: 1}", "'unclosed", "[",
    "{", "yes", "- nested", "\n  nested: value", "\n  - item",
]  # fmt: skip
YAML_PAIRS = st.builds("{}: {}".format, st.sampled_from(YAML_KEYS), st.sampled_from(YAML_VALUES))
YAML_JUNK = st.sampled_from(["%YAML 1.1", "...", "\tbad: tab", "---", "- x", "  indented"]) | WORDS


@st.composite
def front_matter_documents(draw: st.DrawFn) -> str:
    """Mostly well-formed YAML (so that it gets past the YAML parser), sometimes TOML."""
    fence = draw(st.sampled_from(["---", "---", "---", "+++"]))
    lines = draw(st.lists(YAML_PAIRS, max_size=6))
    if draw(st.integers(0, 3)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), draw(YAML_JUNK))
    closing = draw(st.sampled_from(["---", "---", "...", "+++", ""]))
    body = draw(documents(MARKDOWN_FRAGMENTS, max_size=10))
    return "\n".join([fence, *lines, closing, body])


# --- parsers ------------------------------------------------------------------------------------


@fuzz("bytes")
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(PARSER_FORMATS), name=FILE_NAMES)
def test_any_bytes_in_any_format(data: bytes, fmt: str, name: str) -> None:
    check_parse(data, fmt, name)


@fuzz("text")
@given(text=st.text(max_size=2000), fmt=st.sampled_from(PARSER_FORMATS), name=FILE_NAMES)
def test_any_text_in_any_format(text: str, fmt: str, name: str) -> None:
    check_parse(text.encode("utf-8", "surrogatepass"), fmt, name)


@fuzz("markdown")
@given(text=documents(MARKDOWN_FRAGMENTS), name=FILE_NAMES)
def test_markdown_like_documents(text: str, name: str) -> None:
    fmt = detect_format(name)
    assert fmt is None or fmt in PARSER_FORMATS
    check_parse(text.encode(), fmt or "markdown", name)


@fuzz("front_matter")
@given(text=front_matter_documents())
def test_front_matter_documents(text: str) -> None:
    check_parse(text.encode(), "markdown", "page")


@fuzz("rst")
@given(text=documents(RST_FRAGMENTS, max_size=60))
def test_rst_like_documents(text: str) -> None:
    check_parse(text.encode(), "rst", "page")


@fuzz("html")
@given(body=html_nodes(), doctype=st.sampled_from(["", "<!DOCTYPE html>", "<?xml version='1.0'?>"]))
def test_html_like_documents(body: str, doctype: str) -> None:
    check_parse((doctype + body).encode(), "html", "page")


@fuzz("notebook")
@given(data=NOTEBOOKS)
def test_notebook_like_documents(data: object) -> None:
    check_parse(json.dumps(data).encode(), "notebook", "nb")


# The content of a closed <script> block: anything but the start of its closing tag.
SCRIPT_BODY = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00<"), max_size=200
)
PROSE = st.text("abcdefgh .,", min_size=1, max_size=60).filter(str.strip)


@fuzz("raw_html_dropped")
@given(before=PROSE, body=SCRIPT_BODY, after=PROSE, tag=st.sampled_from(["script", "style"]))
def test_closed_script_and_style_content_never_reaches_passages(
    before: str, body: str, after: str, tag: str
) -> None:
    secret = "ZQXSECRET"
    for fmt, text in [
        ("markdown", f"{before}\n\n<{tag}>\n{secret}{body}\n</{tag}>\n\n{after}\n"),
        ("html", f"<p>{before}</p><{tag}>{secret}{body}</{tag}><p>{after}</p>"),
    ]:
        doc = check_parse(text.encode(), fmt, "page")
        assert doc is not None and secret not in doc.text, (fmt, text)


# --- chunker ------------------------------------------------------------------------------------


@fuzz("chunker")
@given(
    text=st.one_of(
        st.text(max_size=3000),
        documents(MARKDOWN_FRAGMENTS, max_size=150),
        documents(MARKDOWN_FRAGMENTS, max_size=150).map(normalize_markdown),  # parser output
    ),
    max_tokens=st.integers(17, 254),
    overlap_tokens=st.sampled_from([0, 1, 8, 32, 64]),
    min_tokens=st.sampled_from([0, 8, 16]),
    title=st.sampled_from(["", "T", "A long document title " * 4]),
)
def test_chunker_on_any_text(
    hf_counter: HFTokenCounter,
    text: str,
    max_tokens: int,
    overlap_tokens: int,
    min_tokens: int,
    title: str,
) -> None:
    chunks = chunk_document(text, hf_counter, max_tokens, overlap_tokens, min_tokens, title)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert isinstance(chunk.text, str) and chunk.text.strip()
        assert chunk.n_tokens == hf_counter.count(chunk.text) <= max_tokens
