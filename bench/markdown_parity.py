"""The Markdown parser before → after on real documents: identical chunk tables, or each change.

"Before" is ``embedloop/ingestion/markdown_parser.py`` at commit BASE (the all-regex parser,
read with ``git show``); "after" is the current tree (block structure from markdown-it-py).
Both run through the product's own ``parse_document`` and chunker on the demo corpus (the
standard-library docstrings of ``embedloop.yaml``) and, with ``--manual DIR``, on a real
Markdown manual (every ``*.md``/``*.mdx`` under DIR). It prints, per corpus, how many documents
and chunks are identical, the parse time of each parser side by side (ratio), and for every
document that changed the first lines where the normalised texts differ.

    python -m bench.markdown_parity [--manual DIR] [--base COMMIT] [--show 10]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

os.environ["HF_HUB_OFFLINE"] = os.environ.get("HF_HUB_OFFLINE", "1")

import embedloop.ingestion.parsers as parsers
from embedloop.chunking.chunker import chunk_document
from embedloop.chunking.incremental import chunker_for
from embedloop.config import PythonStdlibSource, Settings, load_settings
from embedloop.ingestion.sources import RawFile, scan_source
from embedloop.source_config import LocalSource, SourceConfig

BASE = "174b435"  # the last commit with the all-regex parser
ROOT = Path(__file__).resolve().parents[1]
Normalizer = Callable[..., str]


def parser_at(commit: str) -> ModuleType:
    """The Markdown parser module as it was at ``commit``."""
    path = "embedloop/ingestion/markdown_parser.py"
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    file = Path(tempfile.mkdtemp()) / "markdown_parser_before.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location("markdown_parser_before", file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def markdown_files(settings: Settings, manual: Path | None) -> dict[str, list[RawFile]]:
    corpora: dict[str, list[RawFile]] = {}
    demo = next(s for s in settings.sources if isinstance(s, PythonStdlibSource))
    sources: list[tuple[str, SourceConfig]] = [("demo (stdlib docstrings)", demo)]
    if manual is not None:
        local = LocalSource(kind="local", name="manual", path=manual, include=["**/*.md*"])
        sources.append((f"manual ({manual})", local))
    for label, source in sources:
        found = scan_source(source, settings.cache_dir, settings.ingestion.max_file_bytes)
        corpora[label] = [r for r in found if isinstance(r, RawFile) and r.format == "markdown"]
    return corpora


def parse_all(files: list[RawFile], normalize: Normalizer) -> tuple[dict[str, str], float]:
    """Normalised text per document with ``normalize`` in place, and the CPU seconds taken."""
    parsers.normalize_markdown = normalize  # parse_document looks it up at call time
    start = time.process_time()
    texts = {}
    for raw in files:
        doc = parsers.parse_document(raw.data, raw.format, raw.relpath)
        texts[raw.relpath] = f"{doc.title}\n{doc.text}"
    return texts, time.process_time() - start


def chunk_rows(texts: dict[str, str], settings: Settings) -> set[tuple[str, str, str]]:
    counter, params = chunker_for(settings)
    rows = set()
    for relpath, text in texts.items():
        title, body = text.split("\n", 1)
        for chunk in chunk_document(
            body, counter, params.max_tokens, params.overlap_tokens, params.min_tokens, title
        ):
            rows.add((relpath, chunk.heading_path, chunk.text))
    return rows


def first_difference(before: str, after: str, lines: int = 8) -> str:
    diff = difflib.unified_diff(before.split("\n"), after.split("\n"), "before", "after", n=1)
    return "\n".join(list(diff)[2 : 2 + lines])


def compare(label: str, files: list[RawFile], old: Normalizer, new: Normalizer,
            settings: Settings, show: int) -> None:  # fmt: skip
    before, before_s = parse_all(files, old)
    after, after_s = parse_all(files, new)
    changed = sorted(k for k in before if before[k] != after[k])
    rows_before, rows_after = chunk_rows(before, settings), chunk_rows(after, settings)
    print(f"\n## {label}: {len(files)} Markdown documents")
    print(f"documents identical: {len(files) - len(changed)} / {len(files)}")
    print(
        f"chunks: before {len(rows_before)}, after {len(rows_after)}, identical "
        f"{len(rows_before & rows_after)}, only before {len(rows_before - rows_after)}, "
        f"only after {len(rows_after - rows_before)}"
    )
    ratio = before_s / after_s if after_s else float("nan")
    print(f"parse CPU s: before {before_s:.3f}, after {after_s:.3f} (after is {ratio:.2f}x)")
    for relpath in changed[:show]:
        print(f"\n--- {relpath}\n{first_difference(before[relpath], after[relpath])}")
    if len(changed) > show:
        print(f"\n… and {len(changed) - show} more changed documents")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manual", type=Path, help="a directory of Markdown files to compare too")
    ap.add_argument("--base", default=BASE, help="the commit whose parser is 'before'")
    ap.add_argument("--show", type=int, default=10, help="changed documents to print, per corpus")
    args = ap.parse_args()
    settings = load_settings()
    old = parser_at(args.base).normalize_markdown
    new = parsers.normalize_markdown
    for label, files in markdown_files(settings, args.manual).items():
        compare(label, files, old, new, settings, args.show)


if __name__ == "__main__":
    main()
