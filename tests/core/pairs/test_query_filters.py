"""The de-copy filter against the exact chunk text, and the base-model round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embedloop.config import FilterSettings, Settings
from embedloop.pairs.filters import copy_kind, copy_mask
from embedloop.pairs.roundtrip import base_encoder, rank_positives, round_trip
from embedloop.pairs.screen import merge_cache, screen_pairs
from embedloop.warehouse import EMBEDDING_CACHE

CHUNK = """deque.append

Add an element to the right side of the deque. When the deque is full,
items are discarded from the opposite end."""


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("deque append", "verbatim"),  # the heading line: "deque.append"
        ("Add an element to the right side", "verbatim"),
        ("items are discarded from the opposite end", "verbatim"),  # across a wrapped line
        ("How do I add an element to the right side of the deque?", "content_words"),
        ("What is deque append?", "content_words"),
        ("elements added to deques", "content_words"),  # plural and verb forms match
        ("collections deque append", None),  # "collections" is not in the chunk
        ("How do I push onto a double-ended queue?", None),
    ],
)
def test_copy_kind_reads_the_exact_chunk_text(query: str, kind: str | None) -> None:
    assert copy_kind(query, CHUNK) == kind


def test_copy_mask_drops_what_the_old_check_let_through() -> None:
    # Heading queries were compared with the chunk minus its heading, and queries under four
    # words were exempt: both passed although the evaluated chunk starts with them.
    pairs = pd.DataFrame(
        {
            "query": ["deque append", "What is deque append?", "collections deque append"],
            "positive": [CHUNK] * 3,
        }
    )
    assert copy_mask(pairs, FilterSettings()).tolist() == [False, False, True]
    verbatim_only = FilterSettings(copy_check="verbatim")
    assert copy_mask(pairs, verbatim_only).tolist() == [False, True, True]


def test_rank_positives_skips_the_own_section_and_honours_the_margin() -> None:
    chunks = np.eye(4, dtype=np.float32)
    # Scores of the one query against chunks 0..3: positive is chunk 0.
    query = np.array([[0.50, 0.90, 0.52, 0.40]], dtype=np.float32)
    positive = np.array([0])
    separate = np.array([0, 1, 2, 3])
    rank, keep = rank_positives(query, chunks, positive, separate, k=1, margin=0.0)
    assert rank.tolist() == [2] and keep.tolist() == [False]
    # Chunk 1 is a sibling of the positive (same section): it answers too, does not compete.
    same_section = np.array([0, 0, 2, 3])
    rank, keep = rank_positives(query, chunks, positive, same_section, k=1, margin=0.0)
    assert rank.tolist() == [1] and keep.tolist() == [False]
    # 0.50 is within 0.05 of the best competitor (0.52): near the top k is good enough.
    rank, keep = rank_positives(query, chunks, positive, same_section, k=1, margin=0.05)
    assert keep.tolist() == [True]
    rank, keep = rank_positives(query, chunks, positive, same_section, k=2, margin=0.0)
    assert rank.tolist() == [1] and keep.tolist() == [True]


TOPICS = {
    "apt": "Installing packages\n\nUse apt install followed by the package name to download "
    "and install a Debian package together with its dependencies.",
    "ssh": "Remote login\n\nThe ssh client opens an encrypted shell session on a remote "
    "server; keys in ~/.ssh/authorized_keys allow login without a password.",
    "cron": "Scheduled jobs\n\nThe cron daemon runs commands at fixed times; edit the table "
    "with crontab -e and write one schedule line per job.",
    "fstab": "Mounting disks\n\nPartitions listed in /etc/fstab are mounted at boot; each line "
    "names the device, the mount point and the filesystem type.",
    "locale": "Language settings\n\nThe system locale decides the language of messages and the "
    "format of dates; run dpkg-reconfigure locales to change it.",
    "firewall": "Firewall\n\nnftables filters network packets with rules grouped in tables and "
    "chains; a rule can accept, drop or reject a connection.",
}


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chunk_id": list(TOPICS),
            "doc_id": [f"docs:{k}.md" for k in TOPICS],
            "heading_path": [t.split("\n")[0] for t in TOPICS.values()],
            "text": list(TOPICS.values()),
        }
    )


@pytest.fixture(scope="module")
def encoder():  # the real base model, once for the module
    return base_encoder(Settings())


@pytest.mark.slow
def test_round_trip_with_the_base_model_drops_unanswerable_queries(corpus, encoder) -> None:
    pairs = pd.DataFrame(
        {
            "pair_id": ["good", "unanswerable", "wrong-chunk"],
            "chunk_id": ["apt", "cron", "locale"],
            "query": [
                "how to add software to Debian",
                "what colour was the first Debian logo",
                "block incoming network traffic",  # answered by the firewall chunk
            ],
            "model": ["offline:question"] * 3,
        }
    )
    settings = FilterSettings(round_trip_top_k=1, round_trip_margin=0.0)
    screened = screen_pairs(pairs, corpus, settings, lambda: encoder, EMBEDDING_CACHE.empty())
    verdict = dict(zip(screened.verdicts["pair_id"], screened.verdicts["verdict"], strict=True))
    assert verdict == {"good": "kept", "unanswerable": "round_trip", "wrong-chunk": "round_trip"}
    assert list(screened.kept["pair_id"]) == ["good"]
    assert screened.encoded == len(corpus) + len(pairs)
    # Every chunk and query vector went to the cache: a second screening encodes nothing.
    again = screen_pairs(pairs, corpus, settings, lambda: encoder, screened.cache)
    assert again.encoded == 0
    assert again.verdicts["verdict"].tolist() == screened.verdicts["verdict"].tolist()


@pytest.mark.slow
def test_round_trip_reuses_cached_chunk_vectors(corpus, encoder) -> None:
    pairs = pd.DataFrame({"pair_id": ["q"], "chunk_id": ["ssh"], "query": ["log in remotely"]})
    first = round_trip(encoder, pairs, corpus, EMBEDDING_CACHE.empty(), k=2, margin=0.0)
    fresh = pairs.assign(pair_id=["q2"], query=["encrypted remote shell"])
    second = round_trip(encoder, fresh, corpus, first.cache, k=2, margin=0.0)
    assert second.encoded == 1  # the new query only; the chunks came from the cache
    assert first.keep.tolist() == [True] and second.keep.tolist() == [True]


def test_cheap_filters_run_without_a_model(corpus) -> None:
    pairs = pd.DataFrame(
        {
            "pair_id": ["short", "copy", "ok"],
            "chunk_id": ["apt", "apt", "apt"],
            "query": ["apt", "Installing packages", "how to add software to Debian"],
            "model": ["offline:heading", "offline:heading", "offline:question"],
        }
    )

    def no_model():
        raise AssertionError("the round trip is disabled: no model may load")

    screened = screen_pairs(
        pairs, corpus, FilterSettings(round_trip_top_k=None), no_model, EMBEDDING_CACHE.empty()
    )
    assert screened.verdicts["verdict"].tolist() == ["length", "copy_verbatim", "kept"]
    table = {r["strategy"]: r for r in screened.strategy_table()}
    assert table["heading"]["generated"] == 2 and table["heading"]["kept"] == 0
    assert table["heading"]["dropped_length"] == 1
    assert table["heading"]["copy_rate"] == 1.0  # "apt" is in the chunk too
    assert table["question"]["kept"] == 1 and table["question"]["copy_rate"] == 0.0


def test_pairs_for_unknown_chunks_are_an_error(corpus) -> None:
    pairs = pd.DataFrame({"pair_id": ["x"], "chunk_id": ["gone"], "query": ["q q"], "model": ["m"]})
    with pytest.raises(ValueError, match="gone"):
        screen_pairs(pairs, corpus, FilterSettings(), None, EMBEDDING_CACHE.empty())


def test_merge_cache_keeps_other_models_and_prefers_fresh_rows() -> None:
    old = pd.DataFrame(
        {
            "key": ["a", "b"],
            "text_hash": ["h", "h"],
            "model_key": ["m1", "m2"],
            "embedding": [b"1", b"2"],
        }
    )
    fresh = pd.DataFrame(
        {
            "key": ["a", "c"],
            "text_hash": ["h", "h"],
            "model_key": ["m1", "m1"],
            "embedding": [b"9", b"3"],
        }
    )
    merged = merge_cache(old, fresh).sort_values(["key", "model_key"])
    assert merged[["key", "model_key", "embedding"]].values.tolist() == [
        ["a", "m1", b"9"],
        ["b", "m2", b"2"],
        ["c", "m1", b"3"],
    ]


def test_content_word_copies_leave_evaluation_splits_only() -> None:
    from embedloop.config import SplitSettings
    from embedloop.splits import split_of

    splits = SplitSettings()
    docs = [f"docs:page{i}.md" for i in range(50)]
    train = next(d for d in docs if split_of(d, splits) == "train")
    test = next(d for d in docs if split_of(d, splits) == "test")
    pairs = pd.DataFrame(
        {
            "query": ["What is deque append?", "What is deque append?", "deque append"],
            "positive": [CHUNK] * 3,
            "doc_id": [train, test, train],
        }
    )
    # Shared words are ordinary in training pairs; evaluation must not measure them.
    assert copy_mask(pairs, FilterSettings(), splits).tolist() == [True, False, False]
    strict = FilterSettings(copy_check_train="content_words")
    assert copy_mask(pairs, strict, splits).tolist() == [False, False, False]
    # Without split information every pair gets the evaluation check.
    assert copy_mask(pairs, FilterSettings()).tolist() == [False, False, False]
