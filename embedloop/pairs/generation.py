"""(query, passage, hard negative) pairs from documentation chunks.

The LLM generator runs as a real distilabel ``Pipeline`` for distilabel's batching, async
requests and output parsing. LLM faults never fail the run here: the OpenAI client retries
HTTP errors, unparseable answers are asked again a few times, and what is still missing is
counted. Whether that is too much is the caller's decision (``check_failure_ratio``).

The offline generator is plain Python in this process: it needs none of that, and
distilabel's fork-server worker pool cost it about 35 s of start-up per run. distilabel
(and the fork-server start method it needs) is imported only when the LLM path runs. Every
positive is the exact chunk text, the surface form the corpus and evaluation use.

The distilabel glue (running a pipeline quietly) is in ``distilabel_support``; building the
LLM is in ``llm_backends``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedloop.config import SyntheticSettings
from embedloop.pairs.offline import pseudo_queries

log = logging.getLogger(__name__)

# Runs a built distilabel Pipeline and returns its leaf step's rows. The default is
# distilabel_support.run_pipeline (this process); deploy/ray/generate_pairs.py passes one
# that runs it on a Ray cluster (``pipeline.ray()``).
PipelineRunner = Callable[[Any], list[dict[str, Any]]]

# Retry rounds for unparseable answers wait base * 2**round, capped: a model that garbled
# an answer rarely needs long to recover, unlike a rate limit (which the client handles).
RETRY_BACKOFF_BASE_S = 0.5
RETRY_BACKOFF_MAX_S = 8.0

# Always present in GenerationReport.counts, zero or not.
COUNT_KEYS = ("chunks", "requested", "generated", "retried", "dropped_unparseable", "dropped_error")

_LOAD_STEP = "load_chunks"
_LLM_STEP = "generate_sentence_pair"


@dataclass(frozen=True)
class ChunkForGeneration:
    chunk_id: str
    text: str
    heading_path: str
    title: str
    # Texts of the adjacent chunks of the same section (the inverse cloze strategy's source).
    neighbours: tuple[str, ...] = ()


@dataclass(frozen=True)
class GeneratedPair:
    chunk_id: str
    query: str
    positive: str
    negative: str | None
    generator: str
    model: str


@dataclass
class GenerationReport:
    """Pairs plus counters; ``generated + dropped_unparseable + dropped_error == requested``.

    ``retried`` counts generations asked again after an unparseable answer (one per retry
    round they took part in), so it may exceed ``requested``. ``failed_chunk_ids`` are the
    chunks that got no pair because of faults (not because an offline strategy had nothing
    to say): worth generating again on a later run.
    """

    pairs: list[GeneratedPair]
    counts: Counter[str] = field(default_factory=Counter)
    failed_chunk_ids: set[str] = field(default_factory=set)

    @property
    def dropped(self) -> int:
        return self.counts["dropped_unparseable"] + self.counts["dropped_error"]

    @property
    def failure_ratio(self) -> float:
        requested = self.counts["requested"]
        return self.dropped / requested if requested else 0.0


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
    else:
        _generate_llm(chunks, settings, work_dir, api_key, report, run)
    report.counts["generated"] = len(report.pairs)
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
    chunks: Sequence[ChunkForGeneration], settings: SyntheticSettings, report: GenerationReport
) -> None:
    """Pseudo-queries in this process, in chunk id order; positives are the chunk texts."""
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
        report.counts["requested"] += len(queries)
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


# --- llm -----------------------------------------------------------------------------------


@dataclass
class _LLMOutcome:
    """What came back for one chunk in one pipeline run."""

    pairs: list[GeneratedPair] = field(default_factory=list)
    unparseable: int = 0
    errors: int = 0


def _generate_llm(
    chunks: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    work_dir: Path,
    api_key: str | None,
    report: GenerationReport,
    run: PipelineRunner | None = None,
) -> None:
    n = settings.queries_per_chunk
    report.counts["requested"] = len(chunks) * n
    by_id = {c.chunk_id: c for c in chunks}
    kept: dict[str, list[GeneratedPair]] = defaultdict(list)
    errors: Counter[str] = Counter()

    # First round: one request per chunk asking for n answers.
    first = [c.chunk_id for c in chunks]
    outcomes = _run_llm_round(first, n, by_id, settings, work_dir, api_key, run)
    unparseable = _absorb(outcomes, kept, errors)

    # Later rounds: only the unparseable answers, one request each (a chunk's row repeated,
    # n=1) so that exactly the missing ones are asked for. HTTP failures are not asked
    # again here: the OpenAI client already retried them with backoff.
    for round_no in range(settings.llm.max_retries):
        if not unparseable:
            break
        time.sleep(min(RETRY_BACKOFF_BASE_S * 2**round_no, RETRY_BACKOFF_MAX_S))
        report.counts["retried"] += unparseable.total()
        log.info(
            "retry round %d: %d unparseable generations of %d chunks",
            round_no + 1,
            unparseable.total(),
            len(unparseable),
        )
        retry_ids = sorted(unparseable.elements())
        outcomes = _run_llm_round(retry_ids, 1, by_id, settings, work_dir, api_key, run)
        unparseable = _absorb(outcomes, kept, errors)

    report.counts["dropped_unparseable"] += unparseable.total()
    report.counts["dropped_error"] += errors.total()
    for chunk_id in sorted(kept):
        report.pairs.extend(kept[chunk_id])
    report.failed_chunk_ids.update(cid for cid in by_id if not kept.get(cid))


def _absorb(
    outcomes: dict[str, _LLMOutcome], kept: dict[str, list[GeneratedPair]], errors: Counter[str]
) -> Counter[str]:
    """Fold one round into the running totals; return the unparseable count per chunk."""
    unparseable: Counter[str] = Counter()
    for chunk_id, outcome in outcomes.items():
        kept[chunk_id].extend(outcome.pairs)
        errors[chunk_id] += outcome.errors
        if outcome.unparseable:
            unparseable[chunk_id] = outcome.unparseable
    return unparseable


def _run_llm_round(
    chunk_ids: list[str],
    num_generations: int,
    by_id: dict[str, ChunkForGeneration],
    settings: SyntheticSettings,
    work_dir: Path,
    api_key: str | None,
    run: PipelineRunner | None = None,
) -> dict[str, _LLMOutcome]:
    """One pipeline run: a row per entry of ``chunk_ids`` (repeats allowed), each asking
    for ``num_generations`` answers in one request."""
    # Only here: importing distilabel sets the fork-server start method and loads its stack.
    # isort: off
    import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)

    # isort: on
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import GenerateSentencePair

    from embedloop.pairs.distilabel_support import run_pipeline
    from embedloop.pairs.llm_backends import build_llm

    rows = [{"chunk_id": cid, "text": by_id[cid].text} for cid in chunk_ids]
    batch_size = settings.llm.input_batch_size
    with Pipeline(name="embedloop-llm", cache_dir=work_dir / "distilabel") as pipeline:
        load = LoadDataFromDicts(name=_LOAD_STEP, data=rows, batch_size=batch_size)
        task = GenerateSentencePair(
            name=_LLM_STEP,
            action="query",
            triplet=True,
            hard_negative=True,
            context=settings.corpus_description,
            llm=build_llm(settings.llm, api_key),
            num_generations=num_generations,
            input_batch_size=batch_size,
            input_mappings={"anchor": "text"},
        )
        load >> task
    by_chunk = _group_by_chunk((run or run_pipeline)(pipeline))
    return {
        cid: _classify(
            cid, by_id[cid].text, by_chunk.get(cid, []), k * num_generations, settings.llm.model
        )
        for cid, k in Counter(chunk_ids).items()
    }


def _classify(
    chunk_id: str, text: str, rows: list[dict[str, Any]], expected: int, default_model: str
) -> _LLMOutcome:
    """Sort a chunk's output rows into kept pairs, unparseable answers and errors.

    distilabel reports both kinds of failure as ``positive=None``; the raw answer tells them
    apart: present means the model answered but the format was wrong (worth asking again),
    absent means no answer came back at all. When a whole batch fails distilabel emits one
    blank row per input rather than one per generation, so errors are what is missing.
    """
    outcome = _LLMOutcome()
    for row in rows:
        query = _clean(row.get("positive"))
        if query:
            outcome.pairs.append(
                GeneratedPair(
                    chunk_id=chunk_id,
                    query=query,
                    positive=text,
                    negative=_clean(row.get("negative")) or None,
                    generator="llm",
                    model=row.get("model_name") or default_model,
                )
            )
        elif _raw_output(row) is not None:
            outcome.unparseable += 1
    outcome.pairs = outcome.pairs[:expected]
    outcome.unparseable = min(outcome.unparseable, expected - len(outcome.pairs))
    outcome.errors = expected - len(outcome.pairs) - outcome.unparseable
    return outcome


def _raw_output(row: dict[str, Any]) -> str | None:
    metadata = row.get("distilabel_metadata") or {}
    raw = metadata.get(f"raw_output_{_LLM_STEP}")
    return raw if isinstance(raw, str) else None


# --- shared --------------------------------------------------------------------------------


def _clean(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _group_by_chunk(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    # One step replica handles batches in order and keeps a batch's rows in input order, so
    # the order inside each group is the generation order (deterministic run to run).
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["chunk_id"]].append(row)
    return groups
