"""Start, stop and inspect the local LLM server: llama.cpp behind an OpenAI-compatible API.

The ``llm`` generator speaks to any OpenAI-compatible server (vLLM, Ollama, a hosted API);
this is the one that runs here, on a CPU, with the packaged GGUF model: llama.cpp's
quantized kernels write questions several times faster than transformers on the same
file (``bench/llm_throughput.py``). It listens on loopback only, is health-checked before
``start`` returns, and keeps its log and pid file in one data directory.

Standard library only, like the Argilla stack: the server runs in its own virtualenv
(``services/llm/.venv``, created by ``make llm-setup``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from services.processes import read_pid, spawn, tail, terminate, wait_for

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv"
MARKER = "llama_cpp.server"  # what the server's command line holds


class ServerError(RuntimeError):
    """The server could not start or is not set up; the message says why."""


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    model_path: Path | None = None
    model_alias: str = "local"
    host: str = "127.0.0.1"
    port: int = 8011
    threads: int = os.cpu_count() or 1
    context: int = 4096
    venv: Path = DEFAULT_VENV
    start_timeout_s: float = 120.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "server.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"


def running_pid(config: ServerConfig) -> int | None:
    return read_pid(config.pid_file, MARKER)


def healthy(config: ServerConfig, timeout: float = 2.0) -> bool:
    """The server answers its model list."""
    try:
        with urllib.request.urlopen(f"{config.base_url}/models", timeout=timeout) as resp:
            return bool(resp.status == 200 and json.load(resp).get("data"))
    except (OSError, ValueError):
        return False


def start(config: ServerConfig) -> str:
    """Start the server unless it runs; return once it answers, or raise with its log."""
    pid = running_pid(config)
    if pid is not None:
        return f"already running (pid {pid}) on {config.base_url}"
    python = config.venv / "bin" / "python"
    if not python.exists():
        raise ServerError(f"no LLM server virtualenv at {config.venv}: run `make llm-setup`")
    if config.model_path is None or not config.model_path.is_file():
        raise ServerError(f"no model file at {config.model_path}: run `make llm-setup`")
    argv = [str(python), "-m", MARKER, "--model", str(config.model_path)]
    argv += ["--model_alias", config.model_alias, "--host", config.host]
    argv += ["--port", str(config.port), "--n_ctx", str(config.context)]
    argv += ["--n_threads", str(config.threads)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HF_TOKEN"))}
    pid = spawn("llm-server", argv, config.log_file, config.pid_file, env, config.data_dir)
    up = wait_for(
        lambda: healthy(config),
        config.start_timeout_s,
        lambda: running_pid(config) is not None,
    )
    if not up:
        terminate(pid, timeout=10)
        config.pid_file.unlink(missing_ok=True)
        raise ServerError(
            f"the LLM server did not answer on {config.base_url} within"
            f" {config.start_timeout_s:.0f} s; its log ({config.log_file}) ends with:\n"
            + tail(config.log_file)
        )
    return f"running (pid {pid}) on {config.base_url}, model {config.model_alias!r}"


def stop(config: ServerConfig) -> str:
    pid = running_pid(config)
    if pid is not None:
        terminate(pid, timeout=15)
    config.pid_file.unlink(missing_ok=True)  # also a stale one
    return "not running" if pid is None else f"stopped (pid {pid})"


def status(config: ServerConfig) -> str:
    pid = running_pid(config)
    if pid is None:
        return "not running"
    state = "healthy" if healthy(config) else "NOT answering"
    return f"running (pid {pid}) on {config.base_url}: {state}; log {config.log_file}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.llm", description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="log and pid file")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the server's venv")
    parser.add_argument("--port", type=int, default=8011, help="loopback port")
    parser.add_argument("--model", type=Path, help="the GGUF file to serve (start)")
    parser.add_argument("--alias", default="local", help="the model name clients send")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads")
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    config = ServerConfig(
        data_dir=args.data_dir.resolve(),
        model_path=args.model.resolve() if args.model else None,
        model_alias=args.alias,
        port=args.port,
        threads=args.threads,
        venv=args.venv.resolve(),
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        action = {"start": start, "stop": stop, "status": status}[args.command]
        print(f"llm server: {action(config)}")
    except ServerError as err:
        print(f"llm server: {err}", file=sys.stderr)
        return 1
    return 0
