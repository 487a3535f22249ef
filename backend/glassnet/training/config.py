"""Training settings: everything about *how* a network learns (the spec says *what* it is)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..data.augment import Augment
from ..nn.backend import DEVICES
from ..nn.optim import DEFAULTS, HYPERPARAMETERS, OPTIMIZERS, check_hyperparameters, check_names
from ..nn.schedules import SCHEDULES

MAX_EPOCHS = 1000
MAX_BATCH = 4096


@dataclass
class TrainConfig:
    """Hyperparameters of one training run.

    ``optimizer``: sgd | momentum | adam. ``lr``: base learning rate (step size of gradient
    descent). ``momentum``: velocity decay of SGD with momentum (only that optimizer has it).
    ``beta1``, ``beta2``: Adam's decay rates of its running gradient mean and mean square (only
    Adam has them). A setting the optimizer does not have is refused; the ones it has default
    to 0.9 (momentum, beta1) and 0.999 (beta2) and are ``None`` for the others. ``weight_decay``: L2 on
    weights. ``schedule``: constant | step | cosine; for step, the rate is multiplied by ``gamma``
    every ``step_epochs`` epochs. ``augment``: data augmentation settings (see
    :class:`glassnet.data.augment.Augment`; None: off). ``batch_size``: samples per mini-batch.
    ``seed``: initial weights, batch order and dropout masks all come from it. ``device``:
    ``"cpu"`` or ``"cuda"`` (CuPy on a GPU, see ``nn/backend.py``; whether it is available is
    checked where the network is moved there).
    """

    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    weight_decay: float = 0.0
    schedule: str = "constant"
    step_epochs: int = 1
    gamma: float = 0.5
    batch_size: int = 64
    epochs: int = 3
    seed: int = 0
    augment: dict[str, Any] | None = None  # data augmentation settings (data/augment.py); None = off
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.optimizer in HYPERPARAMETERS:
            own = HYPERPARAMETERS[self.optimizer]
            check_names(self.optimizer, {k: v for k in OPTIONAL if (v := getattr(self, k)) is not None})
            for name in OPTIONAL:
                if name in own and getattr(self, name) is None:
                    setattr(self, name, DEFAULTS[name])
        self.validate()

    def hyperparameters(self) -> dict[str, float]:
        """The optimizer's own settings by name (e.g. lr, beta1, beta2, weight_decay for Adam)."""
        return {name: getattr(self, name) for name in HYPERPARAMETERS[self.optimizer]}

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that cannot train."""
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        check_hyperparameters(self.hyperparameters())
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
        if self.augment is not None:
            if not isinstance(self.augment, dict):
                raise ValueError("augment must be an object of augmentation settings, or null")
            self.augment = Augment.from_dict(self.augment).as_dict()  # checked, every setting spelled out
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")

    def as_dict(self) -> dict[str, Any]:
        """The settings, without those the optimizer does not have (nor augmentation when off)."""
        unset = (*OPTIONAL, "augment")
        return {k: v for k, v in asdict(self).items() if not (k in unset and v is None)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], legacy: bool = False) -> TrainConfig:
        """Build from a dict, ignoring keys that are not settings (e.g. a preset's other keys).

        ``legacy=True`` reads settings written before each optimizer named its own: Adam's β1
        stored as ``momentum``, and a plain SGD's unused ``momentum``. Requests never use it: a
        setting the optimizer does not have is an error there."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in values.items() if k in names}
        if legacy:
            kind = values.get("optimizer", cls.optimizer)
            if kind == "adam" and "momentum" in values:
                values.setdefault("beta1", values.pop("momentum"))
            own = HYPERPARAMETERS.get(kind, ())
            values = {k: v for k, v in values.items() if k not in OPTIONAL or k in own}
        return cls(**values)

    @classmethod
    def merged(cls, base: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
        """A preset's (or a spec file's) settings, read with legacy names, overridden by a user's,
        which are strict. Choosing another optimizer drops the base's optimizer-only settings."""
        settings = cls.from_dict(base, legacy=True).as_dict()
        if overrides.get("optimizer", settings["optimizer"]) != settings["optimizer"]:
            settings = {k: v for k, v in settings.items() if k not in OPTIONAL}
        return cls.from_dict({**settings, **overrides})


OPTIONAL = ("momentum", "beta1", "beta2")  # settings only some optimizers have


# What a spec may hold (a preset's keys): a key outside these, or a training setting outside
# TrainConfig's, would be ignored without a word, and the run would train with a default instead
# of the number the user wrote ("lr" at the top level, "learning_rate" in "train").
SPEC_KEYS = ("name", "description", "input_shape", "layers", "loss", "train")


def check_spec_keys(spec: dict[str, Any], where: str = "") -> None:
    """Raise ``ValueError`` naming every key of a spec (a ``--spec`` file, the ``spec`` of
    ``POST /api/runs``) that nothing would read; ``where`` (a file's path) starts the message."""
    at = f"{where}: " if where else ""
    settings = sorted(f.name for f in fields(TrainConfig))
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        misplaced = [key for key in unknown if key in settings]
        inside = ""
        if misplaced:
            inside = f'; training settings go inside "train": {{...}} ({", ".join(misplaced)})'
        raise ValueError(
            f"{at}unknown key(s) {', '.join(map(repr, unknown))}; a spec holds {', '.join(SPEC_KEYS)}{inside}"
        )
    train = spec.get("train", {})
    if not isinstance(train, dict):
        raise ValueError(f'{at}"train" must be an object of training settings')
    unknown = sorted(set(train) - set(settings))
    if unknown:
        raise ValueError(
            f'{at}unknown training setting(s) {", ".join(map(repr, unknown))} in "train"; '
            f"the settings are {', '.join(settings)}"
        )
