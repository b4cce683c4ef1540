"""The chunker with the real tokenizer, chunk ids and de-duplication across documents."""

from __future__ import annotations

import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embedloop.chunking.chunker import (
    HFTokenCounter,
    TokenCounter,
    chunk_document,
    chunk_id,
    dedupe_chunks,
)
from tests.helpers.chunking import (
    WORDS,
    assert_well_formed,
    code_block,
    sentences,
)

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
