"""Numerical gradient checks: does backward agree with a finite-difference estimate?

For each number θ the central difference (C(θ + h) - C(θ - h)) / 2h approximates dC/dθ with an
error of order h². In float64 with h ≈ 1e-5 the relative error of a correct backward pass is far
below 1e-6; a wrong index or a forgotten term shows up as an error near 1.
The cost used is C = sum(y · r) for a fixed random r, so dC/dy = r exercises every output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .layers import Layer


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a| + |b|, tiny): scale-free comparison of two gradients."""
    denom = max(float(np.max(np.abs(a) + np.abs(b))), 1e-12)
    return float(np.max(np.abs(a - b)) / denom)


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """dF/dx by central differences, perturbing ``x`` in place one element at a time."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + h
        plus = f()
        x[idx] = old - h
        minus = f()
        x[idx] = old
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def check_layer(
    layer: Layer,
    x: np.ndarray,
    rng: np.random.Generator,
    train: bool = False,
    before_forward: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Relative error of the analytic gradient for the input (``"x"``) and every parameter.

    ``layer`` must be built; it is converted to float64. ``before_forward`` runs before every
    forward pass (e.g. to reseed a dropout mask so every evaluation uses the same mask).
    """
    layer.astype(np.float64)
    x = x.astype(np.float64)

    def run() -> np.ndarray:
        if before_forward:
            before_forward()
        return layer.forward(x, train)

    r = rng.standard_normal(run().shape)

    def cost() -> float:
        return float(np.sum(run() * r))

    run()
    dx = layer.backward(r)
    analytic = {"x": dx, **{k: g.copy() for k, g in layer.grads.items()}}
    errors = {"x": relative_error(analytic["x"], numerical_gradient(cost, x))}
    for key, p in layer.params.items():
        errors[key] = relative_error(analytic[key], numerical_gradient(cost, p))
    return errors
