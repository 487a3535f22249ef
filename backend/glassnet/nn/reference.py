"""The convolution exactly as the teaching notes describe it, with explicit loops.

Slow on purpose: every line is one sentence of the notes. It is the oracle the fast im2col layer
(:mod:`glassnet.nn.layers.conv`) is tested against, and the text to read when learning how a CNN
learns. Stride 1, no padding ("valid"), one bias per kernel.

Shapes: x (C, H, W) for one sample; kernels K (F, C, k, k); biases b (F,);
output / error maps (F, H - k + 1, W - k + 1).
"""

from __future__ import annotations

import numpy as np


def correlate_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of one 2-D map with one 2-D kernel.

    x (Mx, Nx), w (Mw, Nw) -> (Mx - Mw + 1, Nx - Nw + 1): slide the kernel over every position
    where it fits entirely inside the image and take the sum of the element-wise products.
    """
    mx, nx = x.shape
    mw, nw = w.shape
    out = np.zeros((mx - mw + 1, nx - nw + 1), dtype=np.result_type(x, w))
    for i in range(mx - mw + 1):
        for j in range(nx - nw + 1):
            # The kernel laid over the patch at (i, j): multiply overlapping values, add them up.
            out[i, j] = np.sum(x[i : i + mw, j : j + nw] * w)
    return out


def rotate180(w: np.ndarray) -> np.ndarray:
    """The kernel turned upside down and left to right (flipped along both axes)."""
    return w[::-1, ::-1]


def convolve_full(e: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Full convolution: pad the error map with k - 1 zeros on every side, then correlate it with
    the kernel rotated 180°. e (OH, OW), w (k, k) -> (OH + k - 1, OW + k - 1), the input's size."""
    kh, kw = w.shape
    padded = np.zeros((e.shape[0] + 2 * (kh - 1), e.shape[1] + 2 * (kw - 1)), dtype=e.dtype)
    padded[kh - 1 : kh - 1 + e.shape[0], kw - 1 : kw - 1 + e.shape[1]] = e
    return correlate_valid(padded, rotate180(w))


def conv_forward(x: np.ndarray, kernels: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """Forward pass of a multi-channel conv layer for one sample.

    Feature map f = sum over input channels c of (x_c ⋆ K_f,c) + b_f: each kernel has one slice per
    input channel and a single bias. x (C, H, W) -> (F, H - k + 1, W - k + 1).
    """
    f_count, c_count = kernels.shape[:2]
    maps = []
    for f in range(f_count):
        total = sum(correlate_valid(x[c], kernels[f, c]) for c in range(c_count))
        maps.append(total + biases[f])
    return np.stack(maps)


def conv_backward(
    x: np.ndarray, kernels: np.ndarray, error: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass for one sample, given the error dC/d(output) of shape (F, OH, OW).

    Returns (dC/dx, dC/dK, dC/db):
    * the input's error is the sum over kernels of the *full convolution* of that kernel's error
      map with the kernel rotated 180° — each input pixel collects blame from every output it fed;
    * the kernel's gradient is the valid correlation of the input channel with the error map —
      "a convolution of the input and the error";
    * the bias's gradient is the sum of its error map (the bias was added at every position).
    """
    f_count, c_count = kernels.shape[:2]
    dx = np.zeros_like(x, dtype=np.result_type(x, error))
    dk = np.zeros_like(kernels, dtype=np.result_type(x, error))
    db = np.zeros(f_count, dtype=np.result_type(x, error))
    for f in range(f_count):
        db[f] = error[f].sum()
        for c in range(c_count):
            dx[c] += convolve_full(error[f], kernels[f, c])
            dk[f, c] = correlate_valid(x[c], error[f])
    return dx, dk, db


def pool_forward(x: np.ndarray, size: int, stride: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Pooling of one map, window by window: x (H, W) -> (y (OH, OW), winners (OH, OW, 2)).

    ``mode="max"`` keeps each window's largest value and remembers where it was (the first one on
    a tie); ``mode="mean"`` keeps the window's average (winners are then -1).
    OH = (H - size) // stride + 1.
    """
    if mode not in ("max", "mean"):
        raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
    oh, ow = (x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1
    y = np.zeros((oh, ow), dtype=x.dtype)
    winners = np.full((oh, ow, 2), -1, dtype=np.int64)
    for i in range(oh):
        for j in range(ow):
            window = x[i * stride : i * stride + size, j * stride : j * stride + size]
            if mode == "mean":
                y[i, j] = window.sum() / (size * size)
                continue
            best = (0, 0)
            for u in range(size):
                for v in range(size):
                    if window[u, v] > window[best]:
                        best = (u, v)
            y[i, j] = window[best]
            winners[i, j] = (i * stride + best[0], j * stride + best[1])
    return y, winners


def pool_backward(
    error: np.ndarray, winners: np.ndarray, in_shape: tuple[int, int], size: int, stride: int, mode: str
) -> np.ndarray:
    """The error of a pooled map handed back to its input, window by window: (OH, OW) -> in_shape.

    Max: only the winner of each window influenced the output, so it alone gets the window's
    error. Mean: every input of the window contributed 1/size² of the output, so each gets that
    share of the error. Overlapping windows add up.
    """
    dx = np.zeros(in_shape, dtype=error.dtype)
    for i in range(error.shape[0]):
        for j in range(error.shape[1]):
            if mode == "max":
                r, c = winners[i, j]
                dx[r, c] += error[i, j]
            else:
                dx[i * stride : i * stride + size, j * stride : j * stride + size] += error[i, j] / (
                    size * size
                )
    return dx
