"""Start, stop and inspect the local Argilla stack: Redis, the API server (with its web UI)
and the job worker, all as child processes of no service manager.

Standard library only, so any Python can drive it; the Argilla processes themselves run
in their own virtualenv (``services/argilla/.venv``, created by ``make argilla-setup``),
because argilla-server's pins clash with the project's. Everything the stack writes (the
SQLite database, Redis' socket dir, pid files and logs) lives under one data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv"
# A local-only development key; the stack binds to 127.0.0.1 unless told otherwise. Set
# ARGILLA_API_KEY before the first start to choose another.
DEFAULT_API_KEY = "embedloop.local.owner.key"
DEFAULT_PASSWORD = "embedloop-local"  # the owner's UI password (user "argilla")
PROCESSES = ("redis", "server", "worker")


class StackError(RuntimeError):
    """The stack could not start or is not set up; the message says why."""


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 6900
    redis_port: int = 6901
    venv: Path = DEFAULT_VENV
    api_key: str = DEFAULT_API_KEY
    password: str = DEFAULT_PASSWORD
    # None = SQLite at <data_dir>/argilla.db; or e.g. postgresql+asyncpg://user@host/db
    database_url: str | None = None
    start_timeout_s: float = 120.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def pid_file(self, process: str) -> Path:
        return self.data_dir / "run" / f"{process}.pid"

    def log_file(self, process: str) -> Path:
        return self.log_dir / f"{process}.log"

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "ARGILLA_HOME_PATH": str(self.data_dir),
            "ARGILLA_REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "ARGILLA_SEARCH_ENGINE": "sql",
            "ARGILLA_ENABLE_TELEMETRY": "0",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(HERE),
            **self.extra_env,
        }
        if self.database_url:
            env["ARGILLA_DATABASE_URL"] = self.database_url
        else:
            env.pop("ARGILLA_DATABASE_URL", None)
        return env


def config_from_env(data_dir: Path | str | None = None, **overrides: object) -> StackConfig:
    """Settings from EMBEDLOOP_ARGILLA_* variables (and ARGILLA_API_KEY), then overrides."""
    env = os.environ
    values: dict[str, object] = {
        "data_dir": Path(data_dir or env.get("EMBEDLOOP_ARGILLA_DATA", "data/argilla")).resolve(),
        "host": env.get("EMBEDLOOP_ARGILLA_HOST", "127.0.0.1"),
        "port": int(env.get("EMBEDLOOP_ARGILLA_PORT", "6900")),
        "redis_port": int(env.get("EMBEDLOOP_ARGILLA_REDIS_PORT", "6901")),
        "venv": Path(env.get("EMBEDLOOP_ARGILLA_VENV", str(DEFAULT_VENV))),
        "api_key": env.get("ARGILLA_API_KEY") or DEFAULT_API_KEY,
        "database_url": env.get("EMBEDLOOP_ARGILLA_DATABASE_URL") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return StackConfig(**values)  # type: ignore[arg-type]


# --- processes --------------------------------------------------------------------------


def _read_pid(cfg: StackConfig, process: str) -> int | None:
    try:
        pid = int(cfg.pid_file(process).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _spawn(cfg: StackConfig, process: str, argv: list[str]) -> int:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    cfg.pid_file(process).parent.mkdir(parents=True, exist_ok=True)
    with open(cfg.log_file(process), "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start {process}\n".encode())
        log.flush()
        child = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=cfg.environment(),
            cwd=cfg.data_dir,
            start_new_session=True,  # outlives the command that started it
        )
    cfg.pid_file(process).write_text(str(child.pid))
    return child.pid


def _run(cfg: StackConfig, what: str, argv: list[str]) -> None:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.log_file("setup"), "ab") as log:
        done = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=cfg.environment(), cwd=cfg.data_dir
        )
    if done.returncode != 0:
        raise StackError(f"{what} failed:\n{_tail(cfg.log_file('setup'))}")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def api_answers(cfg: StackConfig, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(
        f"{cfg.api_url}/api/v1/me", headers={"X-Argilla-Api-Key": cfg.api_key}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _redis_answers(cfg: StackConfig) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", cfg.redis_port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_in_use(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host if host != "0.0.0.0" else "127.0.0.1", port)) == 0


def _wait(check, timeout: float, alive) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(0.5)
    return False


# --- commands ---------------------------------------------------------------------------


def start(cfg: StackConfig) -> dict[str, object]:
    """Start whatever is not running; return once the API answers (or raise with logs)."""
    if not cfg.python.exists():
        raise StackError(
            f"the Argilla virtualenv is missing at {cfg.venv}: run `make argilla-setup`"
        )
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    for process, port in (("redis", cfg.redis_port), ("server", cfg.port)):
        if _read_pid(cfg, process) is None and _port_in_use(cfg.host, port):
            stop(cfg)
            raise StackError(
                f"port {port} ({process}) is in use by another process: stop it or choose "
                "another port (--port / --redis-port)"
            )
    try:
        _start_processes(cfg)
    except StackError:
        stop(cfg)  # nothing half-started stays behind
        raise
    return status(cfg)


def _start_processes(cfg: StackConfig) -> None:
    if _read_pid(cfg, "redis") is None:
        (cfg.data_dir / "redis").mkdir(exist_ok=True)
        redis_server = cfg.venv / "bin" / "redis-server"
        _spawn(
            cfg,
            "redis",
            [str(redis_server), "--bind", "127.0.0.1", "--port", str(cfg.redis_port),
             "--dir", str(cfg.data_dir / "redis"), "--save", "", "--appendonly", "no"],
        )  # fmt: skip
        if not _wait(lambda: _redis_answers(cfg), 20, lambda: _read_pid(cfg, "redis")):
            _fail(cfg, "redis", f"Redis did not start on port {cfg.redis_port}")
    if _read_pid(cfg, "server") is None:
        python = str(cfg.python)
        _run(cfg, "database migration", [python, "-m", "argilla_server", "database", "migrate"])
        _run(
            cfg,
            "default user creation",
            [python, "-m", "argilla_server", "database", "users", "create_default",
             "--api-key", cfg.api_key, "--password", cfg.password, "--quiet"],
        )  # fmt: skip
        server = ["-m", "sqlsearch.launch", "server", "--host", cfg.host, "--port", str(cfg.port)]
        _spawn(cfg, "server", [python, *server])
    if _read_pid(cfg, "worker") is None:
        _spawn(cfg, "worker", [str(cfg.python), "-m", "sqlsearch.launch", "worker"])
    if not _wait(lambda: api_answers(cfg), cfg.start_timeout_s, lambda: _read_pid(cfg, "server")):
        _fail(cfg, "server", f"the Argilla API did not answer at {cfg.api_url}")


def _fail(cfg: StackConfig, process: str, message: str) -> None:
    tail = _tail(cfg.log_file(process))
    stop(cfg)
    raise StackError(f"{message}; last lines of {cfg.log_file(process)}:\n{tail}")


def stop(cfg: StackConfig, timeout: float = 15.0) -> list[str]:
    """Stop every process of the stack; returns the names that were running."""
    stopped = []
    for process in reversed(PROCESSES):
        pid = _read_pid(cfg, process)
        if pid is None:
            cfg.pid_file(process).unlink(missing_ok=True)
            continue
        _signal_group(pid, signal.SIGTERM)
        if not _wait(lambda p=pid: not _alive(p), timeout, lambda: True):
            _signal_group(pid, signal.SIGKILL)
        cfg.pid_file(process).unlink(missing_ok=True)
        stopped.append(process)
    return stopped


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the worker pool's children too
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def status(cfg: StackConfig) -> dict[str, object]:
    return {
        "api_url": cfg.api_url,
        "api_answers": api_answers(cfg),
        "data_dir": str(cfg.data_dir),
        "logs": str(cfg.log_dir),
        **{process: _read_pid(cfg, process) for process in PROCESSES},
    }


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m services.argilla", description="The local Argilla stack."
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--data-dir", help="default: $EMBEDLOOP_ARGILLA_DATA or data/argilla")
    parser.add_argument("--host", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, help="API and UI port (default 6900)")
    parser.add_argument("--redis-port", type=int, help="default 6901")
    args = parser.parse_args(argv)
    cfg = config_from_env(args.data_dir, host=args.host, port=args.port, redis_port=args.redis_port)
    try:
        if args.command == "start":
            info = start(cfg)
            print(
                f"Argilla is up at {cfg.api_url} (user 'argilla', password {cfg.password!r}, "
                f"API key: $ARGILLA_API_KEY or {DEFAULT_API_KEY!r}); logs in {cfg.log_dir}"
            )
        elif args.command == "stop":
            print("stopped: " + (", ".join(stop(cfg)) or "nothing was running"))
            return 0
        else:
            info = status(cfg)
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2))
    return 0 if info["api_answers"] else 3
