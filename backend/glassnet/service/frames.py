"""The "What it has learned" frames — probe activations, kernels, gradients — made from a network,
encoded for the wire. One home for the live stream (:mod:`.session`, after a mini-batch) and for
a run's checkpoints read afterwards (:mod:`.learned`: a finished, stopped or interrupted run).

Shapes: ``probe_x`` (P, 1, H, W) float32, ``probe_y`` (P,) int64 (P = 10 probe digits, one of each).
"""

from __future__ import annotations

import math
from collections import OrderedDict
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


#: Exact conv kernels kept per live frame, at most this many numbers a frame (256 KiB of float32):
#: the cnn preset has 3,400; a network with far more kernels keeps none (the page then says so).
EXACT_KERNELS_MAX = 65_536
EXACT_FRAMES_KEPT = 100  # as many as a page's timeline keeps (state.js FrameHistory(100))
EXACT_RUNS_KEPT = 8  # the runs that trained last; older ones are read from their checkpoints


def exact_kernels(model: Sequential) -> bytes | None:
    """Every conv layer's W as float32, one after the other (the order of ``kernels_frame``), or
    None when they are too many to keep per frame."""
    layers = probes.conv_layers(model)
    if not layers or sum(layer.params["W"].size for _, layer in layers) > EXACT_KERNELS_MAX:
        return None
    return b"".join(to_host(layer.params["W"]).astype(np.float32).tobytes() for _, layer in layers)


class ExactKernels:
    """The exact conv kernels of a training run's recent live frames, by step, in the service's
    memory (never sent to viewers: the frames carry pictures). The Enlarge dialog reads the weights
    of the step the timeline shows from here; a live frame is only a picture of them."""

    def __init__(self) -> None:
        self.runs: OrderedDict[str, OrderedDict[int, tuple[bytes, list[dict[str, Any]]]]] = OrderedDict()

    def keep(self, run_id: str, kernels: dict[str, Any], data: bytes | None) -> None:
        """A heavy frame's kernels (``KernelsData`` as a dict) and their exact bytes."""
        if data is None:
            return
        frames = self.runs.setdefault(run_id, OrderedDict())
        self.runs.move_to_end(run_id)
        frames[int(kernels["step"])] = (
            data,
            [{"index": c["index"], "shape": c["kernels"]["shape"]} for c in kernels["conv"]],
        )
        while len(frames) > EXACT_FRAMES_KEPT:
            frames.popitem(last=False)
        while len(self.runs) > EXACT_RUNS_KEPT:
            self.runs.popitem(last=False)

    def forget(self, run_id: str) -> None:
        self.runs.pop(run_id, None)

    def at(self, run_id: str, step: int, layer: int) -> tuple[list[int], np.ndarray] | None:
        """(shape, values) of conv layer ``layer``'s W at ``step``; None when not kept."""
        kept = self.runs.get(run_id, {}).get(step)
        if kept is None:
            return None
        data, layers = kept
        offset = 0
        for entry in layers:
            size = int(np.prod(entry["shape"]))
            if entry["index"] == layer:
                return entry["shape"], np.frombuffer(data, np.float32, size, offset * 4)
            offset += size
        return None
