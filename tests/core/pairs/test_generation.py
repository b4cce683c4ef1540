"""Pair generation: offline in-process, and the LLM through a real distilabel task against a
faulty server."""

from __future__ import annotations

import importlib.util
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedloop.config import LLMSettings, SyntheticSettings
from embedloop.pairs.generation import (
    ChunkForGeneration,
    GenerationFailed,
    GenerationReport,
    check_failure_ratio,
    generate_pairs,
)
from embedloop.pairs.llm_backends import build_llm
from tests.helpers.llm_fault_server import FaultyLLMServer

MAX_RETRIES = 2
QUERIES_PER_CHUNK = 2
CONCURRENCY = 2
MARKERS = ["OK", "MALFORMED", "FLAKY_PARSE", "RATE_LIMITED", "SERVER_ERROR"]

SAMPLE_CHUNKS = [
    ChunkForGeneration(
        chunk_id="guide-1",
        text="The artifact store keeps every artifact that a step produces.",
        heading_path="Stacks guide > Stacks > Artifact store",
        title="Stacks guide",
    ),
    ChunkForGeneration(
        chunk_id="guide-2",
        text="The orchestrator decides where each step runs. It can run steps locally.",
        heading_path="Stacks guide > Stacks > Orchestrator",
        title="Stacks guide",
    ),
    ChunkForGeneration(
        chunk_id="api-1",
        text="Use an API key: client = Client(api_key='...'). The client talks to the server.",
        heading_path="Client API > Authentication",
        title="Client API",
    ),
]

LLMRun = tuple[GenerationReport, FaultyLLMServer, dict[str, ChunkForGeneration]]


@pytest.fixture(scope="module", autouse=True)
def _offline_hub() -> Iterator[None]:
    # The step processes distilabel forks inherit this; nothing may reach a model hub.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


def _fault_chunk(marker: str) -> ChunkForGeneration:
    return ChunkForGeneration(
        chunk_id=f"chunk-{marker.lower()}",
        text=f"{marker}: the artifact store keeps every artifact of the {marker} step.",
        heading_path="Guide > Artifacts",
        title="Guide",
    )


def _report(**counts: int) -> GenerationReport:
    return GenerationReport(pairs=[], counts=Counter(counts))


# --- offline -------------------------------------------------------------------------------


def test_offline_generator_runs_in_process_with_chunk_text_positives(tmp_path: Path) -> None:
    settings = SyntheticSettings(generator="offline", queries_per_chunk=3)

    report = generate_pairs(SAMPLE_CHUNKS, settings, tmp_path)

    assert report.pairs
    texts = {c.chunk_id: c.text for c in SAMPLE_CHUNKS}
    for pair in report.pairs:
        assert pair.chunk_id in texts
        assert pair.query.strip()
        # The exact chunk text: the same surface form as the corpus and the negatives.
        assert pair.positive == texts[pair.chunk_id]
        assert pair.negative is None
        assert pair.generator == "offline"
        assert pair.model.startswith("offline:")
    assert [p.chunk_id for p in report.pairs] == sorted(p.chunk_id for p in report.pairs)
    assert report.counts["chunks"] == len(SAMPLE_CHUNKS)
    assert report.counts["generated"] == len(report.pairs)
    assert report.counts["generated"] + report.dropped == report.counts["requested"]
    assert report.failed_chunk_ids == set()
    assert not (tmp_path / "distilabel").exists()  # no pipeline, no worker pool


def test_no_chunks_runs_no_pipeline(tmp_path: Path) -> None:
    report = generate_pairs([], SyntheticSettings(), tmp_path)

    assert report.pairs == []
    assert report.failure_ratio == 0.0
    assert not (tmp_path / "distilabel").exists()


def _in_worker_thread(settings: SyntheticSettings, tmp_path: Path) -> list[object]:
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(generate_pairs(SAMPLE_CHUNKS, settings, tmp_path))
        except BaseException as err:
            outcome.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    return outcome


def test_llm_with_no_server_falls_back_to_offline_and_names_the_cause(tmp_path: Path) -> None:
    # No distilabel Pipeline runs in this process, so any thread will do.
    llm = LLMSettings(base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2)
    settings = SyntheticSettings(generator="llm", queries_per_chunk=2, llm=llm)

    (report,) = _in_worker_thread(settings, tmp_path)

    assert isinstance(report, GenerationReport)
    assert report.counts["generated"] == 0
    assert report.counts["dropped_error"] == report.counts["requested"] == 2 * len(SAMPLE_CHUNKS)
    assert {p.generator for p in report.pairs} == {"offline"}
    assert report.failed_chunk_ids == {c.chunk_id for c in SAMPLE_CHUNKS}
    with pytest.raises(GenerationFailed, match=r"last error: .*APIConnectionError"):
        check_failure_ratio(report, max_ratio=0.2)


def test_offline_generation_runs_in_any_thread(tmp_path: Path) -> None:
    (report,) = _in_worker_thread(SyntheticSettings(generator="offline"), tmp_path)

    assert isinstance(report, GenerationReport) and report.pairs


def test_duplicate_chunk_ids_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        generate_pairs([SAMPLE_CHUNKS[0], SAMPLE_CHUNKS[0]], SyntheticSettings(), tmp_path)


# --- llm against the fault server ----------------------------------------------------------


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMRun]:
    chunks = {m: _fault_chunk(m) for m in MARKERS}
    with FaultyLLMServer() as server:
        settings = SyntheticSettings(
            generator="llm",
            queries_per_chunk=QUERIES_PER_CHUNK,
            corpus_description="docs of a pipeline framework",
            llm=LLMSettings(
                backend="openai",
                base_url=server.base_url,
                model="fault-server",
                generation_kwargs={"temperature": 0.2, "max_tokens": 64},
                input_batch_size=8,
                concurrency=CONCURRENCY,
                timeout_s=5,
                max_retries=MAX_RETRIES,
            ),
        )
        work_dir = tmp_path_factory.mktemp("llm")
        report = generate_pairs(list(chunks.values()), settings, work_dir, api_key="sk-test")
        yield report, server, chunks


@pytest.mark.slow
@pytest.mark.parametrize("marker", ["OK", "FLAKY_PARSE", "RATE_LIMITED"])
def test_llm_recovered_chunks_keep_the_servers_pairs(llm_run: LLMRun, marker: str) -> None:
    report, server, chunks = llm_run
    chunk = chunks[marker]
    pairs = [p for p in report.pairs if p.chunk_id == chunk.chunk_id]

    assert len(pairs) == QUERIES_PER_CHUNK
    assert [p.query for p in pairs] == server.answers[chunk.text]
    for pair in pairs:
        assert pair.negative is None  # mined later, as for every generator
        assert pair.positive == chunk.text
        assert pair.generator == "llm"
        assert pair.model == "fault-server"


@pytest.mark.slow
def test_llm_request_counts_show_each_retry_layer(llm_run: LLMRun) -> None:
    _, server, _ = llm_run

    assert server.requests_for("OK") == 1
    # One request for both questions, then one for what was unusable, per retry round.
    assert server.requests_for("FLAKY_PARSE") == 2
    assert server.requests_for("MALFORMED") == 1 + MAX_RETRIES
    # HTTP faults are retried by the OpenAI client only, not by the retry rounds.
    assert server.requests_for("RATE_LIMITED") == 2
    assert server.requests_for("SERVER_ERROR") == 1 + MAX_RETRIES
    assert 1 <= server.max_in_flight <= CONCURRENCY


@pytest.mark.slow
def test_llm_counts_and_failure_ratio(llm_run: LLMRun) -> None:
    report, _, chunks = llm_run
    n = QUERIES_PER_CHUNK

    assert report.counts["chunks"] == len(MARKERS)
    assert report.counts["requested"] == len(MARKERS) * n
    assert report.counts["generated"] == 3 * n
    assert report.counts["dropped_unparseable"] == n  # MALFORMED
    assert report.counts["dropped_error"] == n  # SERVER_ERROR
    # FLAKY_PARSE's answers once; MALFORMED's answers in every round.
    assert report.counts["retried"] == n + MAX_RETRIES * n
    assert report.failure_ratio == pytest.approx(2 / len(MARKERS))
    assert report.line_drops["not_a_question"] == 1 + MAX_RETRIES + 1  # MALFORMED, FLAKY
    # Both get offline queries meanwhile; only the server's fault is asked again next run.
    llm_ids = {p.chunk_id for p in report.pairs if p.generator == "llm"}
    offline_ids = {p.chunk_id for p in report.pairs if p.generator == "offline"}
    dropped_ids = {chunks["MALFORMED"].chunk_id, chunks["SERVER_ERROR"].chunk_id}
    assert not dropped_ids & llm_ids
    assert offline_ids == dropped_ids
    assert report.counts["offline_fallback"] == len(report.pairs) - 3 * n > 0
    assert report.failed_chunk_ids == {chunks["SERVER_ERROR"].chunk_id}
    assert "InternalServerError" in (report.last_error or "")

    with pytest.raises(GenerationFailed, match=r"40\.0%.*20\.0%.*last error: request to"):
        check_failure_ratio(report, max_ratio=0.2)
    check_failure_ratio(report, max_ratio=0.5)


# --- failure ratio -------------------------------------------------------------------------


def test_failure_ratio_is_dropped_over_requested() -> None:
    report = _report(requested=20, generated=15, dropped_unparseable=3, dropped_error=2)

    assert report.failure_ratio == pytest.approx(0.25)
    assert _report().failure_ratio == 0.0


def test_check_failure_ratio_message_names_ratio_threshold_and_counts() -> None:
    report = _report(requested=10, generated=6, dropped_unparseable=3, dropped_error=1)

    with pytest.raises(GenerationFailed) as err:
        check_failure_ratio(report, max_ratio=0.2)

    message = str(err.value)
    for part in (
        "40.0%",
        "20.0%",
        "requested=10",
        "generated=6",
        "dropped_unparseable=3",
        "dropped_error=1",
    ):
        assert part in message


def test_check_failure_ratio_passes_at_or_below_threshold() -> None:
    check_failure_ratio(_report(requested=10, generated=8, dropped_error=2), max_ratio=0.2)
    check_failure_ratio(_report(), max_ratio=0.0)


# --- backends ------------------------------------------------------------------------------


def test_openai_backend_translates_generation_kwargs() -> None:
    settings = LLMSettings(generation_kwargs={"temperature": 0.3, "max_tokens": 32}, timeout_s=0.5)

    llm = build_llm(settings)

    assert llm.generation_kwargs == {"temperature": 0.3, "max_new_tokens": 32}


def test_unknown_generation_kwarg_fails_before_any_request() -> None:
    with pytest.raises(ValueError, match="beam_width"):
        build_llm(LLMSettings(generation_kwargs={"beam_width": 4}))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed")
def test_vllm_backend_without_vllm_names_backend_and_package() -> None:
    with pytest.raises(RuntimeError, match=r"'vllm'.*pip install vllm"):
        build_llm(LLMSettings(backend="vllm"))
