"""The pydantic models of what travels to a browser or a program — arrays on the wire and a
prediction — with nothing heavier than pydantic below them, so that :mod:`.protocol` (the
WebSocket schema) and :mod:`.inference` (the registry that fills them) share one definition.
How the arrays are made: :mod:`.encoding`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EncodedArray(BaseModel):
    """An array on the wire (see the module docstring for how to decode it)."""

    shape: list[int] = Field(description="Array shape, row-major.")
    min: list[float] = Field(description="Per map: the value that byte 0 stands for.")
    max: list[float] = Field(description="Per map: the value that byte 255 stands for.")
    data: str = Field(
        description="Base64 of prod(shape) uint8 bytes, row-major; map m is bytes m*S..m*S+S-1."
    )


class LayerActivation(EncodedArray):
    """One layer's output for one sample; ``shape`` is per sample."""

    index: int = Field(description="Position of the layer in the network, from 0.")
    type: str = Field(description="Layer type as in the spec: conv2d, relu, maxpool2d, dense, ...")
    kind: Literal["maps", "vector"] = Field(
        description="'maps': (C, H, W) or (H, W) feature maps, one min/max per 2-D map; "
        "'vector': a (K,) layer of neurons, one min/max for the whole vector."
    )


class PredictResult(BaseModel):
    """The network's reading of one digit."""

    model: str = Field(description="Id of the network that answered.")
    digit: int | None = Field(description="The most probable class (its index); null when there was no ink.")
    probabilities: list[float] | None = Field(description="One probability per class, summing to 1.")
    classes: list[str] | None = Field(
        None, description='The class names, in the order of the probabilities ("0" ... "9" for digits).'
    )
    label: str | None = Field(None, description="The name of the most probable class.")
    prepared: EncodedArray | None = Field(
        description="The 28x28 input the network saw after MNIST-style preparation (range fixed 0..1)."
    )
    activations: list[LayerActivation] | None = Field(
        None, description="Every layer's output for this digit (only with ?activations=true)."
    )
    empty: bool = Field(description="True when the input held no ink: no digit, not a guess.")
    readout: Literal["softmax", "normalised"] | None = Field(
        None,
        description="How the probabilities come from the last layer: the softmax of its scores "
        "(cross-entropy), or its activations divided by their sum (squared error: no softmax).",
    )
    message: str
