"""Parsers: every format lands in the same Markdown dialect, bad input becomes ParseError."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from embedloop.config import LocalSource
from embedloop.ingestion import catalog
from embedloop.ingestion.catalog import RefreshResult, default_scanner, refresh_catalog
from embedloop.ingestion.parsers import (
    FORMATS,
    MAX_FRONT_MATTER_CHARS,
    MAX_TITLE_CHARS,
    ParsedDocument,
    ParseError,
    detect_format,
    parse_document,
)
from embedloop.warehouse import SKIPPED_DOCUMENTS, SOURCE_DOCUMENTS, Table

ROOT = Path(__file__).resolve().parents[1]


def parse(text: str, fmt: str, fallback: str = "fallback") -> ParsedDocument:
    return parse_document(text.encode("utf-8"), fmt, fallback)


def assert_no_html(text: str) -> None:
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.search(r"</?[a-zA-Z][^>]*>", outside_code), text


# --- format detection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "fmt"),
    [
        ("a.md", "markdown"),
        ("dir/b.MARKDOWN", "markdown"),
        ("c.mdx", "markdown"),
        ("d.rst", "rst"),
        ("e.rest", "rst"),
        ("f.html", "html"),
        ("g.htm", "html"),
        ("h.txt", "text"),
        ("i.text", "text"),
        ("j.ipynb", "notebook"),
        ("k.png", None),
        ("Makefile", None),
    ],
)
def test_detect_format(relpath: str, fmt: str | None) -> None:
    assert detect_format(relpath) == fmt


def test_formats_cover_the_five_formats() -> None:
    assert set(FORMATS.values()) == {"markdown", "rst", "html", "text", "notebook"}


# --- markdown ---------------------------------------------------------------------------------


def test_markdown_front_matter_title_wins_and_is_stripped() -> None:
    doc = parse(
        "---\ntitle: From Front Matter\ntags: [a, b]\n---\n# Heading\n\nBody.\n", "markdown"
    )
    assert doc.title == "From Front Matter"
    assert "tags:" not in doc.text
    assert doc.text.startswith("# Heading\n\nBody.")


def test_markdown_title_from_first_h1_else_fallback() -> None:
    assert parse("Intro\n\n## Two\n\n# One\n", "markdown").title == "One"
    assert parse("## Only level two\n\ntext\n", "markdown", "my-page").title == "my-page"


def test_markdown_setext_headings_become_atx() -> None:
    doc = parse("Big Title\n=========\n\nText.\n\nSmaller\n-------\n\nMore.\n", "markdown")
    assert doc.title == "Big Title"
    assert doc.text == "# Big Title\n\nText.\n\n## Smaller\n\nMore."


def test_markdown_normalises_lists_code_and_blank_lines() -> None:
    source = (
        "# T\n\n* star\n+ plus\n1. one\n\n\n\n\nPara  \n\n~~~js\nlet a = 1;\n\n\n\nlet b;\n~~~\n\n"
        "    indented code\n"
    )
    doc = parse(source, "markdown")
    assert "- star\n- plus\n- one" in doc.text
    assert "\n\n\n" not in doc.text.replace("let a = 1;\n\n\n\nlet b;", "")
    assert "```js\nlet a = 1;\n\n\n\nlet b;\n```" in doc.text  # code kept verbatim
    assert "```\nindented code\n```" in doc.text
    assert "Para\n" in doc.text  # trailing spaces trimmed


def test_markdown_fence_stays_valid_when_code_contains_backticks() -> None:
    doc = parse("~~~md\n```py\nx = 1\n```\n~~~\n", "markdown")
    assert doc.text == "````md\n```py\nx = 1\n```\n````"


def test_markdown_strips_html_but_keeps_text_and_code_spans() -> None:
    source = (
        '<div align="center">\n<img src="logo.png"\n  alt="Logo"/>\n</div>\n\n'
        "# Title\n\nUse <b>bold</b> and `Vec<String>` here.<!-- note -->\n"
    )
    doc = parse(source, "markdown")
    assert doc.text == "# Title\n\nUse bold and `Vec<String>` here."


def test_markdown_heading_anchor_and_closing_hashes_removed() -> None:
    doc = parse("## Install ##\n\n### Usage {#usage}\n", "markdown")
    assert doc.text == "## Install\n\n### Usage"


def test_mdx_drops_imports_exports_and_jsx_tag_lines() -> None:
    source = """import Tabs from '@theme/Tabs';
import {
  Alpha,
  Beta,
} from './components';
export const meta = {
  sidebar: true,
};

# MDX Page

<Tabs
  groupId="language">
<TabItem value="py" label="Python">

Inner text stays.

```python
print("inside a tab")
```

</TabItem>
</Tabs>

{/* an MDX comment */}
<Callout type="info" />
"""
    doc = parse(source, "markdown", "page.mdx")
    assert doc.title == "MDX Page"
    assert doc.text == ('# MDX Page\n\nInner text stays.\n\n```python\nprint("inside a tab")\n```')


def test_mdx_rules_apply_by_content_when_file_name_is_not_known() -> None:
    doc = parse("import X from './x';\n\n# Page\n\nHello <X prop={1}>world</X>.\n", "markdown")
    assert doc.text == "# Page\n\nHello world."


# --- reStructuredText -------------------------------------------------------------------------

RST = """\
=========
Client API
=========

The client talks to the server. See :func:`connect` and :ref:`the guide <guide>`.

.. code-block:: python

   client = Client()

Setup
=====

- first item
- second item

  - nested item

1. one
2. two

term
   The definition.

.. note:: Mind the gap.

Details
-------

Example::

    raw = literal(block)

.. function:: connect(url)

   Opens a connection.

.. toctree::

   hidden/page
"""


def test_rst_sections_become_nested_headings() -> None:
    doc = parse(RST, "rst")
    assert doc.title == "Client API"
    headings = [line for line in doc.text.split("\n") if line.startswith("#")]
    assert headings == ["# Client API", "## Setup", "### Details"]


def test_rst_code_lists_and_admonitions() -> None:
    text = parse(RST, "rst").text
    assert "```python\nclient = Client()\n```" in text
    assert "```\nraw = literal(block)\n```" in text
    assert "- first item\n- second item\n  - nested item" in text
    assert "- one\n- two" in text
    assert "term\n\nThe definition." in text
    assert "Note: Mind the gap." in text
    assert "See connect and the guide." in text  # Sphinx roles read as their text
    assert "connect(url)" in text and "Opens a connection." in text
    assert "hidden/page" not in text  # toctree is navigation
    assert_no_html(text)


def test_rst_without_sections_uses_fallback_title() -> None:
    doc = parse("Just a paragraph with *broken markup\n", "rst", "notes")
    assert doc.title == "notes"
    assert "Just a paragraph" in doc.text


def test_rst_never_reads_included_files(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    doc = parse(f"Title\n=====\n\n.. include:: {secret}\n\nText.\n", "rst")
    assert "TOP SECRET" not in doc.text
    assert "Text." in doc.text


# --- HTML -------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><title>Page Title | Site</title>
<script>var tracking = "SCRIPTTEXT";</script><style>.x { color: red }</style></head>
<body class="with-sidebar">
<header class="site-header"><a href="/">HEADERTEXT</a></header>
<nav><ul><li>NAVTEXT</li></ul></nav>
<div class="sphinxsidebar">SIDEBARTEXT</div>
<div role="navigation">ROLENAVTEXT</div>
<div class="breadcrumbs">BREADCRUMBTEXT</div>
<div class="document"><div class="body" role="main">
  <h1>Install Guide<a class="headerlink" href="#install">¶</a></h1>
  <p>Main <b>content</b> with <code>pip install x</code>.</p>
  <div class="highlight-python"><pre><span>def</span> f(x):
    return   x  # keep  spacing
</pre></div>
  <h2>Options</h2>
  <ul><li>alpha</li><li><p>beta</p><ul><li>gamma</li></ul></li></ul>
  <dl><dt>verbose</dt><dd>Print more.</dd></dl>
  <table><tr><th>Name</th><th>Default</th></tr><tr><td>retries</td><td>3</td></tr></table>
  <div class="toc">TOCTEXT</div>
</div></div>
<aside>ASIDETEXT</aside>
<footer>FOOTERTEXT</footer>
</body></html>
"""


def test_html_keeps_main_content_and_drops_boilerplate() -> None:
    doc = parse(HTML, "html")
    for chrome in ("SCRIPTTEXT", "HEADERTEXT", "NAVTEXT", "SIDEBARTEXT", "ROLENAVTEXT"):
        assert chrome not in doc.text
    for chrome in ("BREADCRUMBTEXT", "TOCTEXT", "ASIDETEXT", "FOOTERTEXT", "color: red", "¶"):
        assert chrome not in doc.text
    assert doc.title == "Install Guide"
    assert doc.text.startswith("# Install Guide\n\nMain content with `pip install x`.")
    assert "```python\ndef f(x):\n    return   x  # keep  spacing\n```" in doc.text
    assert "## Options" in doc.text
    assert "- alpha\n- beta\n  - gamma" in doc.text
    assert "verbose\n\nPrint more." in doc.text
    assert "Name | Default\nretries | 3" in doc.text
    assert_no_html(doc.text)


def test_html_title_falls_back_to_title_tag_then_fallback() -> None:
    assert parse("<title>Tab Title</title><p>text</p>", "html").title == "Tab Title"
    assert parse("<p>text only</p>", "html", "page").title == "page"


def test_html_article_header_with_title_is_kept() -> None:
    doc = parse("<article><header><h1>Post</h1></header><p>Body.</p></article>", "html")
    assert doc.title == "Post"
    assert doc.text == "# Post\n\nBody."


def test_malformed_html_is_repaired_not_fatal() -> None:
    doc = parse("<html><body><h1>Broken<p>Unclosed <b>bold <i>italic<div>tail", "html")
    assert doc.title.startswith("Broken")
    assert "Unclosed bold italic" in doc.text
    assert "tail" in doc.text


def test_xhtml_and_one_word_pages_parse_without_warnings() -> None:
    # Found by fuzzing: BeautifulSoup warned on every XHTML page (`<?xml` first).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse("<?xml version='1.0'?><h1>X</h1><p>y</p>", "html").text == "# X\n\ny"
        assert parse("index.html", "html").text == "index.html"


def test_html_with_only_boilerplate_is_empty() -> None:
    with pytest.raises(ParseError, match="empty document"):
        parse("<html><body><nav>menu</nav><script>x()</script></body></html>", "html")


# --- text and notebooks -----------------------------------------------------------------------


def test_text_is_kept_and_titled_by_first_line() -> None:
    doc = parse("\n\n  Release notes  \n\nVersion 1.0 adds stacks.\n", "text")
    assert doc.title == "Release notes"
    assert doc.text == "  Release notes\n\nVersion 1.0 adds stacks."  # as-is, bar blank lines
    assert len(parse("x" * 300, "text").title) == 120


def notebook(cells: list[dict], metadata: dict | None = None) -> str:
    return json.dumps({"cells": cells, "metadata": metadata or {}, "nbformat": 4})


def test_notebook_cells_become_markdown_and_fences() -> None:
    source = notebook(
        [
            {"cell_type": "markdown", "source": ["## Quickstart\n", "Run a *pipeline*."]},
            {"cell_type": "code", "source": "x = 1\nprint(x)", "outputs": [{"text": "OUT!"}]},
            {"cell_type": "raw", "source": "RAWCELL"},
            {"cell_type": "code", "source": ""},
        ],
        {"language_info": {"name": "Python"}},
    )
    doc = parse(source, "notebook")
    assert doc.title == "Quickstart"
    assert doc.text == "## Quickstart\n\nRun a *pipeline*.\n\n```python\nx = 1\nprint(x)\n```"


def test_notebook_language_from_kernelspec() -> None:
    source = notebook(
        [{"cell_type": "code", "source": "summary(x)"}], {"kernelspec": {"language": "R"}}
    )
    doc = parse(source, "notebook", "analysis")
    assert doc.title == "analysis"
    assert doc.text == "```r\nsummary(x)\n```"


@pytest.mark.parametrize(
    "source", ["{not json", "[1, 2]", '{"metadata": {}}', '{"cells": ["not a cell"]}']
)
def test_malformed_notebook_is_a_parse_error(source: str) -> None:
    with pytest.raises(ParseError, match=r"^malformed notebook"):
        parse(source, "notebook")


# --- bad bytes --------------------------------------------------------------------------------


def test_binary_file_is_rejected() -> None:
    with pytest.raises(ParseError, match=r"^binary file$"):
        parse_document(b"\x89PNG\r\n\x1a\n\x00\x00data", "markdown", "logo")


def test_undecodable_bytes_are_rejected() -> None:
    with pytest.raises(ParseError, match=r"^not valid UTF-8"):
        parse_document("caf\u00e9".encode("latin-1"), "text", "x")


def test_utf8_bom_is_accepted() -> None:
    doc = parse_document(b"\xef\xbb\xbf# Title\n\nBody\n", "markdown", "x")
    assert doc.title == "Title"
    assert doc.text.startswith("# Title")


@pytest.mark.parametrize("fmt", ["markdown", "rst", "html", "text"])
@pytest.mark.parametrize("data", [b"", b"   \n\t\n  \n"])
def test_empty_and_whitespace_documents_are_rejected(fmt: str, data: bytes) -> None:
    with pytest.raises(ParseError, match=r"^empty document$"):
        parse_document(data, fmt, "x")


def test_markdown_with_only_front_matter_is_empty() -> None:
    with pytest.raises(ParseError, match="empty document"):
        parse("---\ntitle: Nothing here\n---\n\n", "markdown")


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ParseError, match="unsupported format"):
        parse_document(b"x", "docx", "x")


def test_markdown_prose_starting_like_a_tag_is_kept() -> None:
    doc = parse(
        "# T\n\n<Note that this is prose\nwithout any closing bracket.\n\nNext.\n", "markdown"
    )
    assert "<Note that this is prose" in doc.text
    assert "Next." in doc.text


def test_prose_that_looks_like_a_heading_is_escaped() -> None:
    html = parse("<h1>T</h1><p># of retries is three</p>", "html").text
    rst = parse("T\n=\n\n# of retries is three\n", "rst").text
    for text in (html, rst):
        assert text == "# T\n\n\\# of retries is three"


# --- front matter is data, never a resource bomb ----------------------------------------------


def yaml_bomb(depth: int, width: int = 9) -> str:
    """A "billion laughs" document: `title` expands to width**depth strings via aliases."""
    names = [f"l{i}" for i in range(depth)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * width) + "]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "---\n" + "\n".join(lines) + f"\ntitle: *{names[-1]}\n---\n# Bomb\n\nBody text.\n"


_BOMB_UNDER_MEMORY_LIMIT = """
import resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from embedloop.ingestion.parsers import ParseError, parse_document
data = sys.stdin.buffer.read()
start = time.perf_counter()
try:
    doc = parse_document(data, "markdown", "bomb")
    outcome = f"parsed: a title of {len(doc.title)} characters"
except ParseError as err:
    outcome = f"ParseError: {err}"
except BaseException as err:
    outcome = f"{type(err).__name__}: {err}"
print(f"{time.perf_counter() - start:.3f}")
print(outcome)
"""


def test_yaml_alias_bomb_is_refused_quickly_under_a_memory_limit() -> None:
    bomb = yaml_bomb(depth=9).encode()  # ~500 bytes; 9**9 strings once expanded
    assert len(bomb) < 600
    result = subprocess.run(
        [sys.executable, "-c", _BOMB_UNDER_MEMORY_LIMIT, str(400 * 2**20)],
        input=bomb,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    seconds, outcome = result.stdout.decode().splitlines()
    assert outcome == "ParseError: front matter uses YAML aliases"
    assert float(seconds) < 5


def test_front_matter_anchors_and_aliases_are_refused() -> None:
    with pytest.raises(ParseError, match="aliases"):
        parse(yaml_bomb(depth=2), "markdown")
    with pytest.raises(ParseError, match="aliases"):
        parse("---\nbase: &b {x: 1}\ntitle: T\nmore:\n  <<: *b\n---\n# H\n", "markdown")


def test_front_matter_values_are_not_constructed() -> None:
    # Implicit YAML types used to be built: an impossible date or a 5000-digit int raised
    # ValueError, which no caller expected.
    doc = parse("---\ntitle: Dates\ndate: 2023-02-30\n---\n# H\n", "markdown")
    assert doc.title == "Dates"
    doc = parse("---\nn: " + "1" * 5000 + "\ntitle: 12\n---\n# H\n", "markdown")
    assert doc.title == "12"


def test_front_matter_with_control_characters_is_dropped() -> None:
    # Found by fuzzing: PyYAML's reader rejects them as soon as the loader is created.
    doc = parse("---\ntitle: T\n\x1f\n---\n# Heading\n", "markdown")
    assert doc.title == "Heading"
    assert doc.text == "# Heading"


@pytest.mark.parametrize(
    "front_matter",
    ["title: [a, b]", "title: {x: 1}", "title: null", "title:", "- a list\n- not a map", "42"],
)
def test_front_matter_without_a_scalar_title_falls_back_to_heading(front_matter: str) -> None:
    doc = parse(f"---\n{front_matter}\n---\n# Heading\n\nBody.\n", "markdown")
    assert doc.title == "Heading"
    assert doc.text == "# Heading\n\nBody."


def test_front_matter_title_is_collapsed_and_capped() -> None:
    doc = parse("---\ntitle: |\n  two\n  lines\n---\nBody.\n", "markdown")
    assert doc.title == "two lines"
    doc = parse(f"---\ntitle: {'t' * 5000}\n---\nBody.\n", "markdown")
    assert doc.title == "t" * MAX_TITLE_CHARS
    doc = parse(f'+++\ntitle = "{"t" * 5000}"\n+++\nBody.\n', "markdown")
    assert doc.title == "t" * MAX_TITLE_CHARS


def test_every_title_is_capped() -> None:
    assert len(parse(f"<h1>{'w ' * 2000}</h1><p>x</p>", "html").title) <= MAX_TITLE_CHARS
    assert len(parse(f"# {'w' * 5000}\n", "markdown").title) == MAX_TITLE_CHARS
    assert parse("<p>x</p>", "html", "f" * 5000).title == "f" * MAX_TITLE_CHARS


def test_oversize_and_deeply_nested_front_matter_is_refused() -> None:
    big = "---\n" + "key: value\n" * (MAX_FRONT_MATTER_CHARS // 10) + "---\n# H\n"
    with pytest.raises(ParseError, match="front matter longer than"):
        parse(big, "markdown")
    deep = "---\nx: " + "[" * 40 + "]" * 40 + "\n---\n# H\n"
    with pytest.raises(ParseError, match="front matter nested too deeply"):
        parse(deep, "markdown")


# --- raw HTML in Markdown ---------------------------------------------------------------------

RAW_HTML_MD = """# Page

<script type="module">
const SCRIPTTEXT = 1;

console.log(SCRIPTTEXT);
</script>

<style>
.x { color: red } /* STYLETEXT */
</style>

<svg width="10" viewBox="0 0 10 10">
  <text>SVGTEXT</text>
</svg>
<svg class="icon" aria-hidden="true"/>
<noscript>NOSCRIPTTEXT</noscript> Kept after noscript.

Inline <script>INLINESCRIPT()</script> text and <svg><text>SVGINLINE</text></svg>icons.

Before <!-- a multi-line
COMMENTTEXT
--> after the comment.

<!-- COMMENTTEXT --> Kept after a comment.

Use `<script>` and `<!--` in code spans.

End.
"""


def test_markdown_drops_script_style_svg_and_comment_content() -> None:
    doc = parse(RAW_HTML_MD, "markdown")
    for hidden in ("SCRIPT", "STYLE", "SVG", "COMMENT", "color: red", "<svg", "<text>"):
        assert hidden not in doc.text, doc.text
    assert doc.text == (
        "# Page\n\nKept after noscript.\n\nInline text and icons.\n\n"
        "Before after the comment.\n\nKept after a comment.\n\n"
        "Use `<script>` and `<!--` in code spans.\n\nEnd."
    )


def test_markdown_unclosed_raw_tag_hides_only_its_paragraph() -> None:
    doc = parse("# T\n\n<script>\nSCRIPTTEXT\n\nStill here.\n", "markdown")
    assert doc.text == "# T\n\nStill here."
    # An unclosed comment hides the rest, as a renderer would.
    assert parse("# T\n\n<!-- note\n\nHidden.\n", "markdown").text == "# T"
    # Text <!-- not closed before the paragraph ends stays prose.
    doc = parse("# T\n\nA <!-- b\nc\n\nd --> e\n", "markdown")
    assert doc.text == "# T\n\nA <!-- b\nc\n\nd --> e"
    # Stray tags without their other half lose the tag, not the text around it.
    doc = parse("# T\n\nx <svg> y <script> z </style>\n", "markdown")
    assert doc.text.split() == ["#", "T", "x", "y", "z"]


@pytest.mark.parametrize(
    "markup",
    [
        "<script x\n" * 20_000,  # unclosed block openers, one per line
        "a <!-- b\n" * 20_000,  # comments opened mid-line, never closed
        "x " + "<!-- " * 30_000,  # one line of comment openers: `<!--.*?-->` was quadratic
        "x " + "<script>" * 30_000,
        "x " + "<svg/>" * 30_000,
    ],
)
def test_many_unclosed_raw_openers_stay_fast(markup: str) -> None:
    start = time.perf_counter()
    doc = parse(f"# T\n\n{markup}\n\nTail.\n", "markdown")
    assert time.perf_counter() - start < 5
    assert doc.text.endswith("Tail.")


# --- notebooks with junk cells ----------------------------------------------------------------


def test_notebook_cells_with_non_text_sources_are_skipped() -> None:
    source = notebook(
        [
            {"cell_type": "markdown", "source": {"a": "DICTSOURCE"}},
            {"cell_type": "code", "source": None},
            {"cell_type": "code", "source": 12345},
            {"cell_type": "code", "source": ["ok = 1\n", 67890]},
            {"cell_type": "markdown", "source": ["# Real\n", "Text."]},
            {"cell_type": "code", "source": "x = 1"},
        ]
    )
    doc = parse(source, "notebook")
    assert doc.text == "# Real\n\nText.\n\n```python\nx = 1\n```"


@pytest.mark.parametrize("bad", [{"a": "b"}, None, 5, [1, 2], ["a", None]])
def test_notebook_without_a_usable_cell_is_a_parse_error(bad: object) -> None:
    source = notebook(
        [{"cell_type": "markdown", "source": bad}, {"cell_type": "code", "source": 1}]
    )
    with pytest.raises(ParseError, match=r"^malformed notebook: no cell has a text source"):
        parse(source, "notebook")


@pytest.mark.parametrize(
    "data",
    [
        {"worksheets": [{"cells": 5}]},
        {"worksheets": [{"cells": None}, 3, {"cells": {"a": 1}}]},
    ],
)
def test_notebook_v3_with_junk_worksheets_is_a_parse_error(data: dict) -> None:
    with pytest.raises(ParseError):
        parse(json.dumps(data), "notebook")


def test_notebook_with_an_overlong_integer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"^malformed notebook"):
        parse('{"cells": [], "n": ' + "1" * 5000 + "}", "notebook")


def test_notebook_language_cannot_break_the_fence() -> None:
    source = notebook(
        [{"cell_type": "code", "source": "x = 1"}],
        {"language_info": {"name": "py\n# Injected\n```"}, "kernelspec": {"language": "R"}},
    )
    assert parse(source, "notebook").text == "```r\nx = 1\n```"


# --- the catalog skips what fails, whatever the failure ---------------------------------------


def _empty(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in table.columns})


def _refresh(root: Path, cache: Path) -> RefreshResult:
    return refresh_catalog(
        [LocalSource(kind="local", name="docs", path=root)],
        _empty(SOURCE_DOCUMENTS),
        _empty(SKIPPED_DOCUMENTS),
        scanner=default_scanner(cache, 1_000_000),
        now=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_refresh_skips_a_yaml_bomb_and_ingests_its_neighbour(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "bomb.md").write_text(yaml_bomb(depth=6))  # 9**6 strings: megabytes if expanded
    (root / "good.md").write_text("# Good\n\nFine.\n")
    result = _refresh(root, tmp_path / "cache")
    assert list(result.documents["doc_id"]) == ["docs:good.md"]
    assert result.skipped[["relpath", "reason"]].to_dict("records") == [
        {"relpath": "bomb.md", "reason": "front matter uses YAML aliases"}
    ]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryError(), "parser ran out of memory"),
        (RecursionError("deep"), "document nested too deeply to parse"),
        (KeyError("bug"), "parser failed: KeyError: 'bug'"),
    ],
)
def test_refresh_turns_any_parser_failure_into_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "bad.md").write_text("# Bad\n")
    (root / "good.md").write_text("# Good\n")

    def flaky_parse(data: bytes, fmt: str, fallback_title: str) -> ParsedDocument:
        if fallback_title == "bad":
            raise error
        return parse_document(data, fmt, fallback_title)

    monkeypatch.setattr(catalog, "parse_document", flaky_parse)
    result = _refresh(root, tmp_path / "cache")
    assert list(result.documents["title"]) == ["Good"]
    assert result.skipped[["relpath", "reason"]].to_dict("records") == [
        {"relpath": "bad.md", "reason": reason}
    ]
