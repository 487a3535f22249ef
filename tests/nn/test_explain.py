"""The one-digit backpropagation of ``nn/explain.py`` and ``nn/explain_maps.py``, in the library."""

from __future__ import annotations

import math

import numpy as np
import pytest

from glassnet.nn import reference
from glassnet.nn.explain import (
    cost_terms,
    float64_copy,
    gradient_step,
    log_softmax,
    per_example_gradients,
    trace,
)
from glassnet.nn.explain_maps import explain_conv, explain_pool
from glassnet.nn.losses import compute_loss
from glassnet.nn.model import Sequential

SPEC = {
    "input_shape": [2, 9, 9],
    "layers": [
        {"type": "conv2d", "filters": 3, "kernel": 3},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "conv2d", "filters": 4, "kernel": 2, "stride": 2, "padding": "same"},
        {"type": "tanh"},
        {"type": "flatten"},
        {"type": "dense", "units": 5},
        {"type": "sigmoid"},
    ],
    "loss": "mse",
}


@pytest.fixture
def model() -> Sequential:
    return Sequential.from_spec(SPEC, np.random.default_rng(3))


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(4).random((2, 9, 9)).astype(np.float32)


def library_backward(model: Sequential, x: np.ndarray, target: int) -> dict[str, np.ndarray]:
    net = Sequential.from_spec(model.spec()).astype(np.float64)
    net.load_state_dict(model.state_dict())
    _, dout = compute_loss(net.loss, net.forward(x[None].astype(np.float64)), np.array([target]))
    net.backward(dout)
    return {name: g for name, _, g in net.named_params()}


def test_trace_gradients_are_the_library_backward(model: Sequential, x: np.ndarray) -> None:
    t = trace(model, x, 2)
    expected = library_backward(model, x, 2)
    for lt in t.layers:
        for key, g in lt.grads.items():
            np.testing.assert_allclose(g, expected[f"{lt.index}.{key}"], rtol=0, atol=1e-12)
    assert sorted(f"{lt.index}.{k}" for lt in t.layers for k in lt.grads) == sorted(expected)


def test_cost_terms_add_up_and_wishes_point_at_the_target(model: Sequential, x: np.ndarray) -> None:
    t = trace(model, x, 4)
    out = t.layers[-1].output
    assert t.terms == pytest.approx((out - np.eye(5)[4]) ** 2)  # the notes' (a_j − y_j)²
    assert t.terms.sum() == pytest.approx(t.cost)
    wishes = -t.layers[-1].grad_output  # −∂C/∂a = −2(a − y)
    assert wishes[4] > 0 and all(wishes[j] < 0 for j in range(5) if j != 4)


def test_hidden_wish_is_the_sum_over_the_neurons_it_feeds(model: Sequential, x: np.ndarray) -> None:
    """The notes' backprop rule at the dense layer: ∂C/∂a_i = Σ_j w_ij σ′(z_j) ∂C/∂a_j."""
    t = trace(model, x, 1)
    dense, sig = t.layers[6], t.layers[7]
    a_prev_wish = t.layers[5].grad_output
    terms = dense.params["W"] * (sig.slope * sig.grad_output)[None, :]
    np.testing.assert_allclose(terms.sum(axis=1), a_prev_wish, rtol=1e-12, atol=1e-15)
    # and a weight's gradient is the activation feeding it times the error it feeds: a·δ
    np.testing.assert_allclose(dense.grads["W"], np.outer(t.layers[5].output, dense.grad_output), rtol=1e-12)


def test_cross_entropy_terms_and_default_target() -> None:
    net = Sequential.from_spec({"input_shape": [4], "layers": [{"type": "dense", "units": 3}]})
    x = np.array([0.5, -1.0, 2.0, 0.1], dtype=np.float32)
    t = trace(net, x)  # no target: the network's own top prediction
    assert t.target == t.prediction
    assert t.terms.sum() == pytest.approx(-np.log(t.probabilities[t.target]))
    assert cost_terms("cross_entropy", t.layers[-1].output, t.target)[t.target] == pytest.approx(t.cost)


def test_trace_leaves_the_model_alone(model: Sequential, x: np.ndarray) -> None:
    before = {k: v.copy() for k, v in model.state_dict().items()}
    trace(model, x, 0)
    gradient_step(model, x[None], np.array([0]), 0.5)
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"target": 5}, r"target must be in 0\.\.4"),
        ({"target": -1}, r"target must be in 0\.\.4"),
        ({"x": np.zeros((3, 9, 9))}, "expected one example of shape"),
        ({"x": np.full((2, 9, 9), np.nan)}, "NaN"),
    ],
)
def test_bad_input_is_a_value_error(model: Sequential, x: np.ndarray, bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trace(model, bad.get("x", x), bad.get("target", 0))


def test_step_lowers_the_cost_and_follows_the_average_gradient(model: Sequential) -> None:
    rng = np.random.default_rng(5)
    xs = rng.random((6, 2, 9, 9)).astype(np.float32)
    labels = np.array([0, 1, 2, 3, 4, 0])
    r = gradient_step(model, xs, labels, 0.5)
    assert r.cost_after < r.cost_before
    assert r.curve[0] == pytest.approx(r.cost_before)  # η = 0 is where we stand
    singles = per_example_gradients(model, xs, labels)
    for name, g in r.gradient.items():
        np.testing.assert_allclose(np.mean([s[name] for s in singles], axis=0), g, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="positive"):
        gradient_step(model, xs, labels, 0.0)
    with pytest.raises(ValueError, match="positive"):
        gradient_step(model, xs, labels, float("nan"))


def test_conv_explanation_matches_the_fast_path(model: Sequential, x: np.ndarray) -> None:
    t = trace(model, x, 3)
    for index in (0, 3):  # valid stride 1, and 'same' padding with stride 2
        spec = SPEC["layers"][index]
        w = t.layers[index].params["W"]
        for f in range(w.shape[0]):
            for c in range(w.shape[1]):
                e = explain_conv(t, index, spec, f, c)
                assert max(e.checks.values()) < 1e-12, e.checks
                np.testing.assert_array_equal(e.rotated, w[f, c][::-1, ::-1])
    e = explain_conv(t, 0, SPEC["layers"][0], 1, 1)
    k = 3
    assert e.padded_error.shape == (e.error.shape[0] + 2 * (k - 1), e.error.shape[1] + 2 * (k - 1))
    # the notes' full convolution: the padded error correlated with the rotated kernel
    np.testing.assert_allclose(e.input_grad_part, reference.correlate_valid(e.padded_error, e.rotated))
    assert e.output.shape == (9 - 3 + 1, 9 - 3 + 1)  # valid output: M − k + 1
    with pytest.raises(ValueError, match=r"kernel must be in 0\.\.2"):
        explain_conv(t, 0, SPEC["layers"][0], 3, 0)
    with pytest.raises(ValueError, match="not conv2d"):
        explain_conv(t, 1, SPEC["layers"][1], 0, 0)


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d"])
def test_pool_explanation_routes_the_error(kind: str) -> None:
    spec = {
        "input_shape": [1, 6, 6],
        "layers": [{"type": kind, "size": 2}, {"type": "flatten"}, {"type": "dense", "units": 3}],
        "loss": "cross_entropy",
    }
    net = Sequential.from_spec(spec, np.random.default_rng(1))
    x = np.random.default_rng(2).random((1, 6, 6)).astype(np.float32)
    t = trace(net, x, 1)
    p = explain_pool(t, 0, spec["layers"][0], 0)
    assert max(p.checks.values()) < 1e-12
    if kind == "maxpool2d":
        # every window's error lands on its winner, nowhere else
        nonzero = {tuple(rc) for rc in np.argwhere(p.input_grad != 0)}
        winners = {tuple(rc) for rc in p.winners.reshape(-1, 2)}
        assert nonzero <= winners
        for (i, j), (r, c) in zip(np.ndindex(3, 3), p.winners.reshape(-1, 2), strict=True):
            assert p.input_grad[r, c] == p.error[i, j]
            assert p.input[r, c] == p.input[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].max()
    else:
        np.testing.assert_allclose(p.input_grad, np.kron(p.error, np.ones((2, 2))) / 4)


def test_float64_copy_computes_every_input_gradient(model: Sequential) -> None:
    copy = float64_copy(model)
    assert all(layer.needs_input_grad for layer in copy.layers)
    assert not model.layers[0].needs_input_grad


def test_log_softmax_keeps_a_confident_digits_tiny_cost_exact() -> None:
    """−log p of a digit read with p ≈ 1 − 1e-11 is ≈ 1e-11; log(1 + 1e-11) would keep ~5 of its
    digits (and a gradient step on it would seem to change nothing), log1p keeps all of them."""
    z = np.array([[30.0, 5.0, 0.0], [0.0, 2.0, 1.0]])
    got = -log_softmax(z)
    exact = math.log1p(math.exp(-25.0) + math.exp(-30.0))
    assert got[0, 0] == pytest.approx(exact, rel=1e-13)
    row = np.exp(z[1] - 2.0)
    assert got[1] == pytest.approx(-(z[1] - 2.0 - math.log(row.sum())), rel=1e-13)
    np.testing.assert_allclose(np.exp(-got).sum(axis=1), 1.0, rtol=1e-15)
