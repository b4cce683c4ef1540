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
from training.run_clock import PHASES
from training.validation_schedule import validation_steps


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
    assert control.should_training_stop
    assert scheduler.get_last_lr() == pytest.approx([0.0, 0.0])  # decayed, not cut off midway
    assert callback.outcome.as_metadata(200)["stopped_by_time_budget"] is True


def test_a_schedule_that_fits_is_left_alone(monkeypatch) -> None:
    callback = TimeBudget(10_000, planned_steps=30, warmup_ratio=0.1)
    state, control, _ = _drive(callback, 10.0, 30, monkeypatch)
    assert callback.outcome.fitted_steps is None
    assert state.max_steps == 30 and not control.should_training_stop
    assert callback.outcome.as_metadata(10_000)["stopped_by_time_budget"] is False


def _tiny_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """24 (query, chunk) pairs and their chunks: 6 steps an epoch at batch size 4."""
    topics = [f"topic {i} explains the setting number {i} of the tool" for i in range(24)]
    chunks = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(24)], "text": topics})
    pairs = pd.DataFrame(
        {"query": [f"what does setting {i} do" for i in range(24)], "positive": topics}
    ).assign(chunk_id=chunks["chunk_id"], negative=None)
    return pairs, chunks


def test_a_real_finetune_stops_at_the_budget_and_evaluates_its_last_step() -> None:
    pairs, chunks = _tiny_data()
    settings = Settings.model_validate(
        {
            # planned: 300 steps; 3 s of budget fit a few (a step takes about 0.1 s here);
            # validation every 2 steps, so that even the fewest steps that can fit (4) leave
            # two checkpoints to choose from
            "training": {"max_steps": 300, "batch_size": 4, "max_minutes": 0.05, "eval_steps": 2},
        }
    )
    result = finetune(settings, pairs, pairs.head(6), chunks)
    steps = result.hyperparameters["total_steps"]
    assert result.hyperparameters["stopped_by_time_budget"] is True
    assert result.hyperparameters["planned_steps"] == 300
    assert budget_module.TIMED_STEPS < steps < 300
    # The shortened schedule ends like an epoch: its last step is evaluated.
    assert result.validation_history and result.validation_history[-1][0] == steps


@pytest.mark.parametrize(
    ("eval_steps", "last_step", "expected"),
    [
        (35, 38, []),  # the Debian FAQ bench: step 35 is 3 steps before the end of 38
        (10, 38, [10, 20, 30, 38]),
        (10, 34, [10, 20, 34]),  # 30 is less than half an interval before the end
        (6, 6, []),  # one epoch: one checkpoint, nothing to choose
        (6, 4, []),  # a budget that ends the run inside its first epoch
        (2, 4, [2, 4]),
    ],
)
def test_validation_runs_only_where_it_can_choose_a_checkpoint(
    eval_steps: int, last_step: int, expected: list[int]
) -> None:
    assert validation_steps(eval_steps, last_step) == expected


def test_a_run_says_where_its_time_went_and_skips_validation_that_cannot_choose() -> None:
    pairs, chunks = _tiny_data()
    runs = {}
    for eval_steps in (None, 1):  # once per epoch (of 6 steps, longer than the run); each step
        training = {"max_steps": 3, "batch_size": 4, "max_minutes": None, "eval_steps": eval_steps}
        settings = Settings.model_validate({"training": training})
        runs[eval_steps] = finetune(settings, pairs, pairs.head(6), chunks)
    one, each = runs[None], runs[1]
    assert one.hyperparameters["validations"] == one.hyperparameters["checkpoints"] == 0
    assert one.validation_history == [] and one.best_step is None
    assert one.hyperparameters["checkpoint_selection"].startswith("last step (one checkpoint")
    assert each.hyperparameters["validations"] == each.hyperparameters["checkpoints"] == 3
    assert [step for step, _ in each.validation_history] == [1, 2, 3]
    for run in (one, each):
        seconds = run.hyperparameters["time_s"]
        assert set(seconds) == set(PHASES) and seconds["steps"] > 0 and seconds["loading"] > 0
        assert 0 < run.hyperparameters["time_in_steps"] < 1
    assert one.hyperparameters["time_s"]["validation"] == 0
    assert each.hyperparameters["time_s"]["validation"] > 0
