"""Glue between embedloop and distilabel: a well-behaved ``Pipeline.run``.

distilabel's ``Pipeline.run`` takes over the root logger, SIGINT and progress bars; these
helpers give them back, and refuse to run off the main thread where it would fail obscurely.
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
from distilabel.pipeline import Pipeline


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
