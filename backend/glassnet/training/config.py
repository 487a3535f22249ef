"""Training settings: everything about *how* a network learns (the spec says *what* it is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..nn.backend import DEVICES
from ..nn.optim import OPTIMIZERS, check_hyperparameters
from ..nn.schedules import SCHEDULES

MAX_EPOCHS = 1000
MAX_BATCH = 4096


@dataclass
class TrainConfig:
    """Hyperparameters of one training run.

    ``optimizer``: sgd | momentum | adam. ``lr``: base learning rate (step size of gradient
    descent). ``momentum``: velocity decay for momentum SGD, β1 for Adam. ``weight_decay``: L2 on
    weights. ``schedule``: constant | step | cosine; for step, the rate is multiplied by ``gamma``
    every ``step_epochs`` epochs. ``batch_size``: samples per mini-batch. ``seed``: initial
    weights, batch order and dropout masks all come from it. ``device``: ``"cpu"`` or
    ``"cuda"`` (CuPy on a GPU, see ``nn/backend.py``; whether it is available is checked
    where the network is moved there).
    """

    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_epochs: int = 1
    gamma: float = 0.5
    batch_size: int = 64
    epochs: int = 3
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot train."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        check_hyperparameters(self.lr, self.momentum, self.weight_decay)
        for name, low, high in (
            ("batch_size", 1, MAX_BATCH),
            ("epochs", 1, MAX_EPOCHS),
            ("step_epochs", 1, MAX_EPOCHS),
            ("seed", 0, 2**32 - 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
        if not isinstance(self.gamma, int | float) or not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, ignoring keys that are not settings (e.g. a preset's other keys)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})
