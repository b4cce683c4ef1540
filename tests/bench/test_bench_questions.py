"""The FAQ extractors of the real-question benchmarks, on snippets shaped like the real pages.

The Debian FAQ is DocBook XHTML (a ``div.section`` per question, the question in its
title) and gitfaq(7) is Asciidoc HTML (``dt.hdlist1`` / ``dd``). If either parser breaks,
the benchmark would silently ask fewer questions or leak them into the corpus; these
tests pin the count, the answers, and that no question survives in the cleaned pages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from bench.faq_extract import (
    Question,
    debian_faq_page,
    extract_debian_faq,
    gitfaq_page,
    require,
    write_question_file,
)
from embedloop.chunking.chunker import HFTokenCounter, chunk_document
from embedloop.config import ModelSettings
from embedloop.evaluation.questions import load_question_file
from embedloop.ingestion.parsers import parse_document

DEBIAN_PAGE = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "x.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Chapter 3. Choosing</title></head>
<body><div class="chapter"><div class="titlepage"><div><div><h1 class="title">
<a id="choosing"></a>Chapter 3. Choosing a Debian distribution</h1></div></div></div>
<div class="toc"><p><b>Table of Contents</b></p><dl class="toc"><dt><span class="section">
<a href="#s3.1">3.1. Which Debian distribution is better for me?</a></span></dt></dl></div>
<p>For more information read <a class="xref" href="ftparchives.en.html#s6.1"
title="6.1. How many Debian distributions are there?">Section 6.1, “How many Debian
distributions are there?”</a>.</p>
<div class="section"><div class="titlepage"><div><div><h2 class="title"><a id="s3.1"></a>3.1.
Which Debian distribution is better for me?</h2></div></div></div>
<p>It really depends on what you intend to do.</p>
<div class="section"><div class="titlepage"><div><div><h3 class="title"><a id="s3.1.1"></a>
3.1.1. Hardware is not detected in stable. What should I do?</h3></div></div></div>
<p>Try <span class="emphasis"><em>testing</em></span> or unstable.</p></div>
<div class="section"><div class="titlepage"><div><div><h3 class="title"><a id="s3.1.2"></a>
3.1.2. dpkg</h3></div></div></div><p>The low-level tool.</p></div>
</div></div></body></html>
"""

GITFAQ_PAGE = """<html><body><div id="content"><div class="sect1">
<h2 id="_configuration">Configuration</h2><div class="sectionbody">
<div class="dlist" id="user-name"><dl>
<dt class="hdlist1">What should I put in <code>user.name</code>?</dt>
<dd><p>Your personal name.</p>
<div class="paragraph"><p>It does not authenticate you.</p></div></dd>
<dt class="hdlist1">How do I configure a different editor?</dt>
<dd><p>Set <code>core.editor</code>.</p>
<div class="listingblock"><div class="content"><pre><code>export VISUAL=nano</code></pre>
</div></div></dd>
</dl></div></div></div>
<div class="sect1"><h2 id="_hooks">Hooks</h2><div class="sectionbody">
<div class="dlist" id="restrict-with-hooks"><dl>
<dt class="hdlist1">How do I use hooks to prevent users from making certain changes?</dt>
<dd><p>Use a pre-receive hook on the server.</p></dd>
</dl></div></div></div></div></body></html>
"""


def _sections(html: str) -> dict[str, str]:
    """Heading -> body text, as the project's own HTML parser sees the cleaned page."""
    text = parse_document(html.encode(), "html", "page").text
    sections: dict[str, str] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            sections[current] = ""
        elif current and line.strip():
            sections[current] += line.strip() + " "
    return {k: v.strip() for k, v in sections.items()}


def test_debian_faq_questions_and_their_own_answers() -> None:
    questions, cleaned = debian_faq_page(DEBIAN_PAGE, "choosing.en.html")
    assert [(q.id, q.question, q.section) for q in questions] == [
        ("debian-faq-3.1", "Which Debian distribution is better for me?", "Answer 3.1"),
        (
            "debian-faq-3.1.1",
            "Hardware is not detected in stable. What should I do?",
            "Answer 3.1.1",
        ),
    ]
    # A section's answer is its own text: the subsections' answers are theirs.
    assert questions[0].answer == "It really depends on what you intend to do."
    assert questions[1].answer == "Try testing or unstable."
    assert all(q.document == "choosing.en.html" and q.source == "debian-faq" for q in questions)

    sections = _sections(cleaned)
    assert sections["Answer 3.1.1"] == "Try testing or unstable."
    assert sections["3.1.2. dpkg"] == "The low-level tool."  # not a question: kept as is
    # No question text left anywhere: not in headings, the TOC or a cross reference.
    page_text = parse_document(cleaned.encode(), "html", "page").text
    for q in questions:
        assert q.question not in " ".join(page_text.split())
    assert "How many Debian" not in page_text and "Section 6.1" in page_text


def test_gitfaq_questions_become_one_section_each() -> None:
    questions, cleaned = gitfaq_page(GITFAQ_PAGE)
    assert [q.question for q in questions] == [
        "What should I put in user.name?",
        "How do I configure a different editor?",
        "How do I use hooks to prevent users from making certain changes?",
    ]
    assert [q.section for q in questions] == ["Answer 1", "Answer 2", "Answer 3"]
    assert questions[0].answer == "Your personal name. It does not authenticate you."

    sections = _sections(cleaned)
    assert sections["Answer 1"] == "Your personal name. It does not authenticate you."
    assert "export VISUAL=nano" in sections["Answer 2"]
    assert sections["Answer 3"] == "Use a pre-receive hook on the server."
    assert "Hooks" in sections  # the topic headings stay
    assert "What should I put" not in cleaned and "hdlist1" not in cleaned


def test_question_file_rows_follow_the_contract(tmp_path: Path) -> None:
    questions, _ = gitfaq_page(GITFAQ_PAGE)
    path = write_question_file(questions, tmp_path / "q.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 3
    assert rows[0] == {
        "id": "gitfaq-01",
        "question": "What should I put in user.name?",
        "document": "gitfaq.html",
        "section": "Answer 1",
        "source": "gitfaq",
    }
    with pytest.raises(ValueError, match="no questions"):
        write_question_file([], tmp_path / "empty.jsonl")
    assert not (tmp_path / "empty.jsonl").exists()


def test_extract_skips_the_index_and_writes_cleaned_pages(tmp_path: Path) -> None:
    faq = tmp_path / "FAQ"
    faq.mkdir()
    (faq / "index.en.html").write_text(DEBIAN_PAGE)  # the TOC page: never a source
    (faq / "choosing.en.html").write_text(DEBIAN_PAGE)
    questions = extract_debian_faq(faq, tmp_path / "pages")
    assert len(questions) == 2 and {q.document for q in questions} == {"choosing.en.html"}
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == ["choosing.en.html"]


def test_missing_package_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="apt-get install debian-faq"):
        extract_debian_faq(tmp_path / "nowhere", tmp_path / "pages")
    with pytest.raises(SystemExit, match="apt-get install git-doc"):
        require(tmp_path / "gitfaq.html", "git-doc")


def test_question_row_omits_the_answer_text() -> None:
    q = Question("a", "Why?", "doc.html", "Answer 1", "faq", answer="Because.")
    assert "answer" not in q.row()


def test_section_names_that_would_match_each_other_are_refused() -> None:
    page = DEBIAN_PAGE.replace("3.1.1. Hardware", "3.11. Hardware").replace(
        '<a id="s3.1"></a>3.1.\n', '<a id="s3.1"></a>3.1.1.\n'
    )
    with pytest.raises(ValueError, match="collide"):
        debian_faq_page(page, "choosing.en.html")


def test_the_project_loader_finds_each_answer_and_only_it(tmp_path: Path) -> None:
    """The written file, read by embedloop's own loader over the cleaned page's chunks."""
    questions, cleaned = gitfaq_page(GITFAQ_PAGE)
    counter = HFTokenCounter.from_model(ModelSettings().resolved_base_model())
    text = parse_document(cleaned.encode(), "html", "gitfaq").text
    chunks = chunk_document(text, counter, 48, overlap_tokens=8, min_tokens=1)
    frame = pd.DataFrame(
        {
            "chunk_id": [f"c{i}" for i in range(len(chunks))],
            "doc_id": "gitfaq:gitfaq.html",
            "heading_path": [c.heading_path for c in chunks],
            "text": [c.text for c in chunks],
            "position": [c.position for c in chunks],
        }
    )
    evalset = load_question_file(write_question_file(questions, tmp_path / "q.jsonl"), frame)
    texts = dict(zip(frame["chunk_id"], frame["text"], strict=True))
    assert len(evalset) == 3
    for qid, question in evalset.queries.items():
        q = next(q for q in questions if q.question == question)
        relevant = " ".join(texts[c] for c in sorted(evalset.relevant[qid]))
        assert relevant.startswith(q.section)
        assert all(texts[c].startswith(q.section) for c in evalset.relevant[qid]), qid
        assert question not in " ".join(texts.values())
