"""A progress line on the terminal for runs that take more than a second.

The core calls `step(name, rows=...)` at the start of each named step (reading, facts,
deciding, writing). Nothing is shown for the first second, and nothing at all unless stderr
is a terminal: cron logs and CI output stay clean. The line is erased when the run ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: What the core calls: the step's name, and the number of rows when known.
StepCallback = Callable[..., None]


def no_progress(name: str, rows: int | None = None) -> None:
    """The default: no display."""


def _delay() -> float:
    """Seconds before the line appears: 1, or $LIFECYCLE_PROGRESS_DELAY (0 shows it at once)."""
    import os

    try:
        return max(0.0, float(os.environ.get("LIFECYCLE_PROGRESS_DELAY", "1")))
    except ValueError:
        return 1.0


class NoProgress:
    """No display (not a terminal, or -q): the same interface as `TerminalProgress`."""

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        pass

    step = staticmethod(no_progress)


class TerminalProgress:
    """The progress line. Entered once per stretch of work (classifying, then writing after the
    warnings are out); shown from `_delay()` seconds into each stretch and erased at its end; the
    step, the rows and the total time carry over from one stretch to the next."""

    def __init__(self, console, what: str) -> None:
        self._console, self._what = console, what
        self._lock = threading.Lock()
        self._step, self._rows, self._started, self._step_started = (
            "starting",
            None,
            time.monotonic(),
            time.monotonic(),
        )
        self._live = None
        self._timer: threading.Timer | None = None

    def __enter__(self) -> TerminalProgress:
        self._timer = threading.Timer(_delay(), self._show)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    def step(self, name: str, rows: int | None = None) -> None:
        with self._lock:
            self._step, self._step_started = name, time.monotonic()
            if rows is not None:
                self._rows = rows

    def __rich__(self):
        from rich.spinner import Spinner

        with self._lock:
            step, rows, total, in_step = (
                self._step,
                self._rows,
                time.monotonic() - self._started,
                time.monotonic() - self._step_started,
            )
        rate = f", {rows / total:,.0f} rows/s" if rows and total > 0 else ""
        count = f" {rows:,} rows," if rows else ""
        return Spinner(
            "dots",
            text=f"lifecycle {self._what}: {step} ({in_step:.0f}s;{count} {total:.0f}s in "
            f"all{rate})",
        )

    def _show(self) -> None:
        from rich.live import Live

        timer = self._timer
        live = Live(self, console=self._console, transient=True, refresh_per_second=4)
        with self._lock:
            if (
                timer is not None and not timer.finished.is_set() and self._live is None
            ):  # not ended meanwhile
                self._live = live
                live.start()
