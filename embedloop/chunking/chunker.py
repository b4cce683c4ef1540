"""Token-budgeted chunking of Markdown documentation for embedding retrieval.

Performance model: every block and heading of a document is tokenized once in a single
batch, packing works on summed counts (exact for WordPiece, whose pre-tokenizer splits
on whitespace so ``count(a + "\\n\\n" + b) == count(a) + count(b)``), and each finished
chunk is counted once more to verify the budget. Only sections whose verified count is
over budget (tokenizers that are not additive) are re-packed with exact counts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from embedloop.chunking.blocks import (
    WORD_SEP,
    BlockSplitter,
    CountCache,
    Piece,
    TokenCounter,
    spans,
    surely_over,
)
from embedloop.chunking.sections import Section, split_sections

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "Chunk",
    "DedupedChunk",
    "HFTokenCounter",
    "TokenCounter",
    "chunk_document",
    "chunk_id",
    "dedupe_chunks",
]

# Used when a model ships no sentence-transformers config: BERT-family position
# embeddings top out at 512 even when the tokenizer claims "unlimited".
_FALLBACK_MAX_SEQ_LENGTH = 512
_SPECIAL_TOKENS_PER_SEQUENCE = 2  # [CLS] and [SEP]
_JOINER = "\n\n"

# Overlap prefers whole sentences or lines (list items, wrapped prose) over word cuts.
_TAIL_SEP = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


class HFTokenCounter:
    """Counts content tokens (no [CLS]/[SEP]) with a Hugging Face fast tokenizer."""

    def __init__(self, backend: Tokenizer, max_seq_length: int) -> None:
        self._backend = backend
        self.max_seq_length = max_seq_length

    @classmethod
    def from_model(cls, model_name_or_path: str) -> HFTokenCounter:
        from tokenizers import Tokenizer
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, use_fast=True)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError(f"{model_name_or_path!r} has no fast tokenizer")
        # tokenizer.json may bake in truncation/padding (all-MiniLM-L6-v2 pads and
        # truncates to 128), which would silently cap every count; use a private copy.
        backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        backend.no_truncation()
        backend.no_padding()
        max_len = _read_sbert_max_seq_length(model_name_or_path)
        if max_len is None:
            max_len = min(int(tokenizer.model_max_length), _FALLBACK_MAX_SEQ_LENGTH)
        return cls(backend, max_len)

    @property
    def content_budget(self) -> int:
        return self.max_seq_length - _SPECIAL_TOKENS_PER_SEQUENCE

    def count(self, text: str) -> int:
        return len(self._backend.encode(text, add_special_tokens=False).ids)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encode = getattr(self._backend, "encode_batch_fast", self._backend.encode_batch)
        return [len(enc.ids) for enc in encode(list(texts), add_special_tokens=False)]


def _read_sbert_max_seq_length(model_name_or_path: str) -> int | None:
    config_path: str | None = os.path.join(model_name_or_path, "sentence_bert_config.json")
    if not os.path.isdir(model_name_or_path):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_name_or_path, "sentence_bert_config.json")
        config_path = cached if isinstance(cached, str) else None
    if config_path is None or not os.path.isfile(config_path):
        return None
    with open(config_path, encoding="utf-8") as fh:
        value = json.load(fh).get("max_seq_length")
    return int(value) if value else None


@dataclass(frozen=True)
class Chunk:
    heading_path: str
    text: str
    n_tokens: int
    position: int


@dataclass(frozen=True)
class DedupedChunk:
    chunk_id: str
    doc_id: str
    doc_ids: tuple[str, ...]
    heading_path: str
    text: str
    n_tokens: int
    position: int


def _tail_start(
    text: str, units: list[tuple[int, int]], limit: int, cache: CountCache
) -> tuple[int, int] | None:
    """Index of the earliest trailing unit such that the units from there fit `limit`.

    Counts are fetched from the end in doubling batches so a long piece is not fully
    re-tokenized just to find a ~32-token tail.
    """
    used, idx, step, best = 0, len(units), 2, None
    while idx > 0:
        batch = units[max(0, idx - step) : idx]
        counts = cache.count_many([text[a:b] for a, b in batch])
        for n in reversed(counts):
            if used + n > limit:
                return best
            used += n
            idx -= 1
            best = (idx, used)
        step *= 2
    return best


def _overlap_tail(piece: Piece, limit: int, cache: CountCache) -> Piece | None:
    # Code tails are skipped: an overlap starting mid-fence would be invalid Markdown.
    if limit <= 0 or piece.is_code:
        return None
    text = piece.text
    units = spans(text, 0, len(text), _TAIL_SEP)
    found = _tail_start(text, units, limit, cache)
    if found is None and units:
        # Last sentence alone is too long: fall back to its trailing words.
        last_a, last_b = units[-1]
        units = spans(text, last_a, last_b, WORD_SEP)
        found = _tail_start(text, units, limit, cache)
    if found is None:
        return None
    idx, n = found
    return Piece(text[units[idx][0] : units[-1][1]], n, False)


@dataclass
class _Draft:
    overlap: Piece | None
    pieces: list[Piece]
    with_prefix: bool = True
    # Chunk text is what gets embedded; keep overlap first so it reads as lead-in context.
    parts: list[Piece] = field(init=False)

    def __post_init__(self) -> None:
        self.parts = ([self.overlap] if self.overlap else []) + self.pieces

    def render(self, prefix: str) -> str:
        texts = [p.text for p in self.parts]
        if prefix and self.with_prefix:
            texts.insert(0, prefix)
        return _JOINER.join(texts)


@dataclass(frozen=True)
class _Params:
    max_tokens: int
    overlap_tokens: int
    min_tokens: int


@dataclass
class _SectionPlan:
    section: Section
    prefix: str
    pieces: list[Piece]
    drafts: list[_Draft] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [d.render(self.prefix) for d in self.drafts]


_Fits = Callable[[_Draft], bool]


def _fitter(
    plan: _SectionPlan, params: _Params, cache: CountCache, strict: bool
) -> tuple[_Fits, int]:
    prefix_cost = cache.count(plan.prefix) if plan.prefix else 0
    joiner_cost = cache.count(_JOINER)

    def fits(draft: _Draft) -> bool:
        if strict:
            return cache.count(draft.render(plan.prefix)) <= params.max_tokens
        n_parts = len(draft.parts) + (1 if plan.prefix and draft.with_prefix else 0)
        estimate = sum(p.n_tokens for p in draft.parts) + joiner_cost * (n_parts - 1)
        return estimate + (prefix_cost if draft.with_prefix else 0) <= params.max_tokens

    return fits, params.max_tokens - prefix_cost


def _pack(plan: _SectionPlan, params: _Params, cache: CountCache, strict: bool) -> None:
    fits, budget = _fitter(plan, params, cache, strict)
    pieces, drafts = plan.pieces, []
    i, overlap = 0, None
    while i < len(pieces):
        draft = _Draft(overlap, [pieces[i]])
        if overlap is not None and not fits(draft):
            draft = _Draft(None, [pieces[i]])
        if not fits(draft):
            # Only reachable with non-additive tokenizers (strict mode): each piece fits
            # the budget on its own, so dropping the heading line always makes room.
            draft = _Draft(None, [pieces[i]], with_prefix=False)
        i += 1
        while i < len(pieces):
            candidate = _Draft(draft.overlap, [*draft.pieces, pieces[i]], draft.with_prefix)
            if not fits(candidate):
                break
            draft, i = candidate, i + 1
        drafts.append(draft)
        overlap = None
        if i < len(pieces) and params.overlap_tokens > 0:
            # Size the overlap so the next piece still fits: overlap never evicts content.
            limit = min(params.overlap_tokens, budget - pieces[i].n_tokens)
            overlap = _overlap_tail(draft.pieces[-1], limit, cache)
    plan.drafts = _merge_small(drafts, params.min_tokens, fits)


def _merge_small(drafts: list[_Draft], min_tokens: int, fits: _Fits) -> list[_Draft]:
    merged: list[_Draft] = drafts[:1]
    for draft in drafts[1:]:
        prev = merged[-1]
        content = sum(p.n_tokens for p in draft.pieces)
        if content < min_tokens and prev.with_prefix == draft.with_prefix:
            # The small draft's overlap repeats prev's tail, so it is dropped on merge.
            candidate = _Draft(prev.overlap, [*prev.pieces, *draft.pieces], prev.with_prefix)
            if fits(candidate):
                merged[-1] = candidate
                continue
        merged.append(draft)
    return merged


def _plan_section(
    section: Section, params: _Params, cache: CountCache, exact: bool
) -> _SectionPlan:
    prefix = section.title
    # A heading line eating over half the budget would starve content; path still has it.
    if prefix and cache.count(prefix) > params.max_tokens // 2:
        prefix = ""
    budget = params.max_tokens - (cache.count(prefix) if prefix else 0)
    splitter = BlockSplitter(cache, exact=exact)
    pieces = [
        piece
        for block in section.blocks
        for piece in splitter.block_pieces(block, budget, reserve=params.overlap_tokens)
    ]
    plan = _SectionPlan(section, prefix, pieces)
    _pack(plan, params, cache, strict=exact)
    return plan


def chunk_document(
    text: str,
    counter: TokenCounter,
    max_tokens: int,
    overlap_tokens: int = 32,
    min_tokens: int = 8,
    title: str = "",
) -> list[Chunk]:
    """Chunk one Markdown document so that every chunk counts <= max_tokens.

    Each chunk's text starts with its section's innermost heading title (``title`` for
    text before the first heading) on its own line. Raises ValueError for a budget too
    small to hold a single character.
    """
    if max_tokens < 1 or overlap_tokens < 0 or min_tokens < 0:
        raise ValueError("max_tokens must be >= 1, overlap_tokens and min_tokens >= 0")
    params = _Params(max_tokens, overlap_tokens, min_tokens)
    cache = CountCache(counter)
    sections = split_sections(text, preamble_title=title)
    # One batched pass over all titles and blocks: this is the bulk of tokenizer work.
    blocks = [b.text for s in sections for b in s.blocks if not surely_over(b.text, max_tokens)]
    cache.count_many([s.title for s in sections] + blocks)
    plans = [_plan_section(section, params, cache, exact=False) for section in sections]
    plan_texts = [plan.texts() for plan in plans]
    # The only exact count of each chunk, batched over the whole document.
    counts = iter(cache.count_many([t for texts in plan_texts for t in texts]))
    chunks: list[Chunk] = []
    for plan, texts in zip(plans, plan_texts, strict=True):
        section_counts = [next(counts) for _ in texts]
        if any(n > max_tokens for n in section_counts):
            # Summed counts were optimistic (non-additive tokenizer): redo with exact ones.
            plan = _plan_section(plan.section, params, cache, exact=True)
            texts = plan.texts()
            section_counts = cache.count_many(texts)
        for chunk_text, n in zip(texts, section_counts, strict=True):
            if n > max_tokens:  # pragma: no cover - guarded by strict packing
                raise RuntimeError(f"chunk of {n} tokens exceeds max_tokens={max_tokens}")
            chunks.append(Chunk(plan.section.heading_path, chunk_text, n, len(chunks)))
    return chunks


def chunk_id(doc_id: str, heading_path: str, text: str) -> str:
    """Stable 32-hex-char id; length-prefixing makes field boundaries unambiguous."""
    digest = hashlib.sha256()
    for value in (doc_id, heading_path, text):
        encoded = value.encode("utf-8")
        digest.update(f"{len(encoded)}:".encode("ascii"))
        digest.update(encoded)
    return digest.digest()[:16].hex()


def dedupe_chunks(rows: Iterable[tuple[str, Chunk]]) -> list[DedupedChunk]:
    """Collapse chunks with identical text (site-wide boilerplate) into one row.

    The canonical copy is the occurrence with the smallest (doc_id, position), which
    keeps ids stable when unrelated documents are added or removed.
    """
    groups: dict[str, list[tuple[str, Chunk]]] = {}
    for doc_id, chunk in rows:
        groups.setdefault(chunk.text, []).append((doc_id, chunk))
    out: list[DedupedChunk] = []
    for members in groups.values():
        doc_id, canon = min(members, key=lambda row: (row[0], row[1].position))
        out.append(
            DedupedChunk(
                chunk_id=chunk_id(doc_id, canon.heading_path, canon.text),
                doc_id=doc_id,
                doc_ids=tuple(sorted({d for d, _ in members})),
                heading_path=canon.heading_path,
                text=canon.text,
                n_tokens=canon.n_tokens,
                position=canon.position,
            )
        )
    out.sort(key=lambda c: (c.doc_id, c.position))
    return out
