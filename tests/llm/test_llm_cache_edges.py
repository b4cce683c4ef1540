"""The LLM question cache keeps what it was given: an append after a torn line, an answer
cut short by an error, one key for both LLM caches, and the LLM's own default port."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from embedloop.config import LLMSettings, ServingSettings, SyntheticSettings
from embedloop.pairs.generation import ChunkForGeneration, generate_pairs
from embedloop.pairs.incremental import config_hash
from embedloop.pairs.llm_generation import CACHE_FILE, _cache_options
from embedloop.pairs.question_cache import CachedAnswer, QuestionCache
from tests.helpers.llm_fault_server import (
    FaultyLLMServer,
    asked_for,
    fault_settings,
    well_formed_question,
)

ROOT = Path(__file__).resolve().parents[2]


def test_an_append_after_a_torn_line_starts_on_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "cache.jsonl"
    QuestionCache(path).add([CachedAnswer("a", ("q1?",), "m")])
    with path.open("a", encoding="utf-8") as f:
        f.write('{"key": "torn", "questi')  # a kill during the write

    QuestionCache(path).add([CachedAnswer("b", ("q2?",), "m")])

    again = QuestionCache(path)
    assert len(again) == 2
    assert again.get("b") == CachedAnswer("b", ("q2?",), "m")
    assert again.get("torn") is None


class _PartialServer(FaultyLLMServer):
    """``PARTIAL`` anchors: one question of those asked, then HTTP 500 on every request."""

    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        messages = body.get("messages", [])
        user = str(messages[-1].get("content", ""))
        if "PARTIAL" not in user:
            return super().respond(body)
        with self._lock:
            self.requests["PARTIAL"] += 1
            nth = self.requests["PARTIAL"]
        if nth > 1:
            return 500, {}, {"error": {"message": "scripted", "type": "server_error"}}
        assert asked_for(messages) == 2
        return 200, {}, self._completion([f"1. {well_formed_question('PARTIAL chunk', 0)}"])


def test_an_answer_cut_short_by_an_error_is_not_cached(tmp_path: Path) -> None:
    chunk = ChunkForGeneration("c0", "PARTIAL: the scheduler starts jobs.", "Guide", "Guide")
    with _PartialServer() as server:
        settings = fault_settings(server)
        settings = settings.model_copy(
            update={"llm": settings.llm.model_copy(update={"max_retries": 1})}
        )
        first = generate_pairs([chunk], settings, tmp_path)
    assert first.counts["dropped_error"] == 1
    assert [p.generator for p in first.pairs] == ["llm"]  # the one question is used now
    cache = tmp_path / CACHE_FILE
    assert not cache.exists() or cache.read_text() == ""  # but not kept as the answer

    with FaultyLLMServer() as healthy:
        again = generate_pairs([chunk], fault_settings(healthy), tmp_path)
        assert healthy.requests  # asked again, for both questions
    assert again.counts["cached"] == 0
    assert len([p for p in again.pairs if p.generator == "llm"]) == 2


def test_both_llm_caches_key_on_the_samefault_settings() -> None:
    """A setting changes the question cache's key exactly when it changes the pairs'
    config hash: the backend does (the same model name through another backend may be
    other weights), the endpoint and throughput knobs do not."""
    base = SyntheticSettings(generator="llm")
    changes: dict[str, Any] = {
        "backend": "transformers",
        "model": "other-model",
        "generation_kwargs": {"temperature": 0.1},
        "base_url": "http://elsewhere:9000/v1",
        "input_batch_size": 3,
        "concurrency": 1,
        "timeout_s": 5.0,
        "max_retries": 9,
    }
    assert set(changes) == set(LLMSettings.model_fields)  # every LLM setting is judged
    for name, value in changes.items():
        other = base.model_copy(update={"llm": base.llm.model_copy(update={name: value})})
        cache_changes = _cache_options(other) != _cache_options(base)
        hash_changes = config_hash(other) != config_hash(base)
        assert cache_changes == hash_changes, name
    backend = base.model_copy(
        update={"llm": base.llm.model_copy(update={"backend": "transformers"})}
    )
    assert _cache_options(backend) != _cache_options(base)


def test_the_llm_default_is_the_local_llm_server_not_the_search_api() -> None:
    makefile = (ROOT / "Makefile").read_text()
    llm_port = next(
        line.split("?=")[1].strip()
        for line in makefile.splitlines()
        if line.startswith("LLM_PORT ?=")
    )
    assert LLMSettings().base_url == f"http://127.0.0.1:{llm_port}/v1"
    assert str(ServingSettings().port) != llm_port
