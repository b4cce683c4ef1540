"""Helpers shared by the parser tests (not a test module)."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from embedloop.ingestion.parsers import ParsedDocument, parse_document

ROOT = Path(__file__).resolve().parents[2]


def parse(text: str, fmt: str, fallback: str = "fallback") -> ParsedDocument:
    return parse_document(text.encode("utf-8"), fmt, fallback)


def assert_no_html(text: str) -> None:
    outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
    assert not re.search(r"</?[a-zA-Z][^>]*>", outside_code), text


def notebook(cells: list[dict], metadata: dict | None = None) -> str:
    return json.dumps({"cells": cells, "metadata": metadata or {}, "nbformat": 4})


def yaml_bomb(depth: int, width: int = 9) -> str:
    """A "billion laughs" document: `title` expands to width**depth strings via aliases."""
    names = [f"l{i}" for i in range(depth)]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * width) + "]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "---\n" + "\n".join(lines) + f"\ntitle: *{names[-1]}\n---\n# Bomb\n\nBody text.\n"
