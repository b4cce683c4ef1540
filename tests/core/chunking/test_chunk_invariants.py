"""Randomized documents: every chunk fits the budget and no word is lost."""

from __future__ import annotations

import os
import random

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import (
    HFTokenCounter,
    chunk_document,
)
from tests.helpers.chunking import (
    WORDS,
    CharCounter,
    SuperAdditiveCounter,
    assert_well_formed,
)

# Mixes plain words with tokenizer-unfriendly ones: URLs, CJK, accents, long compounds.
_VOCAB_TEXT = """
stack artifact store orchestrator pipeline step run the a of to configure deploy
kubernetes docker registry secret token model embedding retrieval 42 v1.2.3
https://example.com/docs/path?q=1 snake_case_identifier CamelCaseName émigré naïve
日本語 über-long-hyphenated-compound-word-that-keeps-going (parenthetical) x=y;
"""
_VOCAB = _VOCAB_TEXT.split()


def _random_doc(rng: random.Random) -> str:
    parts: list[str] = []
    for _ in range(rng.randint(0, 25)):
        kind = rng.random()
        if kind < 0.15:
            parts.append("#" * rng.randint(1, 6) + " " + " ".join(rng.choices(_VOCAB, k=3)))
        elif kind < 0.35:
            fence = rng.choice(["```", "~~~", "````"])
            lines = [
                rng.choice(["", "    ", "# comment", "## heading-looking"])
                + " ".join(rng.choices(_VOCAB, k=rng.randint(0, 12)))
                for _ in range(rng.randint(0, 60))
            ]
            closing = [] if rng.random() < 0.1 else [fence]
            parts.append("\n".join([fence + rng.choice(["", "python", "bash"]), *lines, *closing]))
        elif kind < 0.5:
            items = [
                "- " + " ".join(rng.choices(_VOCAB, k=rng.randint(1, 40)))
                for _ in range(rng.randint(1, 8))
            ]
            parts.append("\n".join(items))
        else:
            n_sentences = rng.randint(1, 30)
            parts.append(
                " ".join(
                    " ".join(rng.choices(_VOCAB, k=rng.randint(1, 60))) + rng.choice(".!?")
                    for _ in range(n_sentences)
                )
            )
        if rng.random() < 0.05:
            parts.append("x" * rng.randint(50, 3000))  # unbreakable blob
    return "\n\n".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_budget_invariant_randomized_fake_counters(seed: int) -> None:
    rng = random.Random(seed)
    doc = _random_doc(rng)
    for counter in (WORDS, CharCounter(), SuperAdditiveCounter()):
        max_tokens = rng.choice([12, 20, 33, 64, 128, 254])
        overlap = rng.choice([0, 4, 16, 32])
        chunks = chunk_document(doc, counter, max_tokens, overlap_tokens=overlap, title="T")
        assert_well_formed(chunks, counter, max_tokens)
        assert chunks == chunk_document(doc, counter, max_tokens, overlap, title="T")


@pytest.mark.parametrize("seed", range(12))
def test_budget_invariant_randomized_real_tokenizer(seed: int, hf_counter: HFTokenCounter) -> None:
    rng = random.Random(1000 + seed)
    doc = _random_doc(rng)
    max_tokens = rng.choice([16, 48, 128, hf_counter.content_budget])
    chunks = chunk_document(doc, hf_counter, max_tokens, overlap_tokens=rng.choice([0, 32]))
    assert_well_formed(chunks, hf_counter, max_tokens)


def test_every_word_of_the_document_survives(hf_counter: HFTokenCounter) -> None:
    rng = random.Random(7)
    doc = _random_doc(rng) + "\n\n" + _random_doc(rng)
    chunks = chunk_document(doc, hf_counter, 64, overlap_tokens=0)
    seen = " ".join(c.text for c in chunks).split()
    expected = [w for line in doc.split("\n") for w in line.lstrip("#").split()]
    # Fence markers and heading titles are added/moved, so compare as multisets of words.
    missing = [w for w in set(expected) if w not in set(seen)]
    assert missing == []
