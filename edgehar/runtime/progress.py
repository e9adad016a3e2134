"""Progress lines for long work (a 24-hour replay, the export chain), on stderr.

Shown only to a person: when both stdout and stderr are terminals, unless ``--quiet``; a
script (stdout piped or redirected) sees nothing on stderr unless it asks with
``--progress``. One line rewritten in place, at most a few times a second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def wanted(quiet: bool = False, force: bool = False) -> bool:
    if force:
        return True
    if quiet:
        return False
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class ProgressLine:
    """``update(done, total)`` with any unit; prints rate and ETA every ``every`` seconds."""

    def __init__(self, what: str, unit: str = "", every: float = 0.5, out=None,
                 clock: Callable[[], float] = time.monotonic):
        self.what, self.unit, self.every = what, unit, every
        self.out = out or sys.stderr
        self.clock = clock
        self.t0 = clock()
        self._last = self.t0 - every      # the first update shows at once
        self.shown = False

    def update(self, done: float, total: float | None = None, extra: str = "") -> None:
        now = self.clock()
        if now - self._last < self.every:
            return
        self._last = now
        elapsed = max(now - self.t0, 1e-9)
        rate = done / elapsed
        line = f"\r{self.what}: {done:,.0f}{self.unit} ({rate:,.0f}{self.unit}/s)"
        if total:
            share = min(done / total, 1.0)
            eta = (elapsed / share - elapsed) if share > 0 else float("nan")
            line += f", {100 * share:.0f} %, ETA {eta:.0f} s"
        print(line + (f" {extra}" if extra else "") + "   ", end="", file=self.out, flush=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=self.out, flush=True)
