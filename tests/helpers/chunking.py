"""Counters and document builders shared by the chunker tests (not a test module)."""

from __future__ import annotations

import re

from embedloop.chunking.chunker import Chunk, TokenCounter


class WordCounter:
    """Whitespace word counter: exact, additive and easy to reason about in asserts."""

    def count(self, text: str) -> int:
        return len(text.split())


class CharCounter:
    """Deliberately non-additive (joining changes the count) to exercise exact re-packing."""

    def count(self, text: str) -> int:
        return (len(text) + 3) // 4


class SuperAdditiveCounter:
    """Joined text counts more than its parts, so summed estimates are always optimistic
    and every multi-block chunk goes through the exact re-packing path."""

    def count(self, text: str) -> int:
        return int(len(text) ** 1.15) // 6


WORDS = WordCounter()


def words(n: int, stem: str = "w") -> str:
    return " ".join(f"{stem}{i}" for i in range(n))


def sentences(n: int, per: int = 5, stem: str = "s") -> str:
    return " ".join(f"{stem}{i} " + " ".join(["word"] * (per - 2)) + " end." for i in range(n))


def code_block(n_lines: int, lang: str = "python", fence: str = "```") -> str:
    body = "\n".join(f"x{i} = compute({i})" for i in range(n_lines))
    return f"{fence}{lang}\n{body}\n{fence}"


def body_without_heading(chunk: Chunk) -> str:
    return chunk.text.split("\n\n", 1)[1]


def assert_well_formed(chunks: list[Chunk], counter: TokenCounter, max_tokens: int) -> None:
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.n_tokens == counter.count(chunk.text)
        assert chunk.n_tokens <= max_tokens, chunk
        assert chunk.text.strip(), chunk
        assert not chunk.text.startswith("\n") and not chunk.text.endswith("\n")
        assert all(line == line.rstrip() for line in chunk.text.split("\n"))
        assert not ends_inside_fence(chunk.text), chunk


def ends_inside_fence(text: str) -> bool:
    """Independent fence tracker: a closer uses the opener's char and is at least as long."""
    fence = ""
    for line in text.split("\n"):
        marker = re.match(r"\s*(`{3,}|~{3,})(.*)$", line)
        if marker is None:
            continue
        if not fence:
            fence = marker.group(1)
        elif marker.group(1)[0] == fence[0] and len(marker.group(1)) >= len(fence):
            fence = "" if not marker.group(2).strip() else fence
    return bool(fence)
