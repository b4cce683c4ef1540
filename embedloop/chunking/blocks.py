"""Token-budgeted splitting of blocks that alone exceed the chunk budget.

A block (``sections.Block``) is cut at the coarsest boundary that makes every piece fit:
list items, then lines, sentences, words and, last, characters. Pieces keep the original
whitespace (they are offsets into the block), and code pieces are re-wrapped in their
fences so each one is valid Markdown on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from embedloop.chunking.sections import Block

_Span = tuple[int, int]

_LIST_ITEM_SEP = re.compile(r"\n(?=[ \t]*(?:[-*+]|\d{1,9}[.)])(?:\s|$))")
_LINE_SEP = re.compile(r"\n")
_SENTENCE_SEP = re.compile(r"(?<=[.!?])\s+")
WORD_SEP = re.compile(r"\s+")

# Split hierarchies for a block that alone exceeds the budget, coarsest first; single
# characters are the implicit final level.
_PARAGRAPH_LEVELS = (_SENTENCE_SEP, WORD_SEP)
_LIST_LEVELS = (_LIST_ITEM_SEP, _LINE_SEP, _SENTENCE_SEP, WORD_SEP)
_CODE_LEVELS = (_LINE_SEP, WORD_SEP)

# Text with this many characters per budget token is very likely over budget (WordPiece
# averages ~4-5 characters per token on prose, ~3 on code), so its whole-text count is
# skipped and its units are counted directly. Purely a speed heuristic: counting the
# units costs the same as counting the whole, and if their sum fits they re-join into
# the whole text anyway.
_SURELY_OVER_CHARS_PER_TOKEN = 4


def surely_over(text: str, budget: int) -> bool:
    return len(text) > _SURELY_OVER_CHARS_PER_TOKEN * budget


@runtime_checkable
class TokenCounter(Protocol):
    """Anything that counts content tokens; an optional ``count_many`` is used to batch."""

    def count(self, text: str) -> int: ...


class CountCache:
    """Memoizes counts for one document and funnels misses into batched tokenizer calls."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter
        self._count_many = getattr(counter, "count_many", None)
        self._memo: dict[str, int] = {}

    def count(self, text: str) -> int:
        if text not in self._memo:
            self._memo[text] = self._counter.count(text)
        return self._memo[text]

    def count_many(self, texts: Sequence[str]) -> list[int]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            if self._count_many is not None:
                counts = self._count_many(missing)
            else:
                counts = [self._counter.count(t) for t in missing]
            self._memo.update(zip(missing, counts, strict=True))
        return [self._memo[t] for t in texts]


def spans(src: str, start: int, end: int, sep: re.Pattern[str]) -> list[_Span]:
    """Non-blank pieces of src[start:end] between separators, as offsets into src.

    Offsets (rather than strings) let a run of units be re-joined with its original
    whitespace, so splitting never rewrites the text. Only newlines are trimmed so code
    keeps its indentation.
    """
    bounds: list[_Span] = []
    pos = start
    for match in sep.finditer(src, start, end):
        bounds.append((pos, match.start()))
        pos = match.end()
    bounds.append((pos, end))
    out: list[_Span] = []
    for a, b in bounds:
        while a < b and src[a] == "\n":
            a += 1
        while b > a and src[b - 1] == "\n":
            b -= 1
        if src[a:b].strip():
            out.append((a, b))
    return out


@dataclass(frozen=True)
class Piece:
    text: str
    n_tokens: int
    is_code: bool


# (start, end, tokens): tokens is exact, or in fast mode the sum of the units' counts.
_Run = tuple[int, int, int]


class BlockSplitter:
    """Cuts blocks that exceed the budget into pieces that each fit.

    With ``exact=False`` a piece's count is the sum of its units' counts, exact for
    WordPiece-style tokenizers, so pieces are not tokenized again; the caller verifies
    finished chunks and re-splits with ``exact=True`` only where the sums were optimistic.
    """

    def __init__(self, cache: CountCache, exact: bool) -> None:
        self.cache = cache
        self.exact = exact

    def block_pieces(self, block: Block, budget: int, reserve: int = 0) -> list[Piece]:
        """The block itself if it fits `budget`, else pieces that each fit.

        Prose pieces are cut `reserve` tokens short so the overlap carried between them
        still fits; code pieces use the full budget because code never receives overlap.
        """
        if self.exact or not surely_over(block.text, budget):
            n = self.cache.count(block.text)
            if n <= budget:
                return [Piece(block.text, n, block.kind == "code")]
        if block.kind == "code":
            return self._code_pieces(block, budget)
        levels = _LIST_LEVELS if block.kind == "list" else _PARAGRAPH_LEVELS
        # Never let the reserve starve content: at worst the overlap shrinks instead.
        split_budget = budget - reserve if budget - reserve >= budget // 2 else budget
        runs = self._split(block.text, 0, len(block.text), split_budget, levels)
        return [Piece(block.text[a:b], n, False) for a, b, n in runs]

    def _split(
        self,
        src: str,
        start: int,
        end: int,
        budget: int,
        levels: Sequence[re.Pattern[str]],
    ) -> list[_Run]:
        if self.exact or not levels or not surely_over(src[start:end], budget):
            # Usually a cache hit: the span is a block or a unit of the level above.
            n = self.cache.count(src[start:end])
            if n <= budget:
                return [(start, end, n)]
        if not levels:
            return self._split_chars(src, start, end, budget)
        units = spans(src, start, end, levels[0])
        if len(units) <= 1:
            return self._split(src, start, end, budget, levels[1:])
        counts = self.cache.count_many([src[a:b] for a, b in units])
        out: list[_Run] = []
        run: list[_Run] = []
        run_tokens = 0
        for (a, b), n in zip(units, counts, strict=True):
            if n > budget:
                out.extend(self._close_run(src, run, budget))
                run, run_tokens = [], 0
                out.extend(self._split(src, a, b, budget, levels[1:]))
                continue
            if run and run_tokens + n > budget:
                out.extend(self._close_run(src, run, budget))
                run, run_tokens = [], 0
            run.append((a, b, n))
            run_tokens += n
        out.extend(self._close_run(src, run, budget))
        return out

    def _close_run(self, src: str, run: list[_Run], budget: int) -> list[_Run]:
        """Join a run of fitting units; in exact mode re-pack if the sum was optimistic."""
        if len(run) <= 1:
            return run
        start, end = run[0][0], run[-1][1]
        if not self.exact:
            return [(start, end, sum(n for _, _, n in run))]
        n = self.cache.count(src[start:end])
        if n <= budget:
            return [(start, end, n)]
        out: list[_Run] = []
        current = run[0]
        for a, b, unit_n in run[1:]:
            joined_n = self.cache.count(src[current[0] : b])
            if joined_n <= budget:
                current = (current[0], b, joined_n)
            else:
                out.append(current)
                current = (a, b, unit_n)
        out.append(current)
        return out

    def _split_chars(self, src: str, start: int, end: int, budget: int) -> list[_Run]:
        # Last resort for unbreakable runs (long URLs, base64): binary-search the longest
        # prefix that fits so only O(log n) counts are needed per piece.
        out: list[_Run] = []
        count = self.cache.count
        while start < end:
            lo, hi = start + 1, end
            if count(src[start:lo]) > budget:
                raise ValueError(f"max_tokens too small to hold the character {src[start]!r}")
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if count(src[start:mid]) <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((start, lo, count(src[start:lo])))
            start = lo
        return out

    def _wrap_cost(self, block: Block) -> int:
        count = self.cache.count
        return count(block.fence_open) + count(block.fence_close) + 2 * count("\n")

    def _code_pieces(self, block: Block, budget: int) -> list[Piece]:
        """Split an oversize fenced block by lines, re-wrapping each piece in the fences."""
        src = block.body
        body_budget = budget - self._wrap_cost(block)
        if body_budget < 1:
            # The fences alone would blow a (tiny) budget: unfenced code beats losing it,
            # and leaves no dangling fence marker that would swallow the next chunk.
            return self._bare_code(src, 0, len(src), budget)
        pieces: list[Piece] = []
        for a, b, n in self._split(src, 0, len(src), body_budget, _CODE_LEVELS):
            pieces.extend(self._wrap(block, a, b, n, body_budget, budget))
        return pieces

    def _bare_code(self, src: str, start: int, end: int, budget: int) -> list[Piece]:
        if not src[start:end].strip():
            return []
        runs = self._split(src, start, end, budget, _CODE_LEVELS)
        return [Piece(src[a:b], n, True) for a, b, n in runs]

    def _wrap(
        self, block: Block, a: int, b: int, body_n: int, body_budget: int, budget: int
    ) -> list[Piece]:
        text = f"{block.fence_open}\n{block.body[a:b]}\n{block.fence_close}"
        n = self.cache.count(text) if self.exact else body_n + self._wrap_cost(block)
        if n <= budget:
            return [Piece(text, n, True)]
        # Joining with the fences cost more than the parts: shrink the body budget, retry.
        tighter = body_budget - (n - budget)
        if tighter < 1:
            return self._bare_code(block.body, a, b, budget)
        out: list[Piece] = []
        for sa, sb, sn in self._split(block.body, a, b, tighter, _CODE_LEVELS):
            out.extend(self._wrap(block, sa, sb, sn, tighter, budget))
        return out
