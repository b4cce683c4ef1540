"""(query, passage, hard negative) pairs from documentation chunks.

The LLM generator (``llm_generation``) asks a distilabel task for questions, cached and
time-bounded; the chunks it leaves without questions get offline ones here. LLM faults
never fail the run there: they are counted, and whether that is too much is the caller's
decision (``check_failure_ratio``).

The offline generator is plain Python in this process: it needs none of that, and
distilabel's fork-server worker pool cost it about 35 s of start-up per run. distilabel
(and the fork-server start method it needs) is imported only when the LLM path runs. Every
positive is the exact chunk text, the surface form the corpus and evaluation use.

Building the LLM is in ``llm_backends``; the prompt and its parser in ``llm_questions``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from embedloop.config import SyntheticSettings
from embedloop.pairs.generation_types import (
    COUNT_KEYS,
    ChunkForGeneration,
    GeneratedPair,
    GenerationReport,
    PipelineRunner,
)
from embedloop.pairs.offline import pseudo_queries

__all__ = [
    "ChunkForGeneration",
    "GeneratedPair",
    "GenerationFailed",
    "GenerationReport",
    "PipelineRunner",
    "check_failure_ratio",
    "generate_pairs",
]

log = logging.getLogger(__name__)


class GenerationFailed(RuntimeError):
    """Too many requested generations were dropped to trust the output."""


def check_failure_ratio(report: GenerationReport, max_ratio: float) -> None:
    """Raise ``GenerationFailed`` if the share of dropped generations exceeds ``max_ratio``."""
    if report.failure_ratio <= max_ratio:
        return
    c = report.counts
    raise GenerationFailed(
        f"synthetic generation failed for {report.failure_ratio:.1%} of requested queries,"
        f" above the threshold of {max_ratio:.1%} (synthetic.max_failure_ratio):"
        f" requested={c['requested']} generated={c['generated']}"
        f" dropped_unparseable={c['dropped_unparseable']} dropped_error={c['dropped_error']}"
        f" retried={c['retried']} chunks={c['chunks']}"
        + (f"; last error: {report.last_error}" if report.last_error else "")
    )


def generate_pairs(
    chunks: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    work_dir: Path,
    api_key: str | None = None,
    run: PipelineRunner | None = None,
) -> GenerationReport:
    """Generate training pairs for ``chunks`` with ``settings.generator``.

    ``work_dir`` holds distilabel's cache (``work_dir/distilabel``). ``api_key`` is for the
    ``llm`` generator's OpenAI-compatible server; distilabel's cached ``pipeline.yaml``
    does not contain it.
    """
    ids = [c.chunk_id for c in chunks]
    if len(set(ids)) != len(ids):
        raise ValueError("chunk ids must be unique: outputs are matched to chunks by id")
    report = GenerationReport(pairs=[], counts=Counter(dict.fromkeys(COUNT_KEYS, 0)))
    report.counts["chunks"] = len(chunks)
    if not chunks:
        return report
    if settings.generator == "offline":
        _generate_offline(chunks, settings, report)
        report.counts["generated"] = len(report.pairs)
    else:
        from embedloop.pairs.llm_generation import generate_llm

        fallback = generate_llm(chunks, settings, work_dir, api_key, report, run)
        report.counts["generated"] = len(report.pairs)
        _generate_offline(fallback, settings, report, counted=False)
        report.counts["offline_fallback"] = len(report.pairs) - report.counts["generated"]
    if report.dropped:
        log.warning(
            "%s generator dropped %d of %d requested queries (%d unparseable, %d errors)",
            settings.generator,
            report.dropped,
            report.counts["requested"],
            report.counts["dropped_unparseable"],
            report.counts["dropped_error"],
        )
    return report


# --- offline -------------------------------------------------------------------------------


def _generate_offline(
    chunks: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    report: GenerationReport,
    counted: bool = True,
) -> None:
    """Pseudo-queries in this process, in chunk id order; positives are the chunk texts.

    ``counted=False``: the LLM's left-over chunks, whose requests the LLM already counted.
    """
    for chunk in sorted(chunks, key=lambda c: c.chunk_id):
        queries = pseudo_queries(
            chunk.text,
            chunk.heading_path,
            chunk.title,
            settings.queries_per_chunk,
            settings.offline_strategies,
            chunk.neighbours,
        )
        # Offline strategies may legitimately yield fewer than queries_per_chunk, so what
        # was "requested" is what the strategies produced.
        report.counts["requested"] += len(queries) if counted else 0
        report.pairs.extend(
            GeneratedPair(
                chunk_id=chunk.chunk_id,
                query=q.query,
                positive=chunk.text,
                negative=None,
                generator="offline",
                model=f"offline:{q.strategy}",
            )
            for q in queries
        )
