"""Network specs shared by the cap tests (tests/nn), the hostile-input suite and the service tests
(tests/service), and the browser tests (tests/e2e)."""

from __future__ import annotations

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
