"""A run killed mid-training must not block the next one: not in Dagster's run slot, not
in ZenML's store, not through the data directory's run lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from embedloop.config import load_settings
from embedloop.run_lock import holder
from orchestration.resources import build_resources
from orchestration.sensors import build_feedback_sensor
from services.argilla.stack import StackConfig
from tests.helpers.assets import make_config

ROOT = Path(__file__).resolve().parents[2]


def _cli(config: Path, home: Path, stack: StackConfig, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ARGILLA_API_KEY": stack.api_key,
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "--config", str(config), "run", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its distilabel and torch workers die with it
    )


def _wait_for_training(instance: dg.DagsterInstance, child: subprocess.Popen[str]) -> str:
    """The run id, once its training step has logged progress."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and child.poll() is None:
        for record in instance.get_run_records():
            logs = instance.all_logs(record.dagster_run.run_id)
            if any(entry.user_message.startswith("training: 0/") for entry in logs):
                time.sleep(5)  # into the training loop
                return record.dagster_run.run_id
        time.sleep(1)
    raise AssertionError(
        "the run never reached training: " + (child.stderr.read() if child.stderr else "")
    )


@pytest.mark.slow
def test_a_run_killed_mid_training_does_not_block_the_next(
    tmp_path: Path, argilla_stack: StackConfig
) -> None:
    config = make_config(
        tmp_path,
        argilla={"api_url": argilla_stack.api_url, "min_new_responses": 1},
        training={"max_steps": 100_000, "batch_size": 8, "max_seq_length": 48,
                  "eval_steps": 50_000, "matryoshka_dims": [384]},
    )  # fmt: skip
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "dagster_local.yaml", home / "dagster.yaml")
    settings = load_settings(config)

    child = _cli(config, home, argilla_stack)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        try:
            run_id = _wait_for_training(instance, child)
        finally:
            os.killpg(child.pid, signal.SIGKILL)  # mid-training, or on any failure above
            child.wait()
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # type: ignore[union-attr]
        assert holder(settings.data_dir) is None  # the kernel released the lock

        # The next sensor tick fails the dead run, freeing the one run slot.
        sensor = build_feedback_sensor(settings)
        resources = {
            k: v for k, v in build_resources(config).items() if k in ("argilla", "vector_index")
        }
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            sensor(context)
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
        in_progress = instance.get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )
        assert in_progress == []

    # The next run starts, fails the abandoned ZenML run and goes to the end.
    data = yaml.safe_load(config.read_text())
    data["training"]["max_steps"] = 2
    config.write_text(yaml.safe_dump(data))
    again = _cli(config, home, argilla_stack)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out + err
    from zenml.client import Client

    from training.zenml_env import configure_zenml

    configure_zenml(settings)
    statuses = [r.status.value for r in Client().list_pipeline_runs(size=50).items]
    assert "running" not in statuses and "failed" in statuses
