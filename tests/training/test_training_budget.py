"""The wall-clock training budget: the schedule shrinks to the steps that fit.

The fitting logic runs against a real LambdaLR scheduler with a clock the test advances
(wall time is the one input a test cannot hold still); a real finetune on tiny data then
shows the trainer stops where the budget says, evaluates that last step and records why.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from embedloop.config import Settings, TrainingSettings
from training import budget as budget_module
from training.budget import TimeBudget, budget_seconds, linear_schedule
from training.finetune import finetune


def test_auto_bounds_the_cpu_only_and_null_means_no_bound() -> None:
    assert budget_seconds(TrainingSettings(), "cpu") == budget_module.CPU_MINUTES * 60
    assert budget_seconds(TrainingSettings(), "cuda") is None
    assert budget_seconds(TrainingSettings(max_minutes=None), "cpu") is None
    assert budget_seconds(TrainingSettings(max_minutes=2.5), "cuda") == 150
    with pytest.raises(ValueError):
        TrainingSettings(max_minutes=0)


def test_linear_schedule_warms_up_then_decays_to_zero_at_the_last_step() -> None:
    factor = linear_schedule(2, 10)
    assert [factor(s) for s in (0, 1, 2)] == [0.0, 0.5, 1.0]
    assert factor(6) == pytest.approx(0.5)
    assert factor(10) == 0.0


def _drive(callback: TimeBudget, seconds_per_step: float, steps: int, monkeypatch) -> tuple:
    """Run ``steps`` step ends through the callback, each ``seconds_per_step`` apart."""
    clock = itertools.count(0.0, seconds_per_step)
    monkeypatch.setattr(budget_module.time, "perf_counter", lambda: next(clock))
    # Two parameter groups, as the trainer makes them (with and without weight decay).
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)]
    optimizer = torch.optim.SGD(groups, lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(10, 100))
    state = SimpleNamespace(global_step=0, max_steps=callback.outcome.planned_steps)
    args = SimpleNamespace(eval_strategy="steps", save_strategy="steps")
    callback.on_train_begin(args, state, None)
    control = SimpleNamespace(should_evaluate=False, should_save=False, should_training_stop=False)
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        state.global_step += 1
        callback.on_step_end(args, state, control, lr_scheduler=scheduler)
        if control.should_training_stop:
            break
    return state, control, scheduler


def test_a_schedule_that_does_not_fit_is_shortened_and_decays_within_it(monkeypatch) -> None:
    # 10 s per step, 200 s of budget: about 20 of the 100 planned steps fit.
    callback = TimeBudget(200, planned_steps=100, warmup_ratio=0.1)
    state, control, scheduler = _drive(callback, 10.0, 100, monkeypatch)
    fitted = callback.outcome.fitted_steps
    assert fitted is not None and 15 <= fitted <= 20
    assert state.max_steps == fitted and state.global_step == fitted
    assert control.should_training_stop and control.should_evaluate and control.should_save
    assert scheduler.get_last_lr() == pytest.approx([0.0, 0.0])  # decayed, not cut off midway
    assert callback.outcome.as_metadata(200)["stopped_by_time_budget"] is True


def test_a_schedule_that_fits_is_left_alone(monkeypatch) -> None:
    callback = TimeBudget(10_000, planned_steps=30, warmup_ratio=0.1)
    state, control, _ = _drive(callback, 10.0, 30, monkeypatch)
    assert callback.outcome.fitted_steps is None
    assert state.max_steps == 30 and not control.should_training_stop
    assert callback.outcome.as_metadata(10_000)["stopped_by_time_budget"] is False


def test_a_real_finetune_stops_at_the_budget_and_evaluates_its_last_step() -> None:
    topics = [f"topic {i} explains the setting number {i} of the tool" for i in range(24)]
    chunks = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(24)], "text": topics})
    pairs = pd.DataFrame(
        {"query": [f"what does setting {i} do" for i in range(24)], "positive": topics}
    ).assign(chunk_id=chunks["chunk_id"], negative=None)
    settings = Settings.model_validate(
        {
            # planned: 300 steps; 3 s of budget fit a few (a step takes about 0.1 s here)
            "training": {"max_steps": 300, "batch_size": 4, "max_minutes": 0.05},
        }
    )
    result = finetune(settings, pairs, pairs.head(6), chunks)
    steps = result.hyperparameters["total_steps"]
    assert result.hyperparameters["stopped_by_time_budget"] is True
    assert result.hyperparameters["planned_steps"] == 300
    assert budget_module.TIMED_STEPS < steps < 300
    # The shortened schedule ends like an epoch: its last step is evaluated.
    assert result.validation_history and result.validation_history[-1][0] == steps
