"""When each waiting run should start: the measured training speed of runs, and the queue laid
over the executor's slots.

Runs of one kind — the same network at the same batch size — train at one speed. Every metrics
report of a training run gives its seconds per mini-batch (batch size / samples per second over
the report's steps): kept per run (how long a training run still needs) and smoothed per kind
(how long a waiting run of that kind will take). :func:`.fairqueue.estimate_starts` then gives
each waiting run its start, in service order; a start that depends on a speed nobody measured
yet, or on a paused run, is unknown (None).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .fairqueue import estimate_starts
from .runstate import RunStatus

SMOOTHING = 0.2  # weight of a new measurement in its kind's running speed


def kind_of(run: dict[str, Any]) -> str:
    """Runs of one kind train at one speed: the same network at the same batch size."""
    return json.dumps([run["spec"], run["config"]["batch_size"]], sort_keys=True)


class RunSpeeds:
    """Seconds per mini-batch, measured: per training run, and per kind of run."""

    def __init__(self) -> None:
        self.step_s: dict[str, float] = {}
        self.kind_step_s: dict[str, float] = {}

    def measure(self, run_id: str, job: dict[str, Any], data: dict[str, Any]) -> None:
        """A metrics report (``samples_per_s`` over the frame) of the run ``job`` describes."""
        rate = data.get("samples_per_s") or 0.0
        if rate <= 0:
            return
        seconds = job["config"]["batch_size"] / rate
        self.step_s[run_id] = seconds
        kind = kind_of(job)
        before = self.kind_step_s.get(kind)
        self.kind_step_s[kind] = seconds if before is None else (1 - SMOOTHING) * before + SMOOTHING * seconds

    def forget(self, run_id: str) -> None:
        """The run stopped training (its kind's speed is kept)."""
        self.step_s.pop(run_id, None)

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
        running: list[float | None] = []
        for run_id in training:
            run, per_step = get(run_id), self.step_s.get(run_id)
            if run is None or per_step is None or run["status"] == RunStatus.PAUSED:
                running.append(None)
            else:
                running.append(max(0, (run["total_steps"] or 0) - run["step"]) * per_step)
        durations: list[float | None] = []
        for run_id in order:
            run = get(run_id)
            per_step = None if run is None else self.kind_step_s.get(kind_of(run))
            durations.append(
                None if per_step is None else max(0, (run["total_steps"] or 0) - run["step"]) * per_step
            )
        return dict(zip(order, estimate_starts(slots, running, durations), strict=True))
