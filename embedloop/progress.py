"""Progress of the long steps (encoding, publishing, training), for a person at a terminal
and for the Dagster run log.

Core code wraps a long loop in ``progress(what, total)`` and calls ``update(n)``. Each tenth
of the way, and at the end with the rate, a line goes to the logger ``embedloop.progress``;
Dagster copies that logger into the run log (``python_logs`` in dagster.yaml). When the
CLI runs at a terminal it calls ``show_bars(True)`` and a tqdm bar is drawn as well; the bar
disappears when the step ends, so the terminal keeps one line per step.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("embedloop.progress")
log.setLevel(logging.INFO)
# Only the handlers Dagster attaches (and the CLI's bars) show progress: a library that
# configured the root logger must not print every line a second time.
log.propagate = False
_show_bars = False


def show_bars(enabled: bool) -> None:
    """Draw tqdm bars on stderr (the CLI turns this on when stderr is a terminal)."""
    global _show_bars
    _show_bars = enabled


class Progress:
    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.started = time.perf_counter()
        self._next_tenth = 1
        self._bar: Any = None
        if total > 0:
            log.info("%s: 0/%d %s", what, total, unit)
        if _show_bars and total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=total, desc=what, unit=unit, leave=False, file=sys.stderr, disable=False
            )

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self.total <= 0:
            return
        tenth = self.done * 10 // self.total
        if tenth >= self._next_tenth and self.done < self.total:
            self._next_tenth = tenth + 1
            log.info(
                "%s: %d/%d %s (%d%%) after %.0f s",
                self.what,
                self.done,
                self.total,
                self.unit,
                100 * self.done // self.total,
                self.elapsed,
            )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        log.info(
            "%s: %d %s in %.1f s (%.1f/s)", self.what, self.done, self.unit, self.elapsed, rate
        )


@contextmanager
def progress(what: str, total: int, unit: str = "items") -> Iterator[Progress]:
    """Report ``what`` as it advances; nothing is reported for an empty loop."""
    tracker = Progress(what, total, unit)
    try:
        yield tracker
    finally:
        if total > 0:
            tracker.close()
