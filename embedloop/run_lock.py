"""One pipeline run per data directory at a time.

Two runs on the same data directory race on the warehouse, the ZenML store and
``models/production``: both would train, evaluate and promote. Every run (the CLI, ``make
demo``, a run the Dagster daemon launches) therefore holds an exclusive ``flock`` on
``<data_dir>/.embedloop.lock`` while it works. The kernel drops the lock when the holder's
process ends, however it ends, so a killed run never leaves a stale lock behind. The file
names the holder (pid, what it is, since when) so the refused run can say who is running.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embedloop.progress import log

LOCK_FILE = ".embedloop.lock"

# Locks this process holds, by data directory: a run's second resource that takes the lock
# (settings and training both do) joins the first instead of waiting for itself.
_held: dict[Path, dict[str, Any]] = {}


class RunLocked(RuntimeError):
    """Another run holds the data directory; the message names it."""


def lock_path(data_dir: Path) -> Path:
    return data_dir / LOCK_FILE


def holder(data_dir: Path) -> dict[str, Any] | None:
    """Who holds the lock now, or None when nobody does."""
    path = lock_path(data_dir)
    if not path.exists():
        return None
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None


@contextmanager
def run_lock(
    data_dir: Path, owner: str, wait: bool = False, poll_s: float = 1.0
) -> Iterator[dict[str, Any]]:
    """Hold the data directory's run lock; raise ``RunLocked`` if it is taken and not ``wait``.

    ``owner`` says what this run is (e.g. ``dagster run 1234abcd``); it is written into the
    lock file for the run that gets refused.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    key = data_dir.resolve()
    if key in _held:
        yield _held[key]
        return
    path = lock_path(data_dir)
    # Opened without truncating: the file may still name the current holder.
    handle = path.open("a+")
    try:
        _acquire(handle, path, wait, poll_s)
        info = {
            "pid": os.getpid(),
            "owner": owner,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        _held[key] = info
        try:
            yield info
        finally:
            del _held[key]
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _acquire(handle: Any, path: Path, wait: bool, poll_s: float) -> None:
    announced = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            current = describe(_read(path))
            if not wait:
                raise RunLocked(
                    f"another embedloop run is using {path.parent}: {current}. Wait for it to "
                    "finish, or start this one with --wait to queue behind it"
                ) from None
            if not announced:
                log.info("waiting for %s to finish", current)
                announced = True
            time.sleep(poll_s)


def describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "a run that has not written its name yet"
    return f"{info.get('owner', 'a run')} (pid {info.get('pid')}, since {info.get('since')})"


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
