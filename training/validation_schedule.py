"""Validation only where it can choose a checkpoint.

Validation encodes the whole corpus with the weights of the moment (on a 2-core CPU about
a minute per thousand chunks), and its one use is to choose which checkpoint is served.
The trainer validates every ``eval_steps`` steps (default: once per epoch), and a run the
time budget shortens (``training.budget``) is validated at its new last step too. Two
kinds of validation cannot choose anything:

- one that leaves a single checkpoint: a run the budget ends inside its first epoch (the
  common case on a CPU) is validated once, at its last step, which is served anyway;
- one a few steps before the end: on the Debian FAQ bench, steps 35 and 38 of 38, two
  checkpoints of nearly the same model at the bottom of the learning-rate decay.

``validation_steps`` plans the points: every ``eval_steps`` and the last step, an
intermediate point less than half an interval before the end merged into the end, and no
points at all where one would remain. ``ValidationSchedule`` holds the trainer to that
plan for the schedule as it stands at each step, since the budget may shorten it.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


def validation_steps(eval_steps: int, last_step: int) -> list[int]:
    """The steps to validate (and checkpoint) in a schedule ending at ``last_step``."""
    points = [
        step
        for step in range(eval_steps, last_step, eval_steps)
        if last_step - step >= eval_steps / 2
    ]
    points.append(last_step)
    return points if len(points) > 1 else []


class ValidationSchedule(TrainerCallback):
    """Sets the trainer's evaluate and save flags to ``validation_steps`` at every step.

    Runs after transformers' own flow callback and the time budget, which set those flags
    by ``eval_steps`` alone; the two strategies stay equal, as ``load_best_model_at_end``
    requires."""

    def __init__(self, eval_steps: int) -> None:
        self.eval_steps = eval_steps

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if args.eval_strategy == "no":
            return
        due = state.global_step in validation_steps(self.eval_steps, state.max_steps)
        control.should_evaluate = due
        control.should_save = due
