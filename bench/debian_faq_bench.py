"""The Debian FAQ's questions against the Debian Reference, after the default loop.

The loop ingests and trains on the Debian Reference (package debian-reference-en, the
HTML chapters). The FAQ's chapter pages (package debian-faq), with every question heading
replaced by a neutral ``Answer <n>`` heading, are ingested into a separate, held-out
warehouse: their chunks join the evaluation corpus but never the training data. Each
question's relevant chunks are all chunks of its answer section.

    apt-get install debian-faq debian-reference-en
    python -m bench.debian_faq_bench --base-only                # base model only
    python -m bench.debian_faq_bench [--train-minutes 30] [--ablation] [--work-dir DIR]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.faq_extract import DEBIAN_FAQ, DEBIAN_REFERENCE, Question, extract_debian_faq, require
from bench.real_questions_cli import run


def setup(work: Path) -> tuple[dict[str, Any], Path, list[Question]]:
    reference = require(DEBIAN_REFERENCE / "ch01.en.html", "debian-reference-en").parent
    pages = work / "heldout" / "pages"
    questions = extract_debian_faq(DEBIAN_FAQ, pages)
    source = {
        "kind": "local",
        "name": "debian-reference",
        "path": str(reference),
        "include": ["*.en.html"],
        "exclude": ["index.en.html"],
    }
    return source, pages, questions


if __name__ == "__main__":
    run("debian-faq", __doc__, setup)
