"""Progress on stderr: a redrawn bar on a terminal, otherwise one plain line every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """One phase's progress: update(done) with a running count out of `total`."""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str,
        *,
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float | None = None,
        enabled: bool = True,
        prefix: str = "trd-fhir bulk",
    ) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.label = label
        self.total = max(total, 0)
        self.unit = unit
        self.enabled = enabled
        self.interval = interval if interval is not None else (0.1 if self.tty else 10.0)
        self.started = time.monotonic()
        self.last = self.started
        self.done = 0
        self.note = ""

    def update(self, done: int, note: str = "") -> None:
        self.done = done
        self.note = note or self.note
        now = time.monotonic()
        if self.enabled and now - self.last >= self.interval:
            self.last = now
            self._draw(now, final=False)

    def finish(self, note: str = "") -> None:
        self.done = max(self.done, self.total)
        self.note = note or self.note
        if self.enabled:
            self._draw(time.monotonic(), final=True)

    def _draw(self, now: float, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 and self.total else 0.0
        tail = f" {self.note}" if self.note else ""
        counts = f"{_human(self.done)}/{_human(self.total)} {self.unit}"
        if self.tty:
            width = 24
            filled = int(width * fraction)
            bar = "#" * filled + "." * (width - filled)
            eta = f"in {_clock(elapsed)}" if final else f"ETA {_clock(left)}"
            text = (
                f"\r{self.label:<10} [{bar}] {fraction:4.0%} {counts} {_human(rate)}/s {eta}{tail}"
            )
            self.stream.write(text + ("\n" if final else "\x1b[K"))
        else:
            eta = f"in {_clock(elapsed)}" if final else f"ETA {_clock(left)}"
            rate_text = f"{_human(rate)}/s"
            self.stream.write(
                f"{self.prefix}: {self.label} {fraction:.0%} ({counts}, {rate_text}, {eta}){tail}\n"
            )
        self.stream.flush()


__all__ = ["Progress"]
