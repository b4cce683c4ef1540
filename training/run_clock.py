"""Where a training run's minutes go: optimizer steps, and everything around them.

``training.max_minutes`` buys optimizer steps (``training.budget``). Everything else a run
does is paid on top of it: loading the start model, collating and tokenizing each batch,
validation, writing checkpoints, loading the best one back, choosing the weight-averaging
share. ``RunClock`` partitions the trainer's wall time by the trainer's own events, so each
run's metadata says how much of it went to steps, and a bench can show what a change cut.

The events arrive in a fixed order (transformers' training loop): a batch is fetched and
collated, ``on_step_begin``, forward/backward/optimizer, ``on_step_end``, then maybe
validation (``on_evaluate``) and a checkpoint (``on_save``); after the last step the best
checkpoint is loaded back, then ``on_train_end``. Each event charges the time since the
previous one to what happened in between.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import TrainerCallback

# In the order they happen; "batches" also holds the (cheap) loss logging.
PHASES = (
    "loading",
    "batches",
    "steps",
    "validation",
    "checkpoints",
    "best_checkpoint",
    "averaging",
)


class RunClock(TrainerCallback):
    """Seconds per phase of one finetune; ``phase()`` times the parts outside the trainer."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self.validations = 0
        self.checkpoints = 0
        self._last: float | None = None

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started

    def _charge(self, name: str) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.seconds[name] += now - self._last
        self._last = now

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._last = time.perf_counter()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._charge("batches")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._charge("steps")

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._charge("validation")
        self.validations += 1

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._charge("checkpoints")
        self.checkpoints += 1

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._charge("best_checkpoint")
        self._last = None

    def as_metadata(self) -> dict[str, Any]:
        """Seconds per phase, and the share of the total that went to optimizer steps."""
        total = sum(self.seconds.values())
        return {
            "time_s": {name: round(s, 2) for name, s in self.seconds.items()},
            "time_in_steps": round(self.seconds["steps"] / total, 3) if total else None,
            "validations": self.validations,
            "checkpoints": self.checkpoints,
        }
