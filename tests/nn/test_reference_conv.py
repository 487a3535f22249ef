"""The fast im2col convolution equals the notes' loop-by-loop convolution (reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import reference
from glassnet.nn.layers import Conv2D

TOL = 1e-5


@pytest.mark.parametrize(
    "c_in,c_out,k,h,w", [(1, 1, 3, 5, 5), (4, 2, 2, 5, 5), (3, 4, 5, 9, 8), (2, 3, 1, 4, 6)]
)
def test_fast_conv_matches_reference(c_in: int, c_out: int, k: int, h: int, w: int) -> None:
    rng = np.random.default_rng(c_in * 100 + k)
    layer = Conv2D(filters=c_out, kernel=k)
    layer.build((c_in, h, w), rng)
    layer.needs_input_grad = True
    layer.params["b"][:] = rng.standard_normal(c_out).astype(np.float32)
    x = rng.standard_normal((3, c_in, h, w)).astype(np.float32)
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)
    kernels, biases = layer.params["W"], layer.params["b"]
    dk_sum = np.zeros_like(kernels)
    db_sum = np.zeros_like(biases)
    for n in range(x.shape[0]):
        ref_y = reference.conv_forward(x[n], kernels, biases)
        assert ref_y.shape == (c_out, h - k + 1, w - k + 1)  # the notes' (Mx - Mw + 1)
        np.testing.assert_allclose(y[n], ref_y, atol=TOL, rtol=TOL)
        ref_dx, ref_dk, ref_db = reference.conv_backward(x[n], kernels, dy[n])
        np.testing.assert_allclose(dx[n], ref_dx, atol=TOL, rtol=TOL)
        dk_sum += ref_dk
        db_sum += ref_db
    np.testing.assert_allclose(layer.grads["W"], dk_sum, atol=TOL * 10, rtol=TOL)
    np.testing.assert_allclose(layer.grads["b"], db_sum, atol=TOL * 10, rtol=TOL)


def test_full_convolution_is_rotated_kernel() -> None:
    """The notes' picture: the input error is the zero-padded error correlated with rot180(K)."""
    e = np.array([[1.0, 2.0], [3.0, 4.0]])
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]])
    full = reference.convolve_full(e, kernel)
    assert full.shape == (3, 3)
    # Hand-computed: each error value stamps a copy of the kernel at its position.
    expected = np.zeros((3, 3))
    for i in range(2):
        for j in range(2):
            expected[i : i + 2, j : j + 2] += e[i, j] * kernel
    np.testing.assert_allclose(full, expected)
    np.testing.assert_array_equal(reference.rotate180(kernel), kernel[::-1, ::-1])


def test_valid_correlation_by_hand() -> None:
    x = np.arange(16.0).reshape(4, 4)
    w = np.ones((3, 3))
    out = reference.correlate_valid(x, w)
    assert out.shape == (2, 2)
    assert out[0, 0] == x[:3, :3].sum() and out[1, 1] == x[1:, 1:].sum()
