"""(query, passage, hard negative) pairs from documentation chunks, through distilabel.

Both generators run as a real distilabel ``Pipeline`` so that the LLM path gets distilabel's
batching, async requests and output parsing, and the offline path is swapped in at the same
place. LLM faults never fail the run here: the OpenAI client retries HTTP errors, unparseable
answers are asked again a few times, and what is still missing is counted. Whether that is
too much is the caller's decision (``check_failure_ratio``).

The distilabel glue (the offline step, running a pipeline quietly) is in
``distilabel_support``; building the LLM is in ``llm_backends``.
"""

# isort: off
import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)
# isort: on

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distilabel.pipeline import Pipeline
from distilabel.steps import LoadDataFromDicts
from distilabel.steps.tasks import GenerateSentencePair

from embedloop.config import SyntheticSettings
from embedloop.pairs.distilabel_support import OfflineQueryGenerator, run_pipeline
from embedloop.pairs.llm_backends import build_llm

log = logging.getLogger(__name__)

# Retry rounds for unparseable answers wait base * 2**round, capped: a model that garbled
# an answer rarely needs long to recover, unlike a rate limit (which the client handles).
RETRY_BACKOFF_BASE_S = 0.5
RETRY_BACKOFF_MAX_S = 8.0

# Always present in GenerationReport.counts, zero or not.
COUNT_KEYS = ("chunks", "requested", "generated", "retried", "dropped_unparseable", "dropped_error")

_LOAD_STEP = "load_chunks"
_OFFLINE_STEP = "offline_queries"
_LLM_STEP = "generate_sentence_pair"


@dataclass(frozen=True)
class ChunkForGeneration:
    chunk_id: str
    text: str
    heading_path: str
    title: str


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
        _generate_offline(chunks, settings, work_dir, report)
    else:
        _generate_llm(chunks, settings, work_dir, api_key, report)
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
    chunks: Sequence[ChunkForGeneration],
    settings: SyntheticSettings,
    work_dir: Path,
    report: GenerationReport,
) -> None:
    rows = [
        {"chunk_id": c.chunk_id, "text": c.text, "heading_path": c.heading_path, "title": c.title}
        for c in chunks
    ]
    with Pipeline(name="embedloop-offline", cache_dir=work_dir / "distilabel") as pipeline:
        load = LoadDataFromDicts(name=_LOAD_STEP, data=rows, batch_size=256)
        step = OfflineQueryGenerator(
            name=_OFFLINE_STEP,
            queries_per_chunk=settings.queries_per_chunk,
            strategies=list(settings.offline_strategies),
            input_batch_size=256,
        )
        load >> step
    by_chunk = _group_by_chunk(run_pipeline(pipeline))
    for chunk in sorted(chunks, key=lambda c: c.chunk_id):
        out_rows = by_chunk.get(chunk.chunk_id, [])
        if any(r.get("strategy") is None for r in out_rows):
            # distilabel blanked the batch after an exception in pseudo_queries (it logs the
            # traceback); how many queries the chunk would have had is unknown.
            report.counts["requested"] += settings.queries_per_chunk
            report.counts["dropped_error"] += settings.queries_per_chunk
            report.failed_chunk_ids.add(chunk.chunk_id)
            continue
        # Offline strategies may legitimately yield fewer than queries_per_chunk, so what
        # was "requested" is what the strategies produced.
        report.counts["requested"] += len(out_rows)
        if out_rows and not any(_clean(r.get("query")) for r in out_rows):
            report.failed_chunk_ids.add(chunk.chunk_id)
        for r in out_rows:
            if not _clean(r.get("query")):
                report.counts["dropped_unparseable"] += 1
                continue
            report.pairs.append(
                GeneratedPair(
                    chunk_id=chunk.chunk_id,
                    query=_clean(r["query"]),
                    positive=r["positive"],
                    negative=None,
                    generator="offline",
                    model=f"offline:{r['strategy']}",
                )
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
) -> None:
    n = settings.queries_per_chunk
    report.counts["requested"] = len(chunks) * n
    by_id = {c.chunk_id: c for c in chunks}
    kept: dict[str, list[GeneratedPair]] = defaultdict(list)
    errors: Counter[str] = Counter()

    # First round: one request per chunk asking for n answers.
    outcomes = _run_llm_round([c.chunk_id for c in chunks], n, by_id, settings, work_dir, api_key)
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
        outcomes = _run_llm_round(retry_ids, 1, by_id, settings, work_dir, api_key)
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
) -> dict[str, _LLMOutcome]:
    """One pipeline run: a row per entry of ``chunk_ids`` (repeats allowed), each asking
    for ``num_generations`` answers in one request."""
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
    by_chunk = _group_by_chunk(run_pipeline(pipeline))
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
