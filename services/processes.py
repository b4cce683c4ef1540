"""The local services' child processes (Argilla's stack, the LLM server): started in their
own session, recorded in pid files that name the process exactly (pid, boot and start
time), so a pid file left behind by a crash or a reboot never leads to signalling some
unrelated process that now has that pid.

Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def start_token(pid: int) -> str | None:
    """What tells this process from any other that had or will have the same pid: the boot
    id and the start time in clock ticks from /proc, or ``ps``' start time elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _ps(pid, "lstart")
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; comm may hold spaces
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "?"
    return f"{boot}:{fields[19]}"  # field 22 of stat: starttime


def command_line(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except FileNotFoundError:
        return ""
    except OSError:
        return _ps(pid, "command") or ""


def _ps(pid: int, field: str) -> str | None:
    try:
        done = subprocess.run(
            ["ps", "-o", f"{field}=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def write_pid(path: Path, pid: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "started": start_token(pid)}) + "\n")


def read_pid(path: Path, marker: str) -> int | None:
    """The pid in ``path`` if that process is alive and is the one the file was written for
    (same start time; for a file holding only a pid, ``marker`` in its command line)."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        if isinstance(data, int):  # the pid alone, as earlier versions wrote it
            data = {"pid": data, "started": None}
        pid, started = int(data["pid"]), data.get("started")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if pid <= 0 or not alive(pid):
        return None
    if started is not None:  # the same pid, boot and start time: the same process
        return pid if start_token(pid) == started else None
    return pid if marker in command_line(pid) else None  # a pid alone: the best we can do


def alive(pid: int) -> bool:
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


def spawn(
    name: str, argv: list[str], log_file: Path, pid_file: Path, env: Mapping[str, str], cwd: Path
) -> int:
    """Start a process in a session of its own (it outlives the command that started it)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} start {name}\n".encode())
        log.flush()
        child = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    write_pid(pid_file, child.pid)
    return child.pid


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM to the process' group (the worker pool's children too), SIGKILL if it lingers."""
    _signal_group(pid, signal.SIGTERM)
    if not wait_for(lambda: not alive(pid), timeout, lambda: True):
        _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_for(check: Callable[[], object], timeout: float, alive: Callable[[], object]) -> bool:
    """Poll ``check`` until it holds (True), ``alive`` stops holding or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if not alive():
            return False
        time.sleep(0.5)
    return False


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"
