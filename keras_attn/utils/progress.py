"""A progress line that fits where it goes: redrawn in place on a terminal,
one plain line now and then in a log file (CI, `nohup`, a cluster job).

Keras' `Progbar` redraws with carriage returns on every call, which a log
file keeps as megabytes of partial lines; and it needs Keras, which a board
running `.tflite` files with LiteRT alone does not have.
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts work done out of `total` and shows the rate.

    On a terminal the line is redrawn at most every `interval` seconds; in a
    log it is printed as a whole line at every tenth of the work and at the
    end. `break_line()` ends an open line, so that a message printed to
    stderr meanwhile starts a line of its own.

    Args:
        total: how much work there is.
        unit: what is counted ("image": the rate reads `images/s`).
        interval: seconds between redraws on a terminal.
        stream: where to write (default: stdout).
    """

    def __init__(self, total: int, unit: str = "image", interval: float = 0.1,
                 stream=None):  # fmt: skip
        self.total, self.unit, self.interval = total, unit, interval
        self.stream = stream or sys.stdout
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.seen = 0
        self.start, self.drawn = time.perf_counter(), float("-inf")
        self.next_line = 0  # log mode: the next tenth to print at
        self.line_open = False

    def add(self, count: int) -> None:
        self.seen += count
        now = time.perf_counter()
        done = self.seen >= self.total
        if self.terminal:
            if done or now - self.drawn >= self.interval:
                self.stream.write("\r" + self.describe(now) + ("\n" if done else ""))
                self.stream.flush()
                self.drawn, self.line_open = now, not done
        elif done or self.seen * 10 >= self.next_line * self.total:
            self.stream.write(self.describe(now) + "\n")
            self.stream.flush()
            self.next_line = self.seen * 10 // max(self.total, 1) + 1

    def describe(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.start, 1e-9)
        width = len(str(self.total))
        share = self.seen / max(self.total, 1)
        bar = "=" * int(20 * share) + "." * (20 - int(20 * share))
        return (
            f"{self.seen:>{width}}/{self.total} [{bar}] {elapsed:.0f}s - "
            f"{self.unit}s/s: {self.seen / elapsed:.1f}"
        )

    def break_line(self) -> None:
        if self.line_open:
            self.stream.write("\n")
            self.stream.flush()
            self.line_open = False
