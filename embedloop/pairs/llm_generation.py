"""The ``llm`` generator: questions written by an LLM through distilabel, bounded and cached.

The model is asked for questions only (``llm_questions``), through distilabel's
``TextGeneration`` task and whichever distilabel LLM the settings build (an OpenAI-compatible
server such as the local llama.cpp server, vLLM, Ollama or a hosted API; or transformers
in this process). In this process the task runs batch by batch, so that:

- every answered batch is in the question cache (``question_cache``) before the next is
  asked: an unchanged chunk is never sent twice, and a stopped run keeps its answers;
  only complete answers are kept (a chunk that met an error is asked again next run);
- ``synthetic.max_minutes`` bounds the run: chunks not reached keep offline queries for
  now and stay pending, so the next run extends the LLM's coverage;
- a chunk the model gave no usable question for gets offline queries too (mixed).

Faults never fail the run here: unusable answers are asked again (``llm.max_retries``),
the OpenAI client retries HTTP errors, and what is still missing is counted, with the last
error's text, for ``check_failure_ratio`` to judge. With a ``PipelineRunner`` (Ray), the
rows go through one distilabel ``Pipeline`` instead, unbounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedloop.config import SyntheticSettings
from embedloop.pairs.generation_types import (
    ChunkForGeneration,
    GeneratedPair,
    GenerationReport,
    PipelineRunner,
)
from embedloop.pairs.llm_questions import PROMPT_VERSION, SYSTEM_PROMPT, messages, parse_questions
from embedloop.pairs.question_cache import (
    CachedAnswer,
    QuestionCache,
    answer_options,
    cache_key,
)

log = logging.getLogger(__name__)

RETRY_BACKOFF_BASE_S = 0.5
RETRY_BACKOFF_MAX_S = 8.0
CACHE_FILE = "llm_questions.jsonl"
_LLM_STEP = "generate_questions"


@dataclass
class _ChunkState:
    chunk: ChunkForGeneration
    questions: list[str] = field(default_factory=list)
    missing: int = 0  # asked for, not yet usable
    errors: int = 0  # no answer came back


def generate_llm(
    chunks: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    work_dir: Path,
    api_key: str | None,
    report: GenerationReport,
    run: PipelineRunner | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[ChunkForGeneration]:
    """Fill ``report`` with LLM pairs; return the chunks that need offline queries instead.

    Those are the chunks not reached within ``max_minutes`` (also listed in
    ``report.deferred_chunk_ids``, so they stay pending) and the chunks the model gave no
    usable question for.
    """
    n = settings.queries_per_chunk
    model = settings.llm.model
    cache = QuestionCache(work_dir / CACHE_FILE)
    options = _cache_options(settings)
    todo, fallback = _serve_cached(chunks, cache, settings, options, report)
    if not todo:
        return fallback
    deadline = None if settings.max_minutes is None else clock() + settings.max_minutes * 60
    ask = _Asker(settings, work_dir, api_key, run)
    batch_size = len(todo) if run is not None else settings.llm.input_batch_size
    for start in range(0, len(todo), batch_size):
        if deadline is not None and clock() >= deadline:
            rest = todo[start:]
            report.deferred_chunk_ids.update(c.chunk_id for c in rest)
            report.counts["deferred"] += len(rest)
            fallback.extend(rest)
            log.info("synthetic.max_minutes reached: %d chunks keep offline queries", len(rest))
            break
        states = _ask_with_retries(todo[start : start + batch_size], settings, ask, report)
        # Only complete answers are kept: a chunk that met an error (none or only some of
        # its questions came back) is asked again next run; an unusable answer is kept.
        answered = [s for s in states if not s.errors]
        cache.add(
            CachedAnswer(
                cache_key(s.chunk.text, model, PROMPT_VERSION, options), tuple(s.questions), model
            )
            for s in answered
        )
        for s in states:
            report.counts["requested"] += n
            report.counts["dropped_unparseable"] += s.missing
            report.counts["dropped_error"] += s.errors
            _add_pairs(report, s.chunk, s.questions, model)
            if not s.questions:
                fallback.append(s.chunk)
                if s.errors:
                    report.failed_chunk_ids.add(s.chunk.chunk_id)
    return fallback


def _serve_cached(
    chunks: Sequence[ChunkForGeneration],
    cache: QuestionCache,
    settings: SyntheticSettings,
    options: str,
    report: GenerationReport,
) -> tuple[list[ChunkForGeneration], list[ChunkForGeneration]]:
    """Pairs from cached answers; return (chunks to ask, chunks needing offline queries)."""
    n, model = settings.queries_per_chunk, settings.llm.model
    todo: list[ChunkForGeneration] = []
    fallback: list[ChunkForGeneration] = []
    for chunk in chunks:
        hit = cache.get(cache_key(chunk.text, model, PROMPT_VERSION, options))
        if hit is None:
            todo.append(chunk)
            continue
        report.counts["cached"] += 1
        report.counts["requested"] += n
        _add_pairs(report, chunk, list(hit.questions), hit.model)
        report.counts["dropped_unparseable"] += n - len(hit.questions)
        if not hit.questions:
            fallback.append(chunk)
    return todo, fallback


def _ask_with_retries(
    batch: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    ask: _Asker,
    report: GenerationReport,
) -> list[_ChunkState]:
    """Ask for every chunk's questions, then again for what came back unusable."""
    states = [_ChunkState(c, missing=settings.queries_per_chunk) for c in batch]
    for round_no in range(settings.llm.max_retries + 1):
        asking = [s for s in states if s.missing]
        if not asking:
            break
        if round_no:
            time.sleep(min(RETRY_BACKOFF_BASE_S * 2 ** (round_no - 1), RETRY_BACKOFF_MAX_S))
            report.counts["retried"] += sum(s.missing for s in asking)
        rows = [
            {
                "chunk_id": s.chunk.chunk_id,
                "instruction": messages(s.chunk.text, s.missing, settings.corpus_description)[1][
                    "content"
                ],
            }
            for s in asking
        ]
        answers = {row["chunk_id"]: row for row in ask(rows)}
        report.last_error = ask.last_error or report.last_error
        for s in asking:
            raw = _raw(answers.get(s.chunk.chunk_id))
            if raw is None:  # no answer: the client already retried; count, do not re-ask
                s.errors += s.missing
                s.missing = 0
                continue
            parsed = parse_questions(raw, s.missing)
            report.line_drops.update(parsed.dropped)
            fresh = [
                q for q in parsed.questions if q.lower() not in {x.lower() for x in s.questions}
            ]
            s.questions.extend(fresh)
            s.missing -= len(fresh)
    return states


def _raw(row: dict[str, Any] | None) -> str | None:
    if row is None:
        return None
    text = row.get("generation")
    return text if isinstance(text, str) else None


def _add_pairs(
    report: GenerationReport, chunk: ChunkForGeneration, questions: list[str], model: str
) -> None:
    report.pairs.extend(
        GeneratedPair(chunk.chunk_id, q, chunk.text, None, "llm", model) for q in questions
    )


def _cache_options(settings: SyntheticSettings) -> str:
    """Everything besides the text and the model that changes the answer: the same LLM
    settings as the pairs' config hash (``question_cache.llm_identity``)."""
    return answer_options(settings)


class _Asker:
    """One distilabel ``TextGeneration`` task, loaded on first use, asked row by row."""

    def __init__(
        self,
        settings: SyntheticSettings,
        work_dir: Path,
        api_key: str | None,
        run: PipelineRunner | None,
    ) -> None:
        self.settings, self.work_dir, self.api_key, self.run = settings, work_dir, api_key, run
        self._task: Any = None

    def _new_task(self) -> Any:
        # isort: off
        import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)

        # isort: on
        from distilabel.steps.tasks import TextGeneration

        from embedloop.pairs.llm_backends import build_llm

        return TextGeneration(
            name=_LLM_STEP,
            llm=build_llm(self.settings.llm, self.api_key, self.work_dir),
            system_prompt=SYSTEM_PROMPT.format(corpus=self.settings.corpus_description),
            input_batch_size=self.settings.llm.input_batch_size,
        )

    @property
    def last_error(self) -> str | None:
        return getattr(getattr(self._task, "llm", None), "last_error", None)

    def __call__(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.run is not None:
            return self._run_pipeline(rows)
        if self._task is None:
            task = self._new_task()
            task.load()
            self._task = task
        return list(next(self._task.process(rows)))

    def _run_pipeline(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from distilabel.pipeline import Pipeline
        from distilabel.steps import LoadDataFromDicts

        assert self.run is not None
        with Pipeline(name="embedloop-llm", cache_dir=self.work_dir / "distilabel") as pipeline:
            load = LoadDataFromDicts(name="load_chunks", data=rows, batch_size=len(rows))
            load >> self._new_task()
        return self.run(pipeline)
