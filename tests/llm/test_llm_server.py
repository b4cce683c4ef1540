"""The packaged model for real: the local llama.cpp server started, used by the ``llm``
generator through distilabel, killed, and refused a corrupted model file."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from embedloop.config import LLMSettings, SyntheticSettings
from embedloop.pairs.generation import (
    ChunkForGeneration,
    GenerationFailed,
    check_failure_ratio,
    generate_pairs,
)
from embedloop.pairs.packaged_models import PACKAGED_MODELS, assemble
from services.llm.server import DEFAULT_VENV, ServerConfig, ServerError, running_pid, start, stop
from tests.helpers.services import free_port

MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DEFAULT_VENV / "bin" / "python").exists(),
        reason="no llama.cpp server: `make llm-setup` builds it (make test does)",
    ),
]

CHUNKS = [
    ChunkForGeneration(
        "apt-1",
        "To upgrade all installed packages, run apt update to refresh the package lists, "
        "then apt full-upgrade. full-upgrade also removes packages when that is needed to "
        "resolve a dependency change.",
        "Package management > Upgrading",
        "Debian Reference",
    ),
    ChunkForGeneration(
        "cron-1",
        "The cron daemon runs commands at scheduled times. Each user edits their table with "
        "crontab -e; a line holds five time fields followed by the command.",
        "System tips > Scheduling",
        "Debian Reference",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerConfig]:
    models = tmp_path_factory.mktemp("models")
    config = ServerConfig(
        data_dir=tmp_path_factory.mktemp("llm"),
        model_path=assemble(PACKAGED_MODELS[MODEL], models),
        model_alias=MODEL,
        port=free_port(),
        threads=2,
    )
    start(config)
    try:
        yield config
    finally:
        stop(config)


def _settings(config: ServerConfig) -> SyntheticSettings:
    llm = LLMSettings(
        base_url=config.base_url,
        model=MODEL,
        generation_kwargs={"temperature": 0.0, "max_new_tokens": 80},
        timeout_s=120,
        max_retries=1,
    )
    return SyntheticSettings(generator="llm", queries_per_chunk=2, llm=llm)


def test_the_packaged_model_writes_questions_for_real_chunks(
    server: ServerConfig, tmp_path: Path
) -> None:
    assert "already running" in start(server)

    report = generate_pairs(CHUNKS, _settings(server), tmp_path)

    llm_pairs = [p for p in report.pairs if p.generator == "llm"]
    assert {p.chunk_id for p in llm_pairs} == {"apt-1", "cron-1"}
    for pair in llm_pairs:
        assert pair.query.endswith("?") and 3 <= len(pair.query.split()) <= 40
        assert "passage" not in pair.query.lower()
        assert pair.model == MODEL
    check_failure_ratio(report, max_ratio=0.2)

    # A killed server: nothing answers, the failure names the cause, and what the first run
    # wrote is still served from the cache.
    pid = running_pid(server)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    fresh = [ChunkForGeneration("new-1", "A chunk never seen before.", "X", "Y")]
    dead = generate_pairs(fresh, _settings(server), tmp_path)
    with pytest.raises(GenerationFailed, match=r"last error: .*(Connection|Timeout)"):
        check_failure_ratio(dead, max_ratio=0.2)
    again = generate_pairs(CHUNKS, _settings(server), tmp_path)
    assert again.counts["cached"] == 2
    assert [p.query for p in again.pairs] == [p.query for p in report.pairs]


def test_a_corrupted_model_file_fails_to_start_with_its_log(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    config = ServerConfig(tmp_path / "llm", model_path=bad, port=free_port())
    config.data_dir.mkdir()

    with pytest.raises(ServerError, match=r"did not answer .*its log"):
        start(config)

    assert running_pid(config) is None


def test_no_model_file_names_the_setup_command(tmp_path: Path) -> None:
    config = ServerConfig(tmp_path, model_path=tmp_path / "missing.gguf", port=free_port())

    with pytest.raises(ServerError, match="make llm-setup"):
        start(config)
