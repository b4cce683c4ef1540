"""Start, stop and inspect the local Argilla stack: Redis, the API server (with its web UI)
and the job worker, all as child processes of no service manager.

Standard library only, so any Python can drive it; the Argilla processes themselves run
in their own virtualenv (``services/argilla/.venv``, created by ``make argilla-setup``),
because argilla-server's pins clash with the project's. Everything the stack writes (the
SQLite database, Redis' socket dir, pid files, logs and the owner's credentials) lives
under one data directory.

The owner (user ``argilla``) gets the key in ARGILLA_API_KEY and the password in
ARGILLA_PASSWORD when they are set at its first start, else random ones; either way they
are kept in ``<data-dir>/credentials.json`` (mode 0600) and reused by every later start.
No secret is ever put on a child process' command line or in its environment.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from services.processes import read_pid, spawn, tail, terminate, wait_for

from . import credentials

HERE = Path(__file__).resolve().parent
DEFAULT_VENV = HERE / ".venv"
PROCESSES = ("redis", "server", "worker")
# What each process' command line holds: a pid file naming anything else is stale.
MARKERS = {"redis": "redis-server", "server": "sqlsearch.launch", "worker": "sqlsearch.launch"}


class StackError(RuntimeError):
    """The stack could not start or is not set up; the message says why."""


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 6900
    redis_port: int = 6901
    venv: Path = DEFAULT_VENV
    # The owner's key and UI password when chosen (ARGILLA_API_KEY, ARGILLA_PASSWORD); None:
    # random ones, made on the first start and kept in <data_dir>/credentials.json.
    chosen_api_key: str | None = None
    chosen_password: str | None = None
    # None = SQLite at <data_dir>/argilla.db; or e.g. postgresql+asyncpg://user@host/db
    database_url: str | None = None
    start_timeout_s: float = 120.0
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def credentials_file(self) -> Path:
        return credentials.credentials_file(self.data_dir)

    def stored_credentials(self) -> credentials.Credentials | None:
        """The owner's stored credentials; None before the first start."""
        try:
            return credentials.load(self.data_dir)
        except credentials.CredentialsError as err:
            raise StackError(str(err)) from None

    @property
    def api_key(self) -> str:
        """The owner's API key: the stored one once the stack has started, else the chosen."""
        stored = self.stored_credentials()
        if stored is not None:
            return stored.api_key
        if self.chosen_api_key:
            return self.chosen_api_key
        raise StackError(f"no owner credentials in {self.credentials_file}: start the stack")

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
        for secret in (credentials.API_KEY_ENV, credentials.PASSWORD_ENV):
            env.pop(secret, None)  # the owner script reads the credentials file instead
        if self.database_url:
            env["ARGILLA_DATABASE_URL"] = self.database_url
        else:
            env.pop("ARGILLA_DATABASE_URL", None)
        return env


def config_from_env(data_dir: Path | str | None = None, **overrides: object) -> StackConfig:
    """Settings from EMBEDLOOP_ARGILLA_* variables (and ARGILLA_API_KEY, ARGILLA_PASSWORD),
    then overrides."""
    env = os.environ
    values: dict[str, object] = {
        "data_dir": Path(data_dir or env.get("EMBEDLOOP_ARGILLA_DATA", "data/argilla")).resolve(),
        "host": env.get("EMBEDLOOP_ARGILLA_HOST", "127.0.0.1"),
        "port": int(env.get("EMBEDLOOP_ARGILLA_PORT", "6900")),
        "redis_port": int(env.get("EMBEDLOOP_ARGILLA_REDIS_PORT", "6901")),
        "venv": Path(env.get("EMBEDLOOP_ARGILLA_VENV", str(DEFAULT_VENV))),
        "chosen_api_key": env.get(credentials.API_KEY_ENV) or None,
        "chosen_password": env.get(credentials.PASSWORD_ENV) or None,
        "database_url": env.get("EMBEDLOOP_ARGILLA_DATABASE_URL") or None,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return StackConfig(**values)  # type: ignore[arg-type]


# --- processes --------------------------------------------------------------------------


def _read_pid(cfg: StackConfig, process: str) -> int | None:
    return read_pid(cfg.pid_file(process), MARKERS[process])


def _spawn(cfg: StackConfig, process: str, argv: list[str]) -> int:
    log, pid_file = cfg.log_file(process), cfg.pid_file(process)
    return spawn(process, argv, log, pid_file, cfg.environment(), cfg.data_dir)


def _run(cfg: StackConfig, what: str, argv: list[str]) -> None:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.log_file("setup"), "ab") as log:
        done = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, env=cfg.environment(), cwd=cfg.data_dir
        )
    if done.returncode != 0:
        raise StackError(f"{what} failed:\n{tail(cfg.log_file('setup'))}")


def api_answers(cfg: StackConfig, timeout: float = 2.0) -> bool:
    try:
        key = cfg.api_key
    except StackError:
        return False
    request = urllib.request.Request(f"{cfg.api_url}/api/v1/me", headers={"X-Argilla-Api-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _redis_answers(cfg: StackConfig) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", cfg.redis_port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port)) == 0


# --- commands ---------------------------------------------------------------------------


def start(cfg: StackConfig) -> dict[str, object]:
    """Start whatever is not running; return once the API answers (or raise with logs).
    The result's ``new_credentials`` says whether this start made the owner's credentials."""
    if not cfg.python.exists():
        raise StackError(
            f"the Argilla virtualenv is missing at {cfg.venv}: run `make argilla-setup`"
        )
    try:
        credentials.refuse_public_bind(cfg.host, cfg.chosen_api_key)
    except credentials.CredentialsError as err:
        raise StackError(str(err)) from None
    cfg.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for process, port in (("redis", cfg.redis_port), ("server", cfg.port)):
        if _read_pid(cfg, process) is None and _port_in_use(cfg.host, port):
            stop(cfg)
            raise StackError(
                f"port {port} ({process}) is in use by another process: stop it or choose "
                "another port (--port / --redis-port)"
            )
    try:
        _, created = credentials.ensure(cfg.data_dir, cfg.chosen_api_key, cfg.chosen_password)
    except credentials.CredentialsError as err:
        raise StackError(str(err)) from None
    try:
        _start_processes(cfg, sync_owner=created)
    except StackError:
        stop(cfg)  # nothing half-started stays behind
        raise
    return {**status(cfg), "new_credentials": created}


def _start_processes(cfg: StackConfig, sync_owner: bool) -> None:
    python = str(cfg.python)
    if _read_pid(cfg, "redis") is None:
        (cfg.data_dir / "redis").mkdir(exist_ok=True)
        redis_server = cfg.venv / "bin" / "redis-server"
        _spawn(
            cfg,
            "redis",
            [str(redis_server), "--bind", "127.0.0.1", "--port", str(cfg.redis_port),
             "--dir", str(cfg.data_dir / "redis"), "--save", "", "--appendonly", "no"],
        )  # fmt: skip
        if not wait_for(lambda: _redis_answers(cfg), 20, lambda: _read_pid(cfg, "redis")):
            _fail(cfg, "redis", f"Redis did not start on port {cfg.redis_port}")
    server_running = _read_pid(cfg, "server") is not None
    if not server_running:
        _run(cfg, "database migration", [python, "-m", "argilla_server", "database", "migrate"])
    if not server_running or sync_owner:
        # The script reads the secrets from the file: none goes on its command line.
        _run(cfg, "owner creation", [python, "-m", "sqlsearch.owner", str(cfg.credentials_file)])
    if not server_running:
        server = ["-m", "sqlsearch.launch", "server", "--host", cfg.host, "--port", str(cfg.port)]
        _spawn(cfg, "server", [python, *server])
    if _read_pid(cfg, "worker") is None:
        _spawn(cfg, "worker", [python, "-m", "sqlsearch.launch", "worker"])
    server_alive = lambda: _read_pid(cfg, "server")  # noqa: E731
    if not wait_for(lambda: api_answers(cfg), cfg.start_timeout_s, server_alive):
        _fail(cfg, "server", f"the Argilla API did not answer at {cfg.api_url}")


def _fail(cfg: StackConfig, process: str, message: str) -> None:
    log = tail(cfg.log_file(process))
    stop(cfg)
    raise StackError(f"{message}; last lines of {cfg.log_file(process)}:\n{log}")


def stop(cfg: StackConfig, timeout: float = 15.0) -> list[str]:
    """Stop every process of the stack; returns the names that were running. A pid file
    that names no process of the stack (say, after a reboot) is removed, nothing signalled."""
    stopped = []
    for process in reversed(PROCESSES):
        pid = _read_pid(cfg, process)
        if pid is not None:
            terminate(pid, timeout)
            stopped.append(process)
        cfg.pid_file(process).unlink(missing_ok=True)
    return stopped


def status(cfg: StackConfig) -> dict[str, object]:
    running: dict[str, object] = {}
    for process in PROCESSES:
        running[process] = pid = _read_pid(cfg, process)
        if pid is None:
            cfg.pid_file(process).unlink(missing_ok=True)  # stale, if there was one
    return {
        "api_url": cfg.api_url,
        "api_answers": api_answers(cfg),
        "data_dir": str(cfg.data_dir),
        "logs": str(cfg.log_dir),
        "credentials": str(cfg.credentials_file),
        **running,
    }


def _announce(cfg: StackConfig, new_credentials: bool) -> None:
    print(f"Argilla is up at {cfg.api_url}; logs in {cfg.log_dir}")
    stored = cfg.stored_credentials()
    if new_credentials and stored is not None:
        chosen = "" if stored.generated else f" (the key is ${credentials.API_KEY_ENV}'s)"
        print(
            f"New owner credentials{chosen}, shown this once and kept in "
            f"{cfg.credentials_file} (mode 0600):\n"
            f"  user:     {stored.username}\n"
            f"  password: {stored.password}\n"
            f"  API key:  {stored.api_key}"
        )
    else:
        print(f"Owner credentials (user 'argilla'): {cfg.credentials_file}")


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m services.argilla", description="The local Argilla stack."
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--data-dir", help="default: $EMBEDLOOP_ARGILLA_DATA or data/argilla")
    parser.add_argument("--host", help="default: 127.0.0.1 (others need ARGILLA_API_KEY)")
    parser.add_argument("--port", type=int, help="API and UI port (default 6900)")
    parser.add_argument("--redis-port", type=int, help="default 6901")
    args = parser.parse_args(argv)
    cfg = config_from_env(args.data_dir, host=args.host, port=args.port, redis_port=args.redis_port)
    try:
        if args.command == "start":
            info = start(cfg)
            _announce(cfg, bool(info.pop("new_credentials")))
            return 0  # _announce said where it runs; `status` prints the details
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
