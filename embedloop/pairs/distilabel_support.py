"""Glue between embedloop and distilabel: a custom step and a well-behaved ``Pipeline.run``.

No ``from __future__ import annotations`` here: distilabel finds a step's input parameter by
inspecting the runtime annotation ``StepInput`` on ``process``.
"""

# isort: off
import embedloop.pairs.forkserver  # noqa: F401  (first: distilabel reads it on import)
# isort: on

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import datasets
from distilabel.mixins.runtime_parameters import RuntimeParameter
from distilabel.pipeline import Pipeline
from distilabel.steps import Step, StepInput
from distilabel.typing import StepColumns, StepOutput
from pydantic import Field

from embedloop.pairs.offline import pseudo_queries


class OfflineQueryGenerator(Step):
    """distilabel step emitting one row per LLM-free pseudo-query of each chunk.

    The pipeline no longer runs it (offline generation is plain Python, see ``generation``);
    ``bench/offline_generation_bench.py`` runs it to show what the worker pool cost.
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


def run_pipeline(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Run ``pipeline`` without its cache and return the rows of its only leaf step."""
    if threading.current_thread() is not threading.main_thread():
        # Pipeline.run installs a SIGINT handler, which Python allows only there; without
        # this check the run dies with a bare "signal only works in main thread".
        raise RuntimeError(
            f"distilabel pipeline {pipeline.name!r} must run in the main thread of the"
            " process (distilabel installs a SIGINT handler); call it outside worker threads"
        )
    with contained_distilabel():
        distiset = pipeline.run(use_cache=False)
    # distilabel leaves a step that wrote no rows out of the Distiset altogether.
    if not distiset:
        return []
    (dataset_dict,) = distiset.values()
    return list(dataset_dict["train"])


@contextmanager
def contained_distilabel() -> Iterator[None]:
    """Keep a pipeline run from leaking into the host process.

    ``Pipeline.run`` replaces the root logger's handlers and level (for its rich console
    output at INFO), installs its own SIGINT handler, and leaves both behind; building the
    Distiset draws a ``datasets`` progress bar per run. Only warnings and errors from
    distilabel are shown; its log file under the cache dir gets the same.
    """
    previous_level_env = os.environ.get("DISTILABEL_LOG_LEVEL")
    if previous_level_env is None:
        # Read by distilabel in this process and in the step processes it forks.
        os.environ["DISTILABEL_LOG_LEVEL"] = "WARNING"
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sigint = signal.getsignal(signal.SIGINT)
    bars_were_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not bars_were_disabled:
            datasets.enable_progress_bars()
        root.handlers[:] = handlers
        root.setLevel(level)
        if sigint is not None:
            signal.signal(signal.SIGINT, sigint)
        if previous_level_env is None:
            os.environ.pop("DISTILABEL_LOG_LEVEL", None)
