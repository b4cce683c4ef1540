"""Real questions from two FAQs, and their answer pages with the questions taken out.

The Debian FAQ (DocBook HTML: one ``div.section`` per question, its heading the question)
and gitfaq(7) (Asciidoc HTML: a ``dt.hdlist1`` per question, the answer in its ``dd``) are
questions people actually asked, each with the passage that answers it. The benchmarks
ask them against the answers mixed into a whole manual. An answer page that still held
its question would turn the benchmark into a copy test (every chunk starts with its
heading line), so each question heading is replaced by a neutral ``Answer <n>`` heading,
which is also the ``section`` a question file names, and cross references that quote a
question title are cut to their section number. Tables of contents are dropped.

Only BeautifulSoup here: the extractors are unit-tested on small snippets.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

DEBIAN_FAQ = Path("/usr/share/doc/debian/FAQ")
DEBIAN_REFERENCE = Path("/usr/share/debian-reference")
GIT_DOC = Path("/usr/share/doc/git-doc")
INSTALL_HINT = "apt-get install debian-faq debian-reference-en git-doc"

_NUMBERED = re.compile(r"^(\d+(?:\.\d+)*)\.?\s+(.*)$", re.S)


@dataclass(frozen=True)
class Question:
    """One question-file row (contract: question, document, section, id, source)."""

    id: str
    question: str
    document: str  # path relative to the held-out source root
    section: str  # the neutral heading that replaced the question
    source: str
    answer: str = ""  # the answer's plain text, for counts and checks; not written

    def row(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("answer")
        return data


def _words(text: str) -> str:
    return " ".join(text.split())


def _soup(html: str) -> BeautifulSoup:
    import warnings

    from bs4 import XMLParsedAsHTMLWarning

    with warnings.catch_warnings():  # the FAQ is XHTML; lxml's HTML parser reads it fine
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        return BeautifulSoup(html, "lxml")


def _own_text(section: Tag) -> str:
    """A section's text without its title and without its subsections."""
    own = copy.copy(section)
    for child in own.find_all(["div", "section"], recursive=False):
        names: list[str] = list(child.get("class") or [])
        if "section" in names or "titlepage" in names:
            child.decompose()
    return _words(own.get_text(" "))


def _retitle(heading: Tag, soup: BeautifulSoup, title: str) -> None:
    """Replace a heading's content by ``title``, keeping its anchor id on the heading."""
    anchor = heading.find("a", id=True)
    if anchor is not None and not heading.get("id"):
        heading["id"] = anchor["id"]
    heading.clear()
    heading.append(soup.new_string(title))


def _cut_question_xrefs(soup: BeautifulSoup) -> None:
    """``Section 6.1, “How many …?”`` → ``Section 6.1``: the question must not leak."""
    for link in soup.select("a.xref"):
        title = str(link.get("title") or "")
        match = _NUMBERED.match(_words(title))
        if match and "?" in match.group(2):
            link.clear()
            link.append(soup.new_string(f"Section {match.group(1)}"))


def _unique_slugs(questions: list[Question]) -> None:
    """Section names compare by letters and digits only ("Answer 1.11" = "Answer 11.1"):
    two in one document would make one question's answer the other's."""
    seen: dict[tuple[str, str], str] = {}
    for q in questions:
        key = (q.document, re.sub(r"[^0-9a-z]", "", q.section.casefold()))
        if key in seen:
            raise ValueError(f"{q.document}: sections {seen[key]!r} and {q.section!r} collide")
        seen[key] = q.section


def debian_faq_page(html: str, document: str) -> tuple[list[Question], str]:
    """Questions of one Debian FAQ chapter page, and the page without them.

    A question is a numbered section heading holding a '?' whose section has text of its
    own (subsections excluded); its answer section is renamed ``Answer <number>``.
    """
    soup = _soup(html)
    for toc in soup.select("div.toc"):
        toc.decompose()
    _cut_question_xrefs(soup)
    questions: list[Question] = []
    for section in soup.select("div.section"):
        heading = section.select_one(":scope > div.titlepage .title")
        match = _NUMBERED.match(_words(heading.get_text())) if heading else None
        if heading is None or match is None or "?" not in match.group(2):
            continue
        number, question = match.groups()
        answer = _own_text(section)
        section_name = f"Answer {number}"
        _retitle(heading, soup, section_name)
        if answer:
            q = Question(f"debian-faq-{number}", question, document, section_name, "debian-faq")
            questions.append(Question(**{**asdict(q), "answer": answer}))
    _unique_slugs(questions)
    return questions, str(soup)


def gitfaq_page(html: str, document: str = "gitfaq.html") -> tuple[list[Question], str]:
    """gitfaq(7)'s questions, and the page with each ``dt``/``dd`` turned into a section.

    Each answer (the ``dd``) becomes a ``<h3>Answer <n></h3>`` section under its topic
    (``Configuration``, ``Credentials``, ...), so one question's answer is one section.
    """
    soup = _soup(html)
    questions: list[Question] = []
    for dlist in soup.select("div.dlist"):
        items: list[Tag] = []
        for dt in dlist.select("dt.hdlist1"):
            dd = dt.find_next_sibling("dd")
            if dd is None:
                continue
            number = len(questions) + 1
            name = f"Answer {number}"
            heading = soup.new_tag("h3")
            heading.append(soup.new_string(name))
            items.append(heading)
            items.extend(c for c in list(dd.children) if isinstance(c, Tag))
            q = Question(
                f"gitfaq-{number:02d}",
                _words(dt.get_text()),
                document,
                name,
                "gitfaq",
                _words(dd.get_text(" ")),
            )
            questions.append(q)
        if items:
            replacement = soup.new_tag("div")
            for item in items:
                replacement.append(item.extract())
            dlist.replace_with(replacement)
    return questions, str(soup)


def write_question_file(questions: Iterable[Question], path: Path) -> Path:
    """JSONL in the question-file contract; written whole or not at all."""
    rows = [json.dumps(q.row(), ensure_ascii=False) for q in questions]
    if not rows:
        raise ValueError(f"no questions to write to {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("\n".join(rows) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def require(path: Path, package: str) -> Path:
    """``path`` if the Debian package that ships it is installed, else a clear exit."""
    if not path.exists():
        raise SystemExit(
            f"{path} not found: install it with `apt-get install {package}` "
            f"(all benchmark inputs: `{INSTALL_HINT}`)"
        )
    return path


def extract_debian_faq(faq_dir: Path, out_pages: Path) -> list[Question]:
    """Every question of the FAQ's chapter pages; the cleaned pages go to ``out_pages``."""
    require(faq_dir / "index.en.html", "debian-faq")
    out_pages.mkdir(parents=True, exist_ok=True)
    questions: list[Question] = []
    for page in sorted(faq_dir.glob("*.en.html")):
        if page.name == "index.en.html":  # the table of contents: every question, no answer
            continue
        found, cleaned = debian_faq_page(page.read_text(encoding="utf-8"), page.name)
        (out_pages / page.name).write_text(cleaned, encoding="utf-8")
        questions.extend(found)
    return questions


def extract_gitfaq(git_doc: Path, out_pages: Path) -> list[Question]:
    page = require(git_doc / "gitfaq.html", "git-doc")
    questions, cleaned = gitfaq_page(page.read_text(encoding="utf-8"), page.name)
    out_pages.mkdir(parents=True, exist_ok=True)
    (out_pages / page.name).write_text(cleaned, encoding="utf-8")
    return questions
