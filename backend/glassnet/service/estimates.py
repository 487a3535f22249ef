"""When each waiting run should start: the measured training speed of runs, and the queue laid
over the executor's slots.

Runs of one kind — the same network at the same batch size — train at one speed. A run holds its
slot for its start-up (a process, the data, the first checkpoint), its steps, and its end (the last
validation and checkpoint). So each kind keeps two figures, both measured, both smoothed:

- **seconds per mini-batch**, from the metrics reports' ``samples_per_s`` (the session's window
  over training alone: its start-up is not counted, see ``session.RateWindow``);
- **seconds of overhead per run**: a run's whole time in its slot less its steps at that speed,
  taken when it ends (and, until a run of the kind has ended, its start-up: the time to its first
  report). A 1-epoch run of a small network is mostly overhead; counting it as steps, or its
  start-up as training, is what made the estimates 50x too long for a class (QA3 class #3).

A training run still needs its remaining steps at its own speed (its kind's until it has one) plus,
before its first report, what is left of its kind's start-up. A waiting run needs its steps at its
kind's speed plus its kind's overhead. :func:`.fairqueue.estimate_starts` then gives each waiting
run its start, in service order. One computation on the server at one moment answers every page
alike. A start that depends on a speed nobody measured yet, or on a paused run, is unknown (None):
the page says "not known yet" rather than a guess.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from .fairqueue import estimate_starts
from .runstate import RunStatus

SMOOTHING = 0.2  # weight of a new measurement in its kind's running figures


def kind_of(run: dict[str, Any]) -> str:
    """Runs of one kind train at one speed: the same network at the same batch size."""
    return json.dumps([run["spec"], run["config"]["batch_size"]], sort_keys=True)


def _smooth(before: float | None, value: float) -> float:
    return value if before is None else (1 - SMOOTHING) * before + SMOOTHING * value


class RunSpeeds:
    """Seconds per mini-batch, measured per training run and per kind of run, and each kind's
    overhead per run. ``clock``: monotonic seconds (a test gives its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.step_s: dict[str, float] = {}
        self.kind_step_s: dict[str, float] = {}
        self.kind_overhead_s: dict[str, float] = {}
        self.started_at: dict[str, tuple[float, int]] = {}  # run -> (when its slot was taken, its step)
        self.reported: set[str] = set()  # runs that have sent a metrics report since they started

    def started(self, run_id: str, step: int = 0) -> None:
        """The run took a slot now, at ``step`` (a resumed run does not start at 0)."""
        self.started_at[run_id] = (self.clock(), step)
        self.reported.discard(run_id)

    def measure(self, run_id: str, job: dict[str, Any], data: dict[str, Any]) -> None:
        """A metrics report (``samples_per_s`` over the session's window) of the run ``job``
        describes."""
        kind = kind_of(job)
        if run_id not in self.reported:
            self.reported.add(run_id)
            begun = self.started_at.get(run_id)
            if begun is not None and kind not in self.kind_overhead_s:  # a first figure: start-up
                self.kind_overhead_s[kind] = max(0.0, self.clock() - begun[0])
        rate = data.get("samples_per_s") or 0.0
        if rate <= 0:
            return
        seconds = job["config"]["batch_size"] / rate
        self.step_s[run_id] = seconds
        self.kind_step_s[kind] = _smooth(self.kind_step_s.get(kind), seconds)

    def ended(self, run_id: str, job: dict[str, Any] | None, step: int | None, complete: bool) -> None:
        """The run left its slot at ``step``. ``complete``: it ran to its end (its last validation
        and checkpoint included), so its time in the slot less its steps is its kind's overhead."""
        begun = self.started_at.pop(run_id, None)
        self.step_s.pop(run_id, None)
        self.reported.discard(run_id)
        if not complete or job is None or begun is None or step is None:
            return
        kind = kind_of(job)
        per_step = self.kind_step_s.get(kind)
        if per_step is None:
            return
        overhead = max(0.0, self.clock() - begun[0] - max(0, step - begun[1]) * per_step)
        self.kind_overhead_s[kind] = _smooth(self.kind_overhead_s.get(kind), overhead)

    def forget(self, run_id: str) -> None:
        """The run stopped training without a figure to learn from (its kind's are kept)."""
        self.ended(run_id, None, None, complete=False)

    def overhead(self, kind: str) -> float | None:
        """A kind's overhead per run; a kind not measured yet takes the others' (a process and the
        data cost much the same whatever the network), None when nothing is measured at all."""
        if kind in self.kind_overhead_s:
            return self.kind_overhead_s[kind]
        known = list(self.kind_overhead_s.values())
        return sum(known) / len(known) if known else None

    def starts_in(
        self,
        order: list[str],
        training: Iterable[str],
        get: Callable[[str], dict[str, Any] | None],
        slots: int,
    ) -> dict[str, float | None]:
        """Seconds from now until each waiting run (``order``: service order) starts, given the
        runs ``training`` now, the run records (``get``) and how many may train at once."""
        if not order:
            return {}
        now = self.clock()
        running: list[float | None] = []
        for run_id in training:
            run = get(run_id)
            if run is None or run["status"] == RunStatus.PAUSED:
                running.append(None)
                continue
            kind = kind_of(run)
            per_step = self.step_s.get(run_id) or self.kind_step_s.get(kind)
            if per_step is None:
                running.append(None)
                continue
            if run["total_steps"] is None:
                running.append(None)
                continue
            left = max(0, run["total_steps"] - run["step"]) * per_step
            if run_id not in self.reported:  # still starting: what is left of its start-up
                begun = self.started_at.get(run_id)
                overhead = self.overhead(kind) or 0.0
                left += max(0.0, overhead - (now - begun[0])) if begun else overhead
            running.append(left)
        durations: list[float | None] = []
        for run_id in order:
            run = get(run_id)
            kind = None if run is None else kind_of(run)
            per_step = None if kind is None else self.kind_step_s.get(kind)
            if run is None or kind is None or per_step is None or run["total_steps"] is None:
                durations.append(None)
                continue
            steps = max(0, run["total_steps"] - run["step"])
            durations.append(steps * per_step + (self.overhead(kind) or 0.0))
        return dict(zip(order, estimate_starts(slots, running, durations), strict=True))
