"""The offline generator as the distilabel step the pipeline once ran, for the benchmark.

``bench.offline_generation_bench`` times it against today's plain-Python path. No
``from __future__ import annotations`` here: distilabel finds a step's input parameter by
inspecting the runtime annotation ``StepInput`` on ``process``.
"""

# isort: off
import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)
# isort: on

from typing import Any

from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.steps import Step, StepInput
from distilabel.typing import StepColumns, StepOutput
from pydantic import Field

from embedloop.pairs.offline import pseudo_queries


class OfflineQueryGenerator(Step):
    """distilabel step emitting one row per LLM-free pseudo-query of each chunk.

    The pipeline no longer runs it (offline generation is plain Python, see
    ``embedloop.pairs.generation``); ``bench.offline_generation_bench`` runs it to show what
    the worker pool cost.
    """

    queries_per_chunk: RuntimeParameter[int] = Field(
        default=3, description="Pseudo-queries asked for per chunk."
    )
    strategies: list[str] = Field(default_factory=list)

    @property
    def inputs(self) -> StepColumns:
        return ["chunk_id", "text", "heading_path", "title"]

    @property
    def outputs(self) -> StepColumns:
        return ["query", "positive", "strategy"]

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        rows: list[dict[str, Any]] = []
        for row in inputs:
            for pq in pseudo_queries(
                row["text"],
                row["heading_path"],
                row["title"],
                self.queries_per_chunk or 1,
                self.strategies,
            ):
                rows.append(
                    {**row, "query": pq.query, "positive": row["text"], "strategy": pq.strategy}
                )
        yield rows
