"""Fail Dagster runs whose process is gone, so a killed run cannot block retraining.

Both instance configs allow one run at a time (DuckDB has one writer). With the default run
launcher a run worker that is SIGKILLed or loses its machine leaves its run ``STARTED``
forever, and the queue then never launches another one. Dagster's run monitoring (enabled
in both dagster.yaml files) catches runs that never start and, with ``max_runtime_seconds``,
runs that never end; it cannot ask the default launcher whether a worker is alive. This
module can, for runs on this machine: every event records its process id, so a ``STARTED``
run whose process no longer exists (or whose pid now belongs to a younger process) is dead.
The feedback sensor calls it on every tick; the CLI before it starts a run.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark as failed every STARTED run whose worker process is gone; return their ids."""
    failed = []
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    )
    for record in records:
        run = record.dagster_run
        pid = _worker_pid(instance, run.run_id)
        if pid is None or _alive_since(pid, record.start_time):
            continue
        instance.report_run_failed(
            run,
            f"The run's process (pid {pid} on {socket.gethostname()}) is gone: it was killed "
            "or its machine stopped. Marked failed so that the next run can start.",
        )
        failed.append(run.run_id)
    return failed


def _worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that executes the run's steps (from its RUN_START event)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def _alive_since(pid: int, run_start: float | None) -> bool:
    """True when ``pid`` exists and was started before the run (not a reused pid)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    if run_start is None:
        return True
    started = _boot_time() + int(fields[19]) / _CLOCK_TICKS  # field 22 of proc(5)
    return started <= run_start + 1


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0
