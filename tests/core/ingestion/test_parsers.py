"""Parsers: format detection, plain text, and bad bytes become ParseError."""

from __future__ import annotations

import pytest

from embedloop.ingestion.parsers import (
    FORMATS,
    ParseError,
    detect_format,
    parse_document,
)
from tests.helpers.parsing import parse

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


# --- text and notebooks -----------------------------------------------------------------------


def test_text_is_kept_and_titled_by_first_line() -> None:
    doc = parse("\n\n  Release notes  \n\nVersion 1.0 adds stacks.\n", "text")
    assert doc.title == "Release notes"
    assert doc.text == "  Release notes\n\nVersion 1.0 adds stacks."  # as-is, bar blank lines
    assert len(parse("x" * 300, "text").title) == 120


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
