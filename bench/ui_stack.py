"""The services bench/ui_screenshots.py photographs: the demo data, Argilla and `dagster dev`.

Kept apart from the browser code so that a test can start the same stack on a minimal set.
Everything lives under one data directory laid out like `make demo`'s: the warehouse and
caches in it, the Dagster instance in ``dagster_home/``, the local Argilla in ``argilla/``.
What is started here is stopped here, whatever happens; an Argilla that already runs on the
data directory is used and left running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.argilla import stack as argilla_stack

ROOT = Path(__file__).resolve().parents[1]

VENV_BIN = Path(sys.executable).parent
CONFIG_NAME = "embedloop-ui.yaml"
# Small enough for two CPU cores in a few minutes, big enough for a real loss curve and
# a test split with something to rank.
SMALL_CONFIG: dict[str, Any] = {
    "data_dir": ".",
    "sources": [{"kind": "python_stdlib", "name": "python-stdlib", "modules": ["json", "csv"]}],
    "training": {"max_steps": 12, "batch_size": 16, "max_seq_length": 128},
    # A first sensor tick within seconds of the daemon's start.
    "argilla": {"poll_interval_s": 10},
}


class UIStackError(RuntimeError):
    """A service did not start or a page did not render; the message says which and why."""


@dataclass(frozen=True)
class Layout:
    """Where a run's data lives, as `make demo` lays it out."""

    data_dir: Path
    config: Path

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def argilla_data(self) -> Path:
        return self.data_dir / "argilla"

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse.duckdb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _declared_data_dir(config: Path) -> Path:
    declared = (yaml.safe_load(config.read_text()) or {}).get("data_dir", "data")
    return (config.parent / declared).resolve()


def _default_config(data_dir: Path) -> Path:
    """The config of the run in ``data_dir``: ours, or the project's (`make demo`'s); a new
    small one only where no run has been yet, never beside someone else's warehouse."""
    ours, project = data_dir / CONFIG_NAME, ROOT / "embedloop.yaml"
    if ours.exists():
        return ours
    if project.exists() and _declared_data_dir(project) == data_dir:
        return project
    if (data_dir / "warehouse.duckdb").exists():
        raise UIStackError(f"{data_dir} holds a run: pass its config with --config")
    data_dir.mkdir(parents=True, exist_ok=True)
    ours.write_text(yaml.safe_dump(SMALL_CONFIG, sort_keys=False))
    return ours


def layout_for(data_dir: Path, config: Path | None) -> Layout:
    """The layout of ``data_dir`` and the config of its run (see ``_default_config``)."""
    data_dir = data_dir.resolve()
    config = (config or _default_config(data_dir)).resolve()
    if not config.is_file():
        raise UIStackError(f"config file {config} does not exist")
    if _declared_data_dir(config) != data_dir:
        raise UIStackError(
            f"{config} keeps its data in {_declared_data_dir(config)}, not in {data_dir}: "
            "pass the config of that run with --config"
        )
    return Layout(data_dir, config)


def prepare_dagster_home(layout: Layout) -> None:
    """The instance `make dev` uses: SQLite in the home, one run at a time."""
    layout.dagster_home.mkdir(parents=True, exist_ok=True)
    target = layout.dagster_home / "dagster.yaml"
    if not target.exists():
        shutil.copy(ROOT / "orchestration" / "dagster_local.yaml", target)


def service_env(layout: Layout, argilla_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DAGSTER_HOME": str(layout.dagster_home),
        "EMBEDLOOP_CONFIG": str(layout.config),
        "ARGILLA_API_URL": argilla_url,
        "EMBEDLOOP_ARGILLA_DATA": str(layout.argilla_data),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("ARGILLA_API_KEY", None)  # the local stack's own key, from its credentials file
    return env


@contextmanager
def argilla_running(layout: Layout, port: int | None) -> Iterator[argilla_stack.StackConfig]:
    """The local Argilla of this data directory: reused when it already runs (on ``port``,
    else $EMBEDLOOP_ARGILLA_PORT or 6900), else started on free ports and stopped after."""
    cfg = argilla_stack.config_from_env(layout.argilla_data, port=port)
    running = argilla_stack.status(cfg)
    if running["server"] is not None:
        if not running["api_answers"]:
            raise UIStackError(
                f"the Argilla of {layout.argilla_data} runs (pid {running['server']}) but "
                f"does not answer on port {cfg.port}: pass its port with --argilla-port, or "
                f"stop it (python -m services.argilla stop --data-dir {layout.argilla_data})"
            )
        yield cfg
        return
    cfg = argilla_stack.config_from_env(
        layout.argilla_data, port=port or free_port(), redis_port=free_port()
    )
    print(f"starting Argilla on {cfg.api_url} (data in {cfg.data_dir})", flush=True)
    try:
        argilla_stack.start(cfg)
    except argilla_stack.StackError as err:
        raise UIStackError(f"Argilla did not start: {err}") from None
    try:
        yield cfg
    finally:
        argilla_stack.stop(cfg)


def evaluated(layout: Layout) -> bool:
    """Whether a run recorded in the layout's Dagster home got as far as the evaluation."""
    import dagster as dg

    if not (layout.warehouse.exists() and (layout.dagster_home / "dagster.yaml").exists()):
        return False
    with dg.DagsterInstance.from_config(str(layout.dagster_home)) as instance:
        key = dg.AssetKey("embedding_evaluation")
        return instance.get_latest_materialization_event(key) is not None


def ensure_pipeline_ran(layout: Layout, argilla_url: str) -> None:
    """Run `embedloop run` into the data directory unless a recorded run evaluated a model."""
    if evaluated(layout):
        print(f"using the run recorded in {layout.dagster_home}", flush=True)
        return
    print(f"no evaluated run in {layout.data_dir}: running `embedloop run` (minutes)", flush=True)
    prepare_dagster_home(layout)
    log = layout.data_dir / "embedloop-run.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(VENV_BIN / "embedloop"), "--config", str(layout.config), "run"],
            env=service_env(layout, argilla_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise UIStackError(f"`embedloop run` failed (log: {log}):\n{tail}")


def _get(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def dagster_dev(
    layout: Layout, argilla_url: str, port: int, timeout_s: float = 240
) -> Iterator[str]:
    """`dagster dev` (webserver, daemon, code server) on the layout; yields its base URL."""
    prepare_dagster_home(layout)
    base = f"http://127.0.0.1:{port}"
    log = layout.data_dir / "dagster-dev.log"
    argv = [str(VENV_BIN / "dagster"), "dev", "-m", "orchestration.definitions"]
    argv += ["-h", "127.0.0.1", "-p", str(port)]
    print(f"starting dagster dev on {base} (DAGSTER_HOME={layout.dagster_home})", flush=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv,
            env=service_env(layout, argilla_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,  # its own process group: stopped as a whole below
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not _get(f"{base}/server_info"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text().splitlines()[-15:])
                raise UIStackError(f"dagster dev did not answer at {base} (log: {log}):\n{tail}")
            time.sleep(1)
        yield base
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (dagster dev shuts its webserver, daemon and code server down), then SIGKILL."""
    for sig, grace in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{base}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        data = json.loads(response.read())
    if data.get("errors"):
        raise UIStackError(f"Dagster GraphQL error: {data['errors']}")
    return dict(data["data"])


def code_location(base: str, timeout_s: float = 180) -> str:
    """The name of the one code location, once it has loaded without error."""
    query = """{ workspaceOrError { ... on Workspace { locationEntries { name
        loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
    deadline = time.monotonic() + timeout_s
    while True:
        entries = graphql(base, query)["workspaceOrError"].get("locationEntries", [])
        loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
        if loaded:
            error = loaded[0]["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                raise UIStackError(f"the code location failed to load: {error['message']}")
            return str(loaded[0]["name"])
        if time.monotonic() > deadline:
            raise UIStackError(f"no code location loaded within {timeout_s:.0f} s: {entries}")
        time.sleep(1)


def wait_for_sensor_tick(base: str, location: str, sensor: str, timeout_s: float = 180) -> int:
    """Wait until the daemon has evaluated the sensor at least once; return its tick count."""
    query = """query($sel: SensorSelector!) { sensorOrError(sensorSelector: $sel) {
        __typename ... on Sensor { sensorState { ticks(limit: 20) { id status } } } } }"""
    selector = {
        "repositoryLocationName": location,
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }
    deadline = time.monotonic() + timeout_s
    while True:
        found = graphql(base, query, {"sel": selector})["sensorOrError"]
        if found["__typename"] != "Sensor":
            raise UIStackError(f"sensor {sensor} not found in {location}: {found}")
        ticks = found["sensorState"]["ticks"]
        if ticks:
            return len(ticks)
        if time.monotonic() > deadline:
            raise UIStackError(f"the daemon did not evaluate {sensor} within {timeout_s:.0f} s")
        time.sleep(2)


def argilla_dataset_id(cfg: argilla_stack.StackConfig, name: str) -> str:
    """The id of the review dataset, through the REST API with the owner's key."""
    request = urllib.request.Request(
        f"{cfg.api_url}/api/v1/me/datasets", headers={"X-Argilla-Api-Key": cfg.api_key}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        items = json.loads(response.read())["items"]
    for item in items:
        if item["name"] == name:
            return str(item["id"])
    names = [item["name"] for item in items]
    raise UIStackError(f"no Argilla dataset {name!r} (there are {names}): was it published?")
