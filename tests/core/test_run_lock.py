"""The data directory's run lock: one run at a time, released however the holder ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from embedloop.run_lock import RunLocked, holder, run_lock


def _hold_in_child(data_dir: Path) -> subprocess.Popen[str]:
    """A second process that takes the lock and sleeps: another run, as the kernel sees it."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from embedloop.run_lock import run_lock
        with run_lock(Path({str(data_dir)!r}), owner="dagster run child"):
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def test_a_second_run_is_refused_naming_the_first(tmp_path: Path) -> None:
    child = _hold_in_child(tmp_path)
    try:
        assert holder(tmp_path)["owner"] == "dagster run child"  # type: ignore[index]
        with (
            pytest.raises(RunLocked, match=rf"dagster run child \(pid {child.pid}"),
            run_lock(tmp_path, owner="cli"),
        ):
            pass
    finally:
        child.kill()
        child.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    child = _hold_in_child(tmp_path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert holder(tmp_path) is None
    with run_lock(tmp_path, owner="next run") as info:
        assert info["pid"] == os.getpid()
        assert holder(tmp_path) == info
    assert holder(tmp_path) is None


def test_waiting_queues_behind_the_holder(tmp_path: Path) -> None:
    child = _hold_in_child(tmp_path)
    started = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 2; kill {child.pid}"])
    with run_lock(tmp_path, owner="patient run", wait=True, poll_s=0.2):
        waited = time.monotonic() - started
    child.wait()
    assert waited >= 1.5


def _cli_run(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestration.cli", "--config", str(config), "run", *args],
        cwd=Path(__file__).resolve().parents[2],
        env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_real_runs_on_one_config(tmp_path: Path, argilla_stack) -> None:  # type: ignore[no-untyped-def]
    from embedloop.config import load_settings
    from tests.helpers.assets import TINY_TRAINING, make_config

    config = make_config(
        tmp_path, training=TINY_TRAINING, argilla={"api_url": argilla_stack.api_url}
    )
    data_dir = load_settings(config).data_dir
    first = _cli_run(config)
    deadline = time.monotonic() + 120
    while holder(data_dir) is None and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert holder(data_dir) is not None, "the first run never took the lock"

    # A second run fails at once, naming the first; a third with --wait queues behind it.
    waiting = _cli_run(config, "--wait")
    refused = _cli_run(config)
    _, err = refused.communicate(timeout=120)
    assert refused.returncode == 1
    assert f"another embedloop run is using {data_dir}" in err
    assert f"(pid {first.pid}," in err
    assert first.poll() is None, "the refused run must not have waited for the first"

    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_out + first_err
    queued_out, queued_err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, queued_out + queued_err
    # Both ran every step, one after the other: the lock was held across the whole run.
    assert first_out.count(" done ") == queued_out.count(" done ") > 10


def test_the_lock_is_shared_within_one_process(tmp_path: Path) -> None:
    # A run's settings and training resources both take it: the second joins the first.
    with run_lock(tmp_path, owner="run") as outer, run_lock(tmp_path, owner="same run") as inner:
        assert inner is outer
        assert holder(tmp_path) == outer
    assert holder(tmp_path) is None
