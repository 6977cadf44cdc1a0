"""Progress of long work: a tqdm bar on a terminal, plain periodic lines anywhere else.

Through a pipe, into a log file or in CI a bar is either garbled or (tqdm's disable=None) absent, and a
17-minute calibration looks hung. There, one line every EVERY_SECONDS says how far it got:

    calibrate-baseline: 130/1,000 trials (13 %), 2 min 10 s elapsed, about 14 min left

Work that ends before the first line stays silent; work that printed lines ends with a closing one. Every long
loop in sim/ makes its bar with progress_bar(), so the two kinds of output stay the same everywhere.
"""

from __future__ import annotations

import sys
import time

#: Seconds between two plain lines.
EVERY_SECONDS = 20.0


def progress_bar(total: int, desc: str, unit: str, *, initial: int = 0, leave: bool = True, file=None,
                 every: float | None = None, clock=time.monotonic, **tqdm_options):
    """An object with update(n) and close() (and a context manager): a tqdm bar when `file` (default stderr) is a
    terminal, else a PlainProgress that writes a line every `every` seconds (default EVERY_SECONDS, read at the
    call). tqdm_options go to tqdm only."""
    stream = file if file is not None else sys.stderr
    if is_terminal(stream):
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, unit=unit, desc=desc, leave=leave, file=stream, **tqdm_options)
    return PlainProgress(total, desc, unit, initial=initial, file=stream, every=every, clock=clock)


def is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


class PlainProgress:
    """Counts like tqdm (update, close, n, total) and writes a plain line at most every `every` seconds."""

    def __init__(self, total: int, desc: str, unit: str, *, initial: int = 0, file=None,
                 every: float | None = None, clock=time.monotonic):
        self.total, self.desc, self.unit = int(total), desc, unit
        self.n = self._first = int(initial)
        self.file = file if file is not None else sys.stderr
        self.every, self.clock = float(EVERY_SECONDS if every is None else every), clock
        self._t0 = self._last = clock()
        self.lines = 0
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if self.n < self.total and now - self._last >= self.every:  # the last step's line is close()'s
            self._write(self.line(now))
            self._last = now

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.lines or self.clock() - self._t0 >= self.every:  # short work stays silent; long work ends in a line
            self._write(f"{self.desc}: {self._count()}, done in {duration(self.clock() - self._t0)}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def line(self, now: float | None = None) -> str:
        """The progress line at time `now` (default: the clock's)."""
        elapsed = (self.clock() if now is None else now) - self._t0
        text = f"{self.desc}: {self._count()}, {duration(elapsed)} elapsed"
        done = self.n - self._first  # a resumed study counts only the work done in this process towards the rate
        if done > 0 and elapsed > 0 and self.total > self.n:
            text += f", about {duration((self.total - self.n) * elapsed / done)} left"
        return text

    def _count(self) -> str:
        units = self.unit if self.unit.endswith("s") else self.unit + "s"
        share = f" ({100 * self.n / self.total:.0f} %)" if self.total > 0 else ""
        return f"{self.n:,}/{self.total:,} {units}{share}"

    def _write(self, text: str) -> None:
        self.lines += 1
        print(text, file=self.file, flush=True)


def duration(seconds: float) -> str:
    """'45 s', '2 min 10 s', '1 h 05 min': rounded to what a reader of a log needs."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


__all__ = ["EVERY_SECONDS", "PlainProgress", "duration", "is_terminal", "progress_bar"]
