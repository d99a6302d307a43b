"""A progress line with an ETA for a sequence of runs of unequal size."""

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass
class Progress:
    """Work done out of ``total`` units; the ETA assumes the remaining units cost the same.

    On a terminal the line is redrawn in place; in a pipe or a log, one line per update.
    """

    total: float
    out: TextIO = sys.stdout
    done: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self.started

    def eta(self) -> float | None:
        """Seconds left at the rate so far (None before the first unit is done)."""
        if self.done <= 0:
            return None
        return self.elapsed / self.done * max(self.total - self.done, 0.0)

    def line(self, what: str) -> str:
        """``[####......]  40 %  12 s elapsed, ETA 18 s  what``."""
        share = self.done / self.total if self.total else 1.0
        bar = "#" * round(20 * share)
        eta = self.eta()
        left = "ETA ?" if eta is None else f"ETA {duration(eta)}"
        return f"[{bar:<20}] {share:4.0%}  {duration(self.elapsed)} elapsed, {left}  {what}"

    def update(self, what: str, advance: float = 0.0) -> None:
        """Add ``advance`` units and show ``what``."""
        self.done += advance
        text = self.line(what)
        if self.out.isatty():
            self.out.write("\r\033[K" + text)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def finish(self, what: str) -> None:
        """The final line."""
        if self.out.isatty():
            self.out.write("\r\033[K")
        self.out.write(f"{what} in {duration(self.elapsed)}\n")
        self.out.flush()
