"""A wall-clock training budget: the schedule shrinks to the steps that fit.

One epoch over the pairs of a 10k-chunk manual is hundreds of steps; on a 2-core CPU each
takes tens of seconds, so an unbounded run takes hours. ``training.max_minutes`` bounds
it (``auto``: 15 minutes on a CPU, no bound on a GPU). The budget counts training steps
only, not loading the model, validation or export.

Stopping a linear schedule halfway would end training at a high learning rate. Instead,
after a few timed steps (the first one, which pays for warm-up, is not counted) the
callback works out how many steps fit and shortens the schedule to them: warm-up and decay
both complete within the budget, and the run records that the budget, not the data, ended
it. Validation follows the shortened schedule (``training.validation_schedule``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from transformers import TrainerCallback

from embedloop.config import TrainingSettings

# Minutes of training on a CPU when ``training.max_minutes`` is auto.
CPU_MINUTES = 15.0
# Steps timed before the schedule is fitted to the budget (after the first, untimed one).
TIMED_STEPS = 3


def budget_seconds(ts: TrainingSettings, device: str) -> float | None:
    """The training budget in seconds, or None for no bound."""
    minutes = ts.max_minutes
    if minutes == "auto":
        return CPU_MINUTES * 60 if device == "cpu" else None
    return None if minutes is None else float(minutes) * 60


def linear_schedule(warmup_steps: int, total_steps: int) -> Any:
    """The multiplier of transformers' linear schedule (warm-up, then decay to 0)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


@dataclass
class BudgetOutcome:
    planned_steps: int
    fitted_steps: int | None = None  # set once the budget shortened the schedule
    seconds_per_step: float | None = None

    def as_metadata(self, budget_s: float | None) -> dict[str, Any]:
        return {
            "time_budget_s": budget_s,
            "planned_steps": self.planned_steps,
            "stopped_by_time_budget": self.fitted_steps is not None,
            "seconds_per_step": self.seconds_per_step,
        }


class TimeBudget(TrainerCallback):
    """Fits the step count (and the learning-rate schedule) to ``seconds`` of training."""

    def __init__(self, seconds: float, planned_steps: int, warmup_ratio: float) -> None:
        self.seconds = seconds
        self.warmup_ratio = warmup_ratio
        self.outcome = BudgetOutcome(planned_steps)
        self._started: float | None = None
        self._timing_from: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        step = state.global_step
        if step == 1:
            self._timing_from = now
        elif step == 1 + TIMED_STEPS and self._timing_from is not None:
            self._fit(state, kwargs.get("lr_scheduler"), now, step)
        fitted = self.outcome.fitted_steps
        if fitted is not None and step >= fitted:
            # The end of the shortened schedule; whether it is validated and saved is the
            # validation schedule's call (training.validation_schedule).
            control.should_training_stop = True

    def _fit(self, state: Any, scheduler: Any, now: float, step: int) -> None:
        assert self._started is not None and self._timing_from is not None
        per_step = (now - self._timing_from) / TIMED_STEPS
        self.outcome.seconds_per_step = round(per_step, 3)
        left = self.seconds - (now - self._started)
        fits = step + max(0, math.floor(left / per_step))
        if fits >= self.outcome.planned_steps:
            return
        self.outcome.fitted_steps = fits
        state.max_steps = fits
        if scheduler is not None:
            warmup = math.ceil(self.warmup_ratio * fits)
            # One multiplier per parameter group (the trainer makes two: with and without
            # weight decay).
            scheduler.lr_lambdas = [linear_schedule(warmup, fits)] * len(scheduler.lr_lambdas)


def time_budget(ts: TrainingSettings, device: str, planned_steps: int) -> TimeBudget | None:
    """The callback for ``training.max_minutes`` on ``device``, or None without a bound."""
    seconds = budget_seconds(ts, device)
    return TimeBudget(seconds, planned_steps, ts.warmup_ratio) if seconds else None


def budget_metadata(budget: TimeBudget | None, planned_steps: int) -> dict[str, Any]:
    """What the budget did, for the run's hyperparameters."""
    if budget is None:
        return BudgetOutcome(planned_steps).as_metadata(None)
    return budget.outcome.as_metadata(budget.seconds)
