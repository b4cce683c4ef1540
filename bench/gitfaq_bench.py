"""gitfaq(7)'s questions against the git manual, after the default loop.

The loop ingests and trains on the git manual (package git-doc, its HTML pages without
gitfaq.html). gitfaq.html, with each question (``dt``) replaced by an ``Answer <n>``
heading over its answer (``dd``), is ingested into a separate, held-out warehouse: its
chunks join the evaluation corpus but never the training data.

    apt-get install git-doc
    python -m bench.gitfaq_bench --base-only
    python -m bench.gitfaq_bench [--train-minutes 30] [--ablation] [--include 'git-*.html']

The whole manual is ~200 pages (~5,000 chunks): on a 2-core CPU, generating and mining
its training data takes a while before the training budget even starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.faq_extract import GIT_DOC, Question, extract_gitfaq
from bench.real_questions_cli import run


def setup(work: Path) -> tuple[dict[str, Any], Path, list[Question]]:
    pages = work / "heldout" / "pages"
    questions = extract_gitfaq(GIT_DOC, pages)
    source = {
        "kind": "local",
        "name": "git-manual",
        "path": str(GIT_DOC),
        "include": ["*.html"],
        "exclude": ["gitfaq.html"],
    }
    return source, pages, questions


if __name__ == "__main__":
    run("gitfaq", __doc__, setup)
