"""All layer types, and the registry that builds them from spec dicts (``{"type": "dense", ...}``)."""

from __future__ import annotations

from typing import Any

from .activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Shape, format_shape
from .conv import Conv2D
from .dense import Dense
from .dropout import Dropout
from .pool import AvgPool2D, MaxPool2D
from .reshape import Flatten

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (
        Dense,
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        Flatten,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softmax,
        Dropout,
    )
}


# What a newly added layer starts with (the editor's "Add layer"); every other option takes the
# constructor's default.
NEW_LAYER: dict[str, dict[str, Any]] = {
    "conv2d": {"filters": 8, "kernel": 5, "stride": 1, "padding": "valid", "init": "he"},
    "maxpool2d": {"size": 2, "stride": 2},
    "avgpool2d": {"size": 2, "stride": 2},
    "dense": {"units": 64, "init": "he"},
    "leaky_relu": {"alpha": 0.01},
    "dropout": {"rate": 0.5},
}
ACTIVATION_TYPES = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax")


def layer_from_spec(entry: Any, index: int | None = None) -> Layer:
    """Build one layer from its spec dict; a bad entry raises ``ValueError`` naming the layer."""
    where = "layer" if index is None else f"layer {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object like {{'type': 'dense', 'units': 10}}")
    kind = entry.get("type")
    if kind not in LAYER_TYPES:
        raise ValueError(f"{where}: unknown layer type {kind!r}; known types: {', '.join(LAYER_TYPES)}")
    args = {k: v for k, v in entry.items() if k != "type"}
    try:
        layer = LAYER_TYPES[kind](**args)
    except TypeError as exc:
        raise ValueError(f"{where} ({kind}): bad options {sorted(args)}: {exc}") from None
    except ValueError as exc:  # the layer names itself ("conv2d: …"); say it once
        raise ValueError(f"{where} ({kind}): {str(exc).removeprefix(f'{kind}: ')}") from None
    return layer


__all__ = [
    "ACTIVATION_TYPES",
    "LAYER_TYPES",
    "NEW_LAYER",
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "format_shape",
    "layer_from_spec",
]
