"""The "What it has learned" frames — probe activations, kernels, gradients — made from a network,
encoded for the wire. One home for the live stream (:mod:`.session`, after a mini-batch) and for
a run's checkpoints read afterwards (:mod:`.learned`: a finished, stopped or interrupted run).

Shapes: ``probe_x`` (P, 1, H, W) float32, ``probe_y`` (P,) int64 (P = 10 probe digits, one of each).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..nn.backend import to_host
from ..nn.losses import compute_loss, probabilities
from ..nn.model import Sequential
from ..training import probes
from .encoding import encode_all_activations, encode_array


def finite(value: float | None) -> float | None:
    """NaN/Inf never leave the server."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def finite_list(values: np.ndarray | list[float]) -> list[float | None]:
    return [finite(v) for v in to_host(values).astype(np.float64).ravel().tolist()]


def activations_frame(
    model: Sequential, probe_x: np.ndarray, probe_y: np.ndarray, step: int
) -> dict[str, Any]:
    """Every layer's output for each probe digit (``ActivationsData``)."""
    out, acts = model.forward_record(probe_x)
    probs = probabilities(model.loss, out)
    layers = encode_all_activations(model, acts)
    return {
        "step": step,
        "inputs": encode_array(probe_x[:, 0], per_map_axes=2),
        "probes": [
            {"label": int(label), "probabilities": finite_list(probs[i]), "layers": layers[i]}
            for i, label in enumerate(probe_y.tolist())
        ],
    }


def kernels_frame(model: Sequential, step: int) -> dict[str, Any]:
    """Conv kernels with their biases, and the first dense layer's weights as images (``KernelsData``)."""
    conv = [
        {
            "index": i,
            "kernels": encode_array(layer.params["W"], per_map_axes=2),
            "bias": finite_list(layer.params["b"]),
        }
        for i, layer in probes.conv_layers(model)
    ]
    dense = probes.first_dense_on_pixels(model)
    return {
        "step": step,
        "conv": conv,
        "dense": None if dense is None else {"index": dense[0], "weights": encode_array(dense[1], 2)},
    }


def gradients_frame(model: Sequential, step: int) -> dict[str, Any]:
    """Per-parameter gradient norms and conv kernel gradients of the model's last backward pass
    (``GradientsData``)."""
    return {
        "step": step,
        "norms": [
            {"index": i, "type": kind, "param": name, "norm": finite(norm)}
            for i, kind, name, norm in probes.gradient_norms(model)
        ],
        "conv": [
            {"index": i, "grad": encode_array(layer.grads["W"], per_map_axes=2)}
            for i, layer in probes.conv_layers(model)
        ],
    }


def probe_gradients(model: Sequential, probe_x: np.ndarray, probe_y: np.ndarray) -> None:
    """Fill every layer's ``grads`` with the gradient of the cost over the probe batch (a saved
    network has no last mini-batch to show: the probe digits stand in for one)."""
    out = model.forward(probe_x, train=False)
    _, dout = compute_loss(model.loss, out, probe_y)
    model.backward(dout)


def heavy_frames(model: Sequential, probe_x: np.ndarray, probe_y: np.ndarray, step: int) -> dict[str, Any]:
    """The three frames at once: ``{"activations", "kernels", "gradients"}``."""
    return {
        "activations": activations_frame(model, probe_x, probe_y, step),
        "kernels": kernels_frame(model, step),
        "gradients": gradients_frame(model, step),
    }
