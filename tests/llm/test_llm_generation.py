"""The ``llm`` generator's cache and time budget, against a real OpenAI-compatible server
(the scripted one in ``tests/llm_fault_server.py``) through distilabel."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.llm_generation import CACHE_FILE
from tests.helpers.llm_fault_server import FaultyLLMServer, fault_settings

CHUNKS = [
    ChunkForGeneration(
        chunk_id=f"c{i}",
        text=f"OK {i}: the scheduler {i} starts every job of section {i} at its time.",
        heading_path=f"Guide > Scheduler {i}",
        title="Guide",
    )
    for i in range(4)
]


def _total_requests(server: FaultyLLMServer) -> int:
    return sum(server.requests.values())


def test_a_second_run_sends_nothing_and_a_changed_chunk_is_sent_again(tmp_path: Path) -> None:
    with FaultyLLMServer() as server:
        first = generate_pairs(CHUNKS, fault_settings(server), tmp_path)
        assert _total_requests(server) == len(CHUNKS)

        again = generate_pairs(CHUNKS, fault_settings(server), tmp_path)
        assert _total_requests(server) == len(CHUNKS)
        assert again.counts["cached"] == len(CHUNKS)
        assert [p.query for p in again.pairs] == [p.query for p in first.pairs]

        changed = [*CHUNKS[:3], ChunkForGeneration("c3", "OK changed text.", "Guide", "Guide")]
        generate_pairs(changed, fault_settings(server), tmp_path)
        assert _total_requests(server) == len(CHUNKS) + 1


def test_the_time_budget_defers_what_it_does_not_reach(tmp_path: Path) -> None:
    with FaultyLLMServer(delay_s=0.5) as server:
        # 0.3 s: the first batch is always asked, and takes longer than the budget.
        bounded = generate_pairs(CHUNKS, fault_settings(server, max_minutes=0.005), tmp_path)

        assert _total_requests(server) == 1
        assert {p.chunk_id for p in bounded.pairs if p.generator == "llm"} == {"c0"}
        # The others keep offline queries meanwhile and stay pending.
        assert {p.chunk_id for p in bounded.pairs if p.generator == "offline"} == {"c1", "c2", "c3"}
        assert bounded.deferred_chunk_ids == {"c1", "c2", "c3"}
        assert bounded.counts["deferred"] == 3
        assert bounded.failure_ratio == 0.0  # not reached is not failed

        # The next run extends coverage and asks only what the first did not reach.
        full = generate_pairs(CHUNKS, fault_settings(server), tmp_path)
        assert _total_requests(server) == len(CHUNKS)
        assert {p.generator for p in full.pairs} == {"llm"}


def test_a_server_dying_mid_run_loses_nothing_already_answered(tmp_path: Path) -> None:
    server = FaultyLLMServer()
    with server:
        settings = fault_settings(server)
    # Shut down: nothing answers any more (connection refused), as after a crash.
    generate_pairs(CHUNKS[:2], settings, tmp_path)  # dead from the start: nothing cached
    assert not (tmp_path / CACHE_FILE).exists() or (tmp_path / CACHE_FILE).read_text() == ""

    with FaultyLLMServer() as alive:
        generate_pairs(CHUNKS[:2], fault_settings(alive), tmp_path)
        lines = (tmp_path / CACHE_FILE).read_text().splitlines()
        assert len(lines) == 2
    # A half-written line (a kill during the write) is skipped; the rest is served.
    with (tmp_path / CACHE_FILE).open("a") as f:
        f.write('{"key": "abc", "questi')
    report = generate_pairs(CHUNKS[:2], settings, tmp_path)
    assert report.counts["cached"] == 2
    assert report.counts["dropped_error"] == 0
    assert {p.generator for p in report.pairs} == {"llm"}


@pytest.mark.parametrize("budget", [None, 10.0])
def test_the_budget_is_not_part_of_the_cache_key(tmp_path: Path, budget: float | None) -> None:
    with FaultyLLMServer() as server:
        generate_pairs(CHUNKS[:1], fault_settings(server), tmp_path)
        report = generate_pairs(CHUNKS[:1], fault_settings(server, max_minutes=budget), tmp_path)
        assert report.counts["cached"] == 1
