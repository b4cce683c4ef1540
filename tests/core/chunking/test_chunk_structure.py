"""The chunker follows the document: headings, preambles, fences, lists, whitespace."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import (
    Chunk,
    chunk_document,
)
from tests.helpers.chunking import (
    WORDS,
    body_without_heading,
)


def test_empty_documents_give_no_chunks() -> None:
    assert chunk_document("", WORDS, 50) == []
    assert chunk_document("  \n\n \t\n", WORDS, 50) == []
    # Headings without any body produce nothing to embed.
    assert chunk_document("# A\n\n## B\n\n### C\n", WORDS, 50) == []


def test_heading_paths_nested_siblings_and_reset() -> None:
    doc = "\n\n".join(
        [
            "Preamble text.",
            "# A",
            "alpha text",
            "## B",
            "beta text",
            "### C",
            "gamma text",
            "## D",  # sibling of B: replaces B and drops C
            "delta text",
            "#### Deep",  # skipped levels still nest under the nearest shallower heading
            "deep text",
            "# E #",  # new top level resets everything; closing hashes are stripped
            "epsilon text",
        ]
    )
    chunks = chunk_document(doc, WORDS, 50)
    assert [c.heading_path for c in chunks] == [
        "",
        "A",
        "A > B",
        "A > B > C",
        "A > D",
        "A > D > Deep",
        "E",
    ]
    assert [c.text for c in chunks] == [
        "Preamble text.",
        "A\n\nalpha text",
        "B\n\nbeta text",
        "C\n\ngamma text",
        "D\n\ndelta text",
        "Deep\n\ndeep text",
        "E\n\nepsilon text",
    ]


def test_preamble_is_prefixed_with_document_title() -> None:
    chunks = chunk_document("Intro.\n\n# Setup\n\nRun it.", WORDS, 50, title="Guide")
    assert chunks[0] == Chunk("", "Guide\n\nIntro.", 2, 0)
    assert chunks[1].heading_path == "Setup"


def test_hashtag_without_space_is_not_a_heading() -> None:
    chunks = chunk_document("# Tags\n\n#notaheading here", WORDS, 50)
    assert [c.heading_path for c in chunks] == ["Tags"]
    assert chunks[0].text == "Tags\n\n#notaheading here"


def test_headings_inside_fences_are_ignored() -> None:
    doc = "# Real\n\nIntro.\n\n```bash\n# not a heading\necho hi\n```\n\n~~~\n## nor this\n~~~\n"
    chunks = chunk_document(doc, WORDS, 100)
    assert [c.heading_path for c in chunks] == ["Real"]
    assert "# not a heading" in chunks[0].text
    assert "## nor this" in chunks[0].text


def test_backtick_fence_inside_tilde_fence_does_not_close_it() -> None:
    doc = "# T\n\n~~~markdown\n```python\n# inner\n```\n~~~\n\nAfter."
    chunks = chunk_document(doc, WORDS, 100)
    assert len(chunks) == 1
    assert chunks[0].text == "T\n\n~~~markdown\n```python\n# inner\n```\n~~~\n\nAfter."


def test_unclosed_fence_runs_to_end_and_is_closed() -> None:
    doc = "# Install\n\nStep one.\n\n```bash\npip install x\n# Not a heading\n\nmore"
    chunks = chunk_document(doc, WORDS, 100)
    assert [c.heading_path for c in chunks] == ["Install"]
    assert chunks[0].text == (
        "Install\n\nStep one.\n\n```bash\npip install x\n# Not a heading\n\nmore\n```"
    )


def test_list_group_is_kept_together() -> None:
    doc = "# L\n\nIntro line.\n\n- one\n- two\n\n- three (loose)\n  continued"
    # 1 (heading) + 2 + 8 words > 10, so the list moves to the next chunk as a whole.
    chunks = chunk_document(doc, WORDS, 10, overlap_tokens=0)
    assert [body_without_heading(c) for c in chunks] == [
        "Intro line.",
        "- one\n- two\n\n- three (loose)\n  continued",
    ]


def test_whitespace_is_normalized() -> None:
    doc = "\r\n\r\n# Title   \r\n\r\n\r\nText with trailing   \nspaces.   \n\n\n\n"
    chunks = chunk_document(doc, WORDS, 50)
    assert [c.text for c in chunks] == ["Title\n\nText with trailing\nspaces."]
