"""Peak memory per pipeline step, read from the kernel, as plain numbers for asset metadata.

``/proc/self/status`` gives VmRSS (resident now) and VmHWM (the peak since the process
started, or since the peak was last reset). Writing ``5`` to ``/proc/self/clear_refs``
resets VmHWM to the current RSS (Linux >= 4.0), which turns the process-wide peak into a
per-step one: every asset of a run executes in one process (Dagster's in-process
executor), so without the reset every step after the largest would report that one's peak.
Where the reset is refused, the numbers are the process peak so far, and say so.

``track_memory`` wraps an asset's compute function (plain Python, no Dagster here): each
``MaterializeResult`` it returns or yields gets ``peak_rss_mb`` (this step's peak),
``rss_delta_mb`` (peak minus the RSS the step started with), ``rss_start_mb`` and
``run_peak_rss_mb`` (the highest step peak of this process so far), and ``step_s`` (the
step's wall time, from the same start).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
MIB = 1024 * 1024

_process_peak = 0  # highest VmHWM seen in this process, surviving the per-step resets

F = TypeVar("F", bound=Callable[..., Any])


def _status_kib(field_name: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Resident set size now (0 where /proc is not available)."""
    return (_status_kib("VmRSS") or 0) * 1024


def peak_rss_bytes() -> int:
    """VmHWM: the peak resident set size since start or the last ``reset_peak``."""
    global _process_peak
    peak = (_status_kib("VmHWM") or 0) * 1024
    _process_peak = max(_process_peak, peak)
    return peak


def process_peak_rss_bytes() -> int:
    """The highest peak this process has had, across resets."""
    peak_rss_bytes()
    return _process_peak


def reset_peak() -> bool:
    """Make VmHWM start again from the current RSS; False where the kernel refuses."""
    peak_rss_bytes()  # keep the process peak before it is forgotten
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


@dataclass
class MemoryUsage:
    start_rss: int = 0
    peak_rss: int = 0
    per_step: bool = False  # whether the peak was reset at the start (else: process peak)
    started: float = 0.0  # time.perf_counter() at the start

    @property
    def delta(self) -> int:
        return max(0, self.peak_rss - self.start_rss)

    def metadata(self) -> dict[str, float]:
        """Numbers for asset metadata, in MiB."""
        return {
            "peak_rss_mb": round(self.peak_rss / MIB, 1),
            "rss_delta_mb": round(self.delta / MIB, 1),
            "rss_start_mb": round(self.start_rss / MIB, 1),
            "run_peak_rss_mb": round(process_peak_rss_bytes() / MIB, 1),
            "peak_rss_is_per_step": float(self.per_step),
            "step_s": round(time.perf_counter() - self.started, 3),
        }


def _start() -> MemoryUsage:
    release_free_memory()
    return MemoryUsage(rss_bytes(), 0, reset_peak(), time.perf_counter())


@contextmanager
def measure() -> Iterator[MemoryUsage]:
    """Peak RSS of the block (``usage.peak_rss``), readable once the block has finished."""
    usage = _start()
    try:
        yield usage
    finally:
        usage.peak_rss = peak_rss_bytes()


def release_free_memory() -> None:
    """Hand freed heap back to the kernel (glibc keeps it otherwise), so one step's peak
    does not stay resident under the next: each step starts from what is really in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _with_usage(result: Any, usage: MemoryUsage) -> Any:
    """``result`` with the memory numbers merged into its metadata, if it has metadata."""
    if not (hasattr(result, "metadata") and hasattr(result, "_replace")):
        return result
    usage.peak_rss = peak_rss_bytes()
    return result._replace(metadata={**(result.metadata or {}), **usage.metadata()})


def track_memory(fn: F) -> F:
    """Decorate an asset function (below ``@dg.asset``) to add the step's memory to the
    metadata of every result it returns or yields."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            usage = _start()
            for result in fn(*args, **kwargs):
                yield _with_usage(result, usage)

        return generator  # type: ignore[return-value]

    @functools.wraps(fn)
    def function(*args: Any, **kwargs: Any) -> Any:
        usage = _start()
        return _with_usage(fn(*args, **kwargs), usage)

    return function  # type: ignore[return-value]
