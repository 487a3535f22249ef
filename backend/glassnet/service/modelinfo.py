"""What the service says about a model without running it: the errors a model id can meet, the
response models of ``GET /api/models`` (:class:`ModelSummary`), class names and their articles,
and the check that a network reads 28x28 digits (:func:`check_compatible`). The registry that
loads and runs the networks is :mod:`.inference`."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field

from glassnet.data.preprocess import SIZE
from glassnet.nn.model import Sequential

DEFAULT_MODEL = "cnn"
MAX_ID = 512
TEXT_MAX = 200  # longest spec/meta string echoed back in a summary
ModelKind = Literal["bundled", "run", "upload"]


class UnknownModelError(KeyError):
    """No model has this id (the routes answer 404)."""

    def __init__(self, model_id: str) -> None:
        super().__init__(model_id)
        self.model_id = model_id

    def __str__(self) -> str:
        return f"unknown model {self.model_id[:MAX_ID]!r}; GET /api/models lists the available ones"


class IncompatibleModelError(ValueError):
    """A valid network that cannot read 28x28 digits (wrong input size or not 10 outputs)."""


class UploadTooLargeError(ValueError):
    """An uploaded checkpoint over the size limit (the routes answer 413)."""


class LayerSummary(BaseModel):
    index: int
    type: str
    output_shape: list[int] = Field(description="Per-sample output shape, e.g. [16, 24, 24].")
    params: int
    formula: str = Field(description="How the parameter count adds up, e.g. '1·(5·5)·16 + 16'.")


class ModelSummary(BaseModel):
    """What a checkpoint holds, without its weights."""

    id: str = Field(description="Pass as ?model= to /api/predict; download at /api/models/{id}.")
    kind: ModelKind
    default: bool = Field(description="Whether /api/predict uses it when no model is named.")
    preset: str | None = None
    name: str | None = Field(
        None, description="The network's name from its spec; a run's checkpoint: the run's name."
    )
    description: str | None = None
    input_shape: list[int]
    loss: str
    layers: list[LayerSummary]
    params: int = Field(description="Total number of weights and biases.")
    test_accuracy: float | None = Field(None, description="Fraction of the MNIST test set read right.")
    val_accuracy: float | None = None
    epochs: int | None = Field(
        None, description="Epochs trained, as the checkpoint records them (a run's, uploaded again, too)."
    )
    size: int = Field(description="Checkpoint file size in bytes.")
    created: str = Field(description="ISO 8601 time the checkpoint was written.")


# -- names ----------------------------------------------------------------------------------------


def class_names(meta: dict[str, Any], k: int) -> tuple[str, ...]:
    """The names of a checkpoint's K outputs: those it recorded, else the class indices ("0" ... "9"
    for the digit readers, which are all checkpoints made before names were recorded)."""
    names = meta.get("classes")
    if isinstance(names, list) and len(names) == k and all(isinstance(n, str) for n in names):
        return tuple(n[:TEXT_MAX] for n in names)
    return tuple(str(i) for i in range(k))


def article(name: str) -> str:
    """'an 8', 'a 7', 'an ankle boot': the article a class name takes when read aloud."""
    return "an" if name[:1].lower() in ("8", "a", "e", "i", "o", "u") or name in ("11", "18") else "a"


def finite_fraction(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) and 0.0 <= value <= 1.0 else None


def clip_text(value: Any) -> str | None:
    return value[:TEXT_MAX] if isinstance(value, str) else None


def check_compatible(model: Sequential, where: str, meta: dict[str, Any] | None = None) -> None:
    """Raise :class:`IncompatibleModelError` unless ``model`` maps 784 inputs to one output per class:
    the class names its checkpoint records (``meta["classes"]``), else the ten digits."""
    if math.prod(model.input_shape) != SIZE * SIZE:
        raise IncompatibleModelError(
            f"{where}: the network expects input shape {list(model.input_shape)}, "
            f"not a {SIZE}x{SIZE} digit ({SIZE * SIZE} inputs)"
        )
    names = (meta or {}).get("classes")
    named = isinstance(names, list) and len(names) >= 2
    expected = len(names) if named else 10
    if model.output_shape != (expected,):
        whose = f"its {expected} recorded classes" if named else "the ten digits (it records no class names)"
        raise IncompatibleModelError(
            f"{where}: the network has {list(model.output_shape)} outputs, one per class of {whose} is needed"
        )
