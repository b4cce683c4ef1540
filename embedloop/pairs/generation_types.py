"""What the generators take and give: chunks in, pairs and counters out.

Kept apart from ``generation`` so that the generators (offline in ``generation``, LLM in
``llm_generation``) share them without importing each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Runs a built distilabel Pipeline and returns its leaf step's rows. None: the LLM task
# runs in this process, batch by batch; deploy/ray/generate_pairs.py passes one that runs
# it on a Ray cluster (``pipeline.ray()``).
PipelineRunner = Callable[[Any], list[dict[str, Any]]]

# Always present in GenerationReport.counts, zero or not.
COUNT_KEYS = ("chunks", "requested", "generated", "retried", "dropped_unparseable", "dropped_error")


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
    """Pairs plus counters; ``generated + dropped_unparseable + dropped_error == requested``
    for the generator asked (offline queries written for the LLM's left-over chunks are
    pairs, counted apart as ``offline_fallback``).

    ``retried`` counts questions asked again after an unusable answer, so it may exceed
    ``requested``. ``failed_chunk_ids`` are the chunks that got no pair because of faults
    (not because a strategy had nothing to say): worth generating again on a later run, as
    are ``deferred_chunk_ids``, which the time budget did not reach. ``line_drops`` says
    why lines of the LLM's answers were not questions; ``last_error`` is the last fault's
    text, for the message when too much failed.
    """

    pairs: list[GeneratedPair]
    counts: Counter[str] = field(default_factory=Counter)
    failed_chunk_ids: set[str] = field(default_factory=set)
    deferred_chunk_ids: set[str] = field(default_factory=set)
    line_drops: Counter[str] = field(default_factory=Counter)
    last_error: str | None = None

    @property
    def dropped(self) -> int:
        return self.counts["dropped_unparseable"] + self.counts["dropped_error"]

    @property
    def failure_ratio(self) -> float:
        requested = self.counts["requested"]
        return self.dropped / requested if requested else 0.0
