"""reStructuredText and HTML land in the same Markdown dialect as Markdown."""

from __future__ import annotations

import warnings

import pytest

from embedloop.ingestion.parsers import (
    ParseError,
)
from tests.helpers.parsing import assert_no_html, parse

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
