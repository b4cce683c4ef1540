"""Where a training run's minutes go: optimizer steps against everything around them.

``training.max_minutes`` buys optimizer steps; loading, batches, validation, checkpoints,
loading the best checkpoint back and choosing the averaging share are paid on top
(``training.run_clock``). This bench builds the training data of about ``--chunks``
chunks of the PostgreSQL manual with the real assets (``bench.perf_data``), then runs the
pipeline's ``finetune()`` once per arm, in one process one after the other, and prints
each arm's seconds per phase, its share of the run, the steps it bought and the seconds a
step took.

An arm is a name and ``training`` overrides, e.g. ``--arm 'every-10:eval_steps=10'``;
without ``--arm`` the defaults run alone. The pseudo-override ``rule=previous`` re-enacts
the validation rule before ``training.validation_schedule`` (validate every
``eval_steps`` steps and at the last step of a schedule the budget shortened), so that
before and after run side by side. ``--written N`` marks N validation queries as
written by people (generator ``human-question``), as on a team whose reviewers wrote questions:
the averaging share is then chosen on them, which costs one corpus encoding per share.

    python -m bench.budget_audit [--chunks 1200] [--max-minutes 2] [--written 0]
        [--arm NAME:key=value,...] ... [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from transformers import TrainerCallback

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from embedloop.config import Settings, parse_settings
from embedloop.training_set import HUMAN_QUESTION
from training.finetune import finetune
from training.run_clock import PHASES


def training_data(work: Path, chunks: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The candidate pairs (with their split) and the corpus of a fresh run."""
    from bench.perf_data import TRAINING_DATA, grow_corpus, materialize, read_frames, write_config
    from embedloop.warehouse import CANDIDATE_PAIRS, DOCUMENT_CHUNKS

    config = write_config(work)
    if not (work / "data").exists():
        grow_corpus(work, config, chunks)
        materialize(TRAINING_DATA, config)
    pairs, corpus = read_frames(config, CANDIDATE_PAIRS, DOCUMENT_CHUNKS)
    return pairs, corpus[["chunk_id", "text"]]


def parse_arm(text: str) -> tuple[str, dict[str, Any]]:
    """``name:key=value,...`` into the name and the ``training`` overrides (YAML values)."""
    name, _, rest = text.partition(":")
    overrides = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)
    return name, overrides


class PreviousRule(TrainerCallback):
    """Validation every ``eval_steps`` steps and at the last step, whatever it can choose."""

    def __init__(self, eval_steps: int) -> None:
        self.eval_steps = eval_steps

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        due = step % self.eval_steps == 0 or step >= state.max_steps
        control.should_evaluate = control.should_save = due


def run_arm(
    settings: Settings,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    corpus: pd.DataFrame,
    previous_rule: bool = False,
) -> dict[str, Any]:
    import training.finetune as module

    schedule = module.ValidationSchedule
    if previous_rule:
        module.ValidationSchedule = PreviousRule  # type: ignore[assignment,misc]
    started = time.perf_counter()
    try:
        result = finetune(settings, train, validation, corpus)
    finally:
        module.ValidationSchedule = schedule  # type: ignore[misc]
    wall = time.perf_counter() - started
    hp = result.hyperparameters
    return {"wall_s": wall, **hp}


def print_table(arms: dict[str, dict[str, Any]]) -> None:
    names = list(arms)
    print(f"\n| phase | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for phase in PHASES:
        cells = []
        for name in names:
            seconds = arms[name]["time_s"][phase]
            total = sum(arms[name]["time_s"].values())
            cells.append(f"{seconds:.1f} s ({seconds / total:.0%})")
        print(f"| {phase} | {' | '.join(cells)} |")
    rows = {
        "all (finetune wall)": lambda a: f"{a['wall_s']:.1f} s",
        "optimizer steps": lambda a: str(a["total_steps"]),
        "seconds per step": lambda a: f"{a['time_s']['steps'] / max(1, a['total_steps']):.2f}",
        "validations": lambda a: str(a.get("validations", "?")),
        "share served": lambda a: str(a.get("base_weight_served")),
        "share chosen on": lambda a: str(a.get("base_weight_chosen_on")),
    }
    for label, cell in rows.items():
        print(f"| {label} | {' | '.join(cell(arms[n]) for n in names)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=1200)
    parser.add_argument("--max-minutes", type=float, default=2.0)
    parser.add_argument("--written", type=int, default=0)
    parser.add_argument("--arm", action="append", default=[])
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="embedloop-budget-"))
    pairs, corpus = training_data(work, args.chunks)
    train = pairs[pairs["split"] == "train"].reset_index(drop=True)
    validation = pairs[pairs["split"] == "validation"].reset_index(drop=True)
    if args.written:  # the first N distinct queries, every pair of each
        chosen = validation["query"].str.strip().drop_duplicates().head(args.written)
        validation.loc[validation["query"].str.strip().isin(chosen), "generator"] = HUMAN_QUESTION
    print(
        f"{len(corpus)} chunks, {len(train)} train and {len(validation)} validation pairs "
        f"({args.written} marked written); {args.max_minutes} minutes of steps per arm"
    )
    arms = dict(parse_arm(a) for a in args.arm) or {"defaults": {}}
    results = {}
    for name, overrides in arms.items():
        previous = overrides.pop("rule", None) == "previous"
        training = {"max_minutes": args.max_minutes, **overrides}
        settings = parse_settings({"training": training})
        results[name] = run_arm(settings, train, validation, corpus, previous)
        print(f"{name}: {results[name]['wall_s']:.1f} s, {results[name]['total_steps']} steps")
    print_table(results)


if __name__ == "__main__":
    main()
