"""Learning-rate schedules: how the step size of gradient descent changes over a run.

A schedule is a multiplier of the base learning rate as a function of the step number, so a user
can change the base rate at any moment and the schedule keeps its shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class Schedule:
    """``kind``: constant; step (multiply by ``gamma`` every ``step_every`` steps); cosine (from 1 down
    to ``floor`` over ``total_steps``, half a cosine wave)."""

    kind: str = "constant"
    total_steps: int = 1
    step_every: int = 1
    gamma: float = 0.1
    floor: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; choose one of {', '.join(SCHEDULES)}")
        if self.total_steps < 1 or self.step_every < 1:
            raise ValueError("schedule: total_steps and step_every must be at least 1")
        if not (0 < self.gamma <= 1) or not (0 <= self.floor <= 1):
            raise ValueError("schedule: gamma must be in (0, 1] and floor in [0, 1]")

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate at ``step`` (0-based)."""
        if self.kind == "step":
            return self.gamma ** (step // self.step_every)
        if self.kind == "cosine":
            t = min(step / self.total_steps, 1.0)
            return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * t))
        return 1.0
