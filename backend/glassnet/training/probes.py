"""What the dashboard looks at inside a network, as plain arrays (NumPy only, no encoding).

* a fixed **probe set** of ten test digits, one of each digit, whose every layer output (activation) is shown;
* the **kernels** of every conv layer, and the first dense layer's weights as images when that
  layer reads the pixels directly (each hidden neuron's weights *are* a 28x28 picture);
* **gradient norms** per parameter and the conv kernels' gradients of the last mini-batch;
* a handful of **misclassified** validation digits.
"""

from __future__ import annotations

import numpy as np

from ..data.mnist import Split
from ..nn.backend import array_module
from ..nn.layers.conv import Conv2D
from ..nn.layers.dense import Dense
from ..nn.model import Sequential

PROBE_DIGITS = tuple(range(10))  # one of each digit


def probe_indices(labels: np.ndarray, digits: tuple[int, ...] = PROBE_DIGITS) -> np.ndarray:
    """Indices of the probe digits in a split with these ``labels`` (N,): the first image of
    each digit in ``digits``, falling back to the first images when a digit is missing."""
    chosen: list[int] = []
    for d in digits:
        hits = np.flatnonzero(labels == d)
        if hits.size:
            chosen.append(int(hits[0]))
    for i in range(len(labels)):
        if len(chosen) >= len(digits):
            break
        if i not in chosen:
            chosen.append(i)
    return np.array(chosen[: len(digits)], dtype=np.int64)


def pick_probes(split: Split, digits: tuple[int, ...] = PROBE_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """The probe digits of ``split`` (see :func:`probe_indices`): x (P, 1, H, W) float32 and
    labels (P,) int64 (P = 10: one of each digit); the same for every run."""
    idx = probe_indices(split.y, digits)
    return split.x[idx], split.y[idx]


def conv_layers(model: Sequential) -> list[tuple[int, Conv2D]]:
    return [(i, layer) for i, layer in enumerate(model.layers) if isinstance(layer, Conv2D)]


def first_dense_on_pixels(model: Sequential) -> tuple[int, np.ndarray] | None:
    """(index, W reshaped to (units, H, W)) when the first layer with parameters is a dense layer
    reading the flattened single-channel image; otherwise None (e.g. after conv layers)."""
    shape = model.input_shape
    if len(shape) < 2:
        return None
    c, h, w = shape if len(shape) == 3 else (1, *shape)
    for i, layer in enumerate(model.layers):
        if not layer.params:
            continue
        if isinstance(layer, Dense) and c == 1 and layer.params["W"].shape[0] == h * w:
            return i, layer.params["W"].T.reshape(-1, h, w)
        return None
    return None


def gradient_norms(model: Sequential) -> list[tuple[int, str, str, float]]:
    """(layer index, layer type, parameter name, L2 norm of its gradient) for every parameter:
    how strongly the last mini-batch's error wants each layer to change."""
    out = []
    for i, layer in enumerate(model.layers):
        for name, g in layer.grads.items():
            xp = array_module(g)
            out.append((i, layer.kind, name, float(xp.sqrt(xp.sum(xp.square(g, dtype=np.float64))))))
    return out


def misclassified(predictions: np.ndarray, labels: np.ndarray, k: int = 8) -> np.ndarray:
    """Indices of the first ``k`` wrong predictions (predictions, labels: (N,))."""
    return np.flatnonzero(predictions != labels)[:k]
