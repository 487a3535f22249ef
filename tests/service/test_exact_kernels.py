"""The live frames' exact kernels the service keeps for the Enlarge dialog (QA3 dash #2): by step,
bounded in frames and runs, never for networks too large to keep."""

from __future__ import annotations

import numpy as np

from glassnet.nn.model import Sequential
from glassnet.service import frames
from glassnet.service.frames import (
    EXACT_FRAMES_KEPT,
    EXACT_RUNS_KEPT,
    ExactKernels,
    exact_kernels,
    kernels_frame,
)

SPEC = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "conv2d", "filters": 6, "kernel": 3},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}


def test_each_step_keeps_its_own_exact_kernels() -> None:
    model = Sequential.from_spec(SPEC, np.random.default_rng(0))
    kept = ExactKernels()
    before = [layer.params["W"].copy() for layer in (model.layers[0], model.layers[3])]
    kept.keep("r", kernels_frame(model, 7), exact_kernels(model))
    for layer in (model.layers[0], model.layers[3]):
        layer.params["W"] += 1.0
    kept.keep("r", kernels_frame(model, 9), exact_kernels(model))
    shape, values = kept.at("r", 7, 3)
    assert shape == [6, 4, 3, 3]
    assert np.array_equal(values.reshape(shape), before[1].astype(np.float32))
    assert np.array_equal(kept.at("r", 9, 0)[1].reshape(4, 1, 5, 5), model.layers[0].params["W"])
    assert kept.at("r", 8, 0) is None and kept.at("r", 7, 5) is None and kept.at("other", 7, 0) is None


def test_bounded_in_frames_runs_and_size(monkeypatch) -> None:
    model = Sequential.from_spec(SPEC, np.random.default_rng(0))
    kept = ExactKernels()
    for step in range(EXACT_FRAMES_KEPT + 5):
        kept.keep("r", kernels_frame(model, step), exact_kernels(model))
    assert kept.at("r", 4, 0) is None and kept.at("r", 5, 0) is not None
    for i in range(EXACT_RUNS_KEPT):
        kept.keep(f"run{i}", kernels_frame(model, 0), exact_kernels(model))
    assert "r" not in kept.runs and len(kept.runs) == EXACT_RUNS_KEPT
    monkeypatch.setattr(frames, "EXACT_KERNELS_MAX", 100)
    assert exact_kernels(model) is None  # 100 + 216 weights: too many to keep per frame
