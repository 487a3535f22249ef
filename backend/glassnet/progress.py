"""What ``glassnet train`` shows while it trains: a progress line on stderr, and per-epoch metrics
as JSON lines (``--json`` on stdout, ``--metrics FILE``).

The progress line redraws in place on a terminal (carriage return, then the line, then "erase to
the end of the line", so a shorter line never leaves the tail of a longer one behind); on a pipe
or a file it prints a plain line every ``quiet_every`` seconds instead.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from typing import Any, TextIO

from .training.trainer import BatchMetrics, EpochMetrics

__all__ = ["MetricsWriter", "PipeSafe", "Progress", "quiet_broken_pipe"]

ERASE_LINE = "\x1b[K"


def quiet_broken_pipe(stream: TextIO) -> None:
    """After a write to ``stream`` met a closed pipe: point its file descriptor at /dev/null, so
    that later writes, and Python's own flush at exit, go nowhere instead of failing again."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


class PipeSafe:
    """A text stream whose reader may go away (``glassnet train --json | head -1``): once a write
    or flush meets a closed pipe, output to it stops and the training goes on. Anything else (a
    full disk) still raises."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def write(self, text: str) -> None:
        self._do(self.stream.write, text)

    def flush(self) -> None:
        self._do(self.stream.flush)

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def _do(self, action: Any, *args: Any) -> None:
        if self.closed:
            return
        try:
            action(*args)
        except BrokenPipeError:
            self.closed = True
            quiet_broken_pipe(self.stream)


class Progress:
    """One self-overwriting line per epoch: bar, loss, accuracy, samples/s, time left."""

    def __init__(
        self,
        steps_per_epoch: int,
        epochs: int,
        batch_size: int,
        stream: TextIO | PipeSafe,
        quiet_every: float = 10.0,
    ) -> None:
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs
        self.batch_size = batch_size
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.quiet_every = quiet_every
        self.first: tuple[float, int] | None = None  # (time, batches done) at the epoch's first batch here
        self.last_draw = -math.inf  # the first batch is always shown
        self.loss = math.nan
        self.acc = math.nan
        self.open_line = False

    def batch(self, m: BatchMetrics) -> None:
        # Exponential moving averages: the raw per-batch numbers jitter too much to read.
        self.loss = m.loss if math.isnan(self.loss) else 0.95 * self.loss + 0.05 * m.loss
        self.acc = m.accuracy if math.isnan(self.acc) else 0.95 * self.acc + 0.05 * m.accuracy
        now = time.perf_counter()
        done = (m.step - 1) % self.steps_per_epoch + 1
        # The speed counts only batches this process trained since its first one of the epoch:
        # not the batches before a --resume, nor the start-up before the first batch.
        if self.first is None:
            self.first = (now, done)
        if now - self.last_draw < (0.2 if self.tty else self.quiet_every) and done != self.steps_per_epoch:
            return
        self.last_draw = now
        since, done_then = self.first
        if done > done_then:
            rate = (done - done_then) * self.batch_size / max(now - since, 1e-9)
            left = (self.steps_per_epoch - done) * self.batch_size / max(rate, 1e-9)
            speed = f"{rate:,.0f} samples/s  {left:.0f}s left"
        else:
            speed = "measuring speed"
        frac = done / self.steps_per_epoch
        bar = "#" * int(frac * 24) + "." * (24 - int(frac * 24))
        line = (
            f"epoch {m.epoch + 1}/{self.epochs} [{bar}] {frac:4.0%}  loss {self.loss:.4f}"
            f"  acc {self.acc:6.2%}  {speed}"
        )
        if self.tty:
            self.stream.write("\r" + line + ERASE_LINE)
            self.open_line = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        """Close a progress line left open on a terminal (before any other output)."""
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False

    def epoch(self, m: EpochMetrics) -> None:
        self.end_line()
        val = "" if m.val_accuracy is None else f"  val loss {m.val_loss:.4f}  val acc {m.val_accuracy:.2%}"
        self.stream.write(f"  epoch {m.epoch} done in {m.seconds:.1f}s{val}\n")
        self.stream.flush()
        self.first = None
        self.loss = self.acc = math.nan


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


class MetricsWriter:
    """Per-epoch metrics as JSON lines (one object per line; NaN never written) to any streams."""

    def __init__(self, streams: list[TextIO | PipeSafe]) -> None:
        self.streams = streams

    def write(self, record: dict[str, Any]) -> None:
        if not self.streams:
            return
        clean = {k: _finite(v) if isinstance(v, float) else v for k, v in record.items()}
        line = json.dumps(clean, allow_nan=False)
        for stream in self.streams:
            stream.write(line + "\n")
            stream.flush()

    def epoch(self, m: EpochMetrics, lr: float, samples_per_s: float) -> None:
        self.write(
            {
                "event": "epoch",
                "epoch": m.epoch,
                "step": m.step,
                "train_loss": m.train_loss,
                "train_accuracy": m.train_accuracy,
                "val_loss": m.val_loss,
                "val_accuracy": m.val_accuracy,
                "lr": lr,
                "samples_per_s": samples_per_s,
                "seconds": m.seconds,
            }
        )
