"""Packing blocks to the token budget, splitting oversize blocks, and overlap."""

from __future__ import annotations

import itertools
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import (
    chunk_document,
)
from tests.helpers.chunking import (
    WORDS,
    CharCounter,
    assert_well_formed,
    body_without_heading,
    code_block,
    sentences,
    words,
)

# --- packing and splitting -----------------------------------------------------------


def test_blocks_are_packed_greedily_with_heading_prefix_counted() -> None:
    # Heading (1) + 4 paragraphs of 3 words: 1+3+3 = 7 fits 7, next chunk starts fresh.
    doc = "# H\n\n" + "\n\n".join(words(3, stem=f"p{i}_") for i in range(4))
    chunks = chunk_document(doc, WORDS, 7, overlap_tokens=0)
    assert [c.n_tokens for c in chunks] == [7, 7]
    assert all(c.text.startswith("H\n\n") for c in chunks)


def test_code_block_that_fits_is_never_split() -> None:
    code = code_block(10)  # 32 words including fences
    doc = f"# Code\n\n{sentences(4)}\n\n{code}\n\nTrailing words here."
    chunks = chunk_document(doc, WORDS, 40)
    holders = [c for c in chunks if "```python" in c.text]
    assert len(holders) == 1
    assert code in holders[0].text
    assert_well_formed(chunks, WORDS, 40)


def test_oversize_code_block_is_split_into_valid_fences() -> None:
    code = code_block(60, lang="python")
    chunks = chunk_document(f"# Big\n\n{code}", WORDS, 25)
    assert len(chunks) > 1
    bodies = []
    for chunk in chunks:
        body = body_without_heading(chunk)
        assert body.startswith("```python\n") and body.endswith("\n```")
        bodies.extend(body.split("\n")[1:-1])
    # No code line lost, duplicated or broken: code pieces never carry overlap.
    assert bodies == [f"x{i} = compute({i})" for i in range(60)]
    assert_well_formed(chunks, WORDS, 25)


def test_oversize_paragraph_is_split_at_sentence_boundaries() -> None:
    chunks = chunk_document(f"# P\n\n{sentences(30)}", WORDS, 21, overlap_tokens=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert body_without_heading(chunk).endswith("end.")
    rejoined = " ".join(body_without_heading(c) for c in chunks)
    assert rejoined == sentences(30)


def test_sentence_over_budget_falls_back_to_words() -> None:
    sentence = words(50) + "."
    chunks = chunk_document(f"# W\n\n{sentence}", WORDS, 11, overlap_tokens=0)
    assert [c.n_tokens for c in chunks] == [11] * 5
    assert " ".join(body_without_heading(c) for c in chunks) == sentence


def test_long_but_fitting_blocks_stay_whole() -> None:
    # Many characters per token trips the "surely over budget" shortcut, which must not
    # change the result when the block actually fits.
    long_words = " ".join(f"{i}" + "y" * 120 for i in range(10))
    code = "```\n" + "\n".join(f"line{i} " + "z" * 200 for i in range(5)) + "\n```"
    doc = f"# L\n\n{long_words}\n\n{code}"
    chunks = chunk_document(doc, WORDS, 30, overlap_tokens=0)  # 1 + 10 + 12 words
    assert [body_without_heading(c) for c in chunks] == [f"{long_words}\n\n{code}"]


def test_unbreakable_token_run_is_split_by_characters() -> None:
    chunks = chunk_document("x" * 200, CharCounter(), 16, overlap_tokens=0)
    assert "".join(c.text for c in chunks) == "x" * 200
    assert_well_formed(chunks, CharCounter(), 16)


def test_tiny_budget_drops_heading_prefix_instead_of_starving_content() -> None:
    chunks = chunk_document("# A very long heading title\n\none two three", WORDS, 4)
    assert chunks[0].heading_path == "A very long heading title"
    assert " ".join(c.text for c in chunks) == "one two three"


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        chunk_document("text", WORDS, 0)
    with pytest.raises(ValueError):
        chunk_document("text", WORDS, 10, overlap_tokens=-1)


# --- overlap -------------------------------------------------------------------------


def test_overlap_repeats_previous_tail_and_is_bounded() -> None:
    paragraphs = [sentences(3, stem=f"p{i}s") for i in range(12)]  # 15 words each
    doc = "# O\n\n" + "\n\n".join(paragraphs)
    chunks = chunk_document(doc, WORDS, 40, overlap_tokens=6)
    assert len(chunks) > 2
    for prev, cur in itertools.pairwise(chunks):
        first = body_without_heading(cur).split("\n\n")[0]
        prev_last = body_without_heading(prev).split("\n\n")[-1]
        # The overlap is whole trailing sentences of the previous chunk, within budget.
        assert prev_last.endswith(first) and first != prev_last
        assert WORDS.count(first) <= 6
        assert first.endswith("end.")
    assert_well_formed(chunks, WORDS, 40)


def test_overlap_zero_disables_it() -> None:
    paragraphs = [sentences(3, stem=f"p{i}s") for i in range(12)]
    doc = "# O\n\n" + "\n\n".join(paragraphs)
    chunks = chunk_document(doc, WORDS, 40, overlap_tokens=0)
    rejoined = "\n\n".join(body_without_heading(c) for c in chunks)
    assert rejoined == "\n\n".join(paragraphs)


def test_overlap_is_never_taken_from_code() -> None:
    doc = f"# C\n\n{code_block(8)}\n\n{sentences(4)}"
    chunks = chunk_document(doc, WORDS, 30, overlap_tokens=10)
    assert len(chunks) == 2
    assert body_without_heading(chunks[1]) == sentences(4)


def test_overlap_is_carried_between_pieces_of_a_split_paragraph() -> None:
    chunks = chunk_document(f"# P\n\n{sentences(40)}", WORDS, 30, overlap_tokens=10)
    assert len(chunks) > 2
    for prev, cur in itertools.pairwise(chunks):
        lead = body_without_heading(cur).split("\n\n")[0]
        assert body_without_heading(prev).endswith(lead)
        assert 0 < WORDS.count(lead) <= 10
    assert_well_formed(chunks, WORDS, 30)
