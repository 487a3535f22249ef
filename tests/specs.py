"""Network specs shared by the cap tests (tests/nn), the hostile-input suite and the service tests
(tests/service), and the browser tests (tests/e2e)."""

from __future__ import annotations

import numpy as np

from glassnet.nn import Sequential
from glassnet.presets import PRESETS, load_preset

# One dense layer of 7.8e9 weights: over the parameter cap before anything is allocated.
HUGE_DENSE = {
    "input_shape": [1, 28, 28],
    "layers": [{"type": "flatten"}, {"type": "dense", "units": 10_000_000}],
}
# 32 'same' 5x5 kernels on 28x28: fine per sample, over the activation cap at batch 4096.
WIDE_CONV = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 32, "kernel": 5, "padding": "same"},
        {"type": "relu"},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
}
SMALL = {"input_shape": [1, 28, 28], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}
# 784-32-10: a few epochs reach ~90% on the small test datasets (the CLI's and the Ray tests).
MLP32 = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 32},
        {"type": "relu"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}
# A small MLP: fast enough to train many steps in a test.
TINY_MLP = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 16},
        {"type": "relu"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}


# Networks the fused training path (tests/nn/test_fused.py) and the prediction pass
# (tests/nn/test_fastforward.py) handle beyond the presets: strides, 'same' padding, pooling
# that leaves a remainder, conv without pooling, pooling before the activation (relu, tanh),
# sigmoid, squared error.
FUSED_SPECS = {
    "stride-same-padding": {
        "input_shape": [2, 11, 11],
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "padding": "same"},
            {"type": "relu"},
            {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
            {"type": "maxpool2d", "size": 2},
            {"type": "relu"},
            {"type": "flatten"},
            {"type": "dense", "units": 5},
        ],
    },
    "pool-remainder-3x3": {
        "input_shape": [1, 14, 14],
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 3},
            {"type": "conv2d", "filters": 2, "kernel": 2},
            {"type": "relu"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 6},
            {"type": "tanh"},
            {"type": "dense", "units": 3},
        ],
    },
    "pool-then-tanh": {
        "input_shape": [2, 9, 9],
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 2},
            {"type": "maxpool2d", "size": 2},
            {"type": "tanh"},
            {"type": "flatten"},
            {"type": "dense", "units": 3},
        ],
    },
    "sigmoid-mse-no-pool": {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3},
            {"type": "sigmoid"},
            {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
            {"type": "sigmoid"},
        ],
        "loss": "mse",
    },
}


#: Every network the fused paths are held to the layers on: the presets, then FUSED_SPECS.
FUSED_NETWORKS = {**{name: load_preset(name) for name in PRESETS}, **FUSED_SPECS}


def batch_for(spec: dict, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(x, labels) for a spec: random float32 inputs with blank rows (exact ties inside pooling
    windows) and a flat band."""
    rng = np.random.default_rng(seed)
    shape = tuple(spec.get("input_shape", [1, 28, 28]))
    x = rng.random((n, *shape)).astype(np.float32)
    x[: n // 2, :, : shape[1] // 3] = 0  # blank rows: exact ties inside pooling windows
    x[n // 2 :, :, :, :2] = 0.5
    k = Sequential.from_spec(spec).output_shape[0]
    return x, rng.integers(0, k, n)
