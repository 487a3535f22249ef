"""Bar 1: every layer's backward agrees with central differences (float64, rel. error < 1e-6)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from glassnet.nn.gradcheck import check_layer
from glassnet.nn.layers import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)

TOL = 1e-6

CASES: list[tuple[str, type[Layer], dict, tuple[int, ...]]] = [
    ("dense", Dense, {"units": 7}, (5,)),
    ("dense-xavier", Dense, {"units": 3, "init": "xavier"}, (11,)),
    ("conv-valid", Conv2D, {"filters": 3, "kernel": 3}, (2, 6, 7)),
    ("conv-1x1", Conv2D, {"filters": 2, "kernel": 1}, (3, 4, 4)),
    ("conv-stride2", Conv2D, {"filters": 2, "kernel": 3, "stride": 2}, (2, 7, 7)),
    ("conv-same", Conv2D, {"filters": 2, "kernel": 3, "padding": "same"}, (2, 5, 6)),
    ("conv-same-even", Conv2D, {"filters": 2, "kernel": 2, "padding": "same"}, (1, 5, 5)),
    (
        "conv-same-stride2",
        Conv2D,
        {"filters": 3, "kernel": 5, "stride": 2, "padding": "same"},
        (2, 8, 7),
    ),
    ("conv-notes", Conv2D, {"filters": 2, "kernel": 2}, (4, 5, 5)),
    ("maxpool", MaxPool2D, {"size": 2}, (2, 6, 6)),
    ("maxpool-odd", MaxPool2D, {"size": 2}, (2, 5, 7)),
    ("maxpool-overlap", MaxPool2D, {"size": 3, "stride": 2}, (2, 7, 7)),
    ("avgpool", AvgPool2D, {"size": 2}, (3, 4, 6)),
    ("avgpool-overlap", AvgPool2D, {"size": 3, "stride": 1}, (1, 5, 5)),
    ("flatten", Flatten, {}, (2, 3, 4)),
    ("relu", ReLU, {}, (3, 4, 4)),
    ("leaky_relu", LeakyReLU, {"alpha": 0.1}, (9,)),
    ("sigmoid", Sigmoid, {}, (2, 3, 3)),
    ("tanh", Tanh, {}, (8,)),
    ("softmax", Softmax, {}, (10,)),
    ("dropout-eval", Dropout, {"rate": 0.5}, (6,)),
]


@pytest.mark.parametrize("name,cls,kwargs,shape", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("batch", [1, 3])
def test_layer_gradients(name: str, cls: type[Layer], kwargs: dict, shape: tuple, batch: int) -> None:
    # crc32, not hash(): str hashes are salted per process (PYTHONHASHSEED), so the seed would change
    rng = np.random.default_rng(zlib.crc32(name.encode()) + batch)
    layer = cls(**kwargs)
    layer.build(shape, rng)
    x = rng.standard_normal((batch, *shape))
    if cls in (ReLU, LeakyReLU):
        # Keep inputs away from the kink at 0, where the derivative is undefined.
        x = np.where(np.abs(x) < 0.05, 0.3, x)
    errors = check_layer(layer, x, rng)
    assert set(errors) == {"x", *layer.params}
    for key, err in errors.items():
        assert err < TOL, f"{name}: gradient of {key} off by {err:.2e}"


def test_dropout_gradient_in_training_mode() -> None:
    rng = np.random.default_rng(1)
    layer = Dropout(rate=0.4)
    layer.build((20,), rng)

    def same_mask() -> None:
        layer.rng = np.random.default_rng(123)

    errors = check_layer(layer, rng.standard_normal((4, 20)), rng, train=True, before_forward=same_mask)
    assert errors["x"] < TOL
    # And the mask really drops something while training, and nothing at prediction time.
    x = np.ones((50, 20))
    assert (layer.forward(x, train=True) == 0).any()
    assert np.array_equal(layer.forward(x, train=False), x)


def test_gradient_check_catches_a_wrong_backward() -> None:
    """The checker itself must be able to fail."""

    class BrokenSigmoid(Sigmoid):
        def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return y  # should be y * (1 - y)

    rng = np.random.default_rng(0)
    layer = BrokenSigmoid()
    layer.build((5,), rng)
    assert check_layer(layer, rng.standard_normal((2, 5)), rng)["x"] > 1e-2


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_loss_gradients(loss: str) -> None:
    from glassnet.nn.gradcheck import numerical_gradient, relative_error
    from glassnet.nn.losses import compute_loss

    rng = np.random.default_rng(2)
    out = rng.standard_normal((4, 10))
    labels = rng.integers(0, 10, 4)
    _, grad = compute_loss(loss, out.copy(), labels)
    numeric = numerical_gradient(lambda: compute_loss(loss, out.copy(), labels)[0], out)
    assert relative_error(grad, numeric) < TOL


def test_whole_network_gradient() -> None:
    """Backprop through a whole CNN (conv, pool, dense, softmax cross-entropy) matches numerics."""
    from glassnet.nn import Sequential, compute_loss
    from glassnet.nn.gradcheck import numerical_gradient, relative_error

    spec = {
        "input_shape": [1, 8, 8],
        "layers": [
            {"type": "conv2d", "filters": 2, "kernel": 3, "padding": "same"},
            {"type": "tanh"},
            {"type": "avgpool2d", "size": 2},
            {"type": "conv2d", "filters": 3, "kernel": 2, "stride": 2},
            {"type": "sigmoid"},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 4},
        ],
    }
    rng = np.random.default_rng(3)
    model = Sequential.from_spec(spec, rng).astype(np.float64)
    x = rng.standard_normal((3, 1, 8, 8))
    y = rng.integers(0, 4, 3)

    def cost() -> float:
        return compute_loss("cross_entropy", model.forward(x), y)[0]

    _, d = compute_loss("cross_entropy", model.forward(x), y)
    model.backward(d)
    for name, p, g in model.named_params():
        analytic = g.copy()
        assert relative_error(analytic, numerical_gradient(cost, p)) < TOL, name
