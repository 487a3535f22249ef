"""The fast path for convolution: turn it into one matrix product (im2col / GEMM).

Every output pixel of a convolution is a dot product of a kernel with one k×k patch of the input
(across all input channels). Lay every patch out as a column and all kernels as rows, and the whole
layer becomes ``W (F, C·k·k) @ cols (C·k·k, N·OH·OW)`` — one BLAS call instead of millions of small
dot products. ``col2im`` scatters columns back into an image, adding where patches overlap; that
is how the gradient reaches each input pixel from every patch it took part in.

Padding is given per side, ``(top, bottom, left, right)``, because ``same`` padding with an even
kernel or a stride needs one more row or column on one side.
"""

from __future__ import annotations

import numpy as np

from .backend import array_module

Padding = tuple[int, int, int, int]


def conv_output_size(size: int, k: int, stride: int, pad_before: int, pad_after: int) -> int:
    """Output length along one axis: floor((size + pads - k) / stride) + 1.

    With stride 1 and no padding this is the notes' valid-convolution size M_x - M_w + 1.
    """
    return (size + pad_before + pad_after - k) // stride + 1


def same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) so that the output has ceil(size / stride) positions."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def im2col(x: np.ndarray, k: int, stride: int, pad: Padding) -> tuple[np.ndarray, int, int]:
    """Patches as columns.

    x (N, C, H, W) -> cols (C·k·k, OH·OW·N), ordered so that ``W.reshape(F, -1) @ cols`` is the
    convolution, laid out (F, OH, OW, N). Returns ``(cols, OH, OW)``.

    Why the batch is the last axis: the image is first copied to (C, H, W, N) order (cheap: it is
    small), and then each row of every k×k window is a run of OW·N contiguous numbers, so building
    the columns (and scattering them back in :func:`col2im`) moves long contiguous blocks.
    """
    xp = array_module(x)
    n, c, h, w = x.shape
    top, bottom, left, right = pad
    if any(pad):
        xt = xp.zeros((c, h + top + bottom, w + left + right, n), dtype=x.dtype)
        xt[:, top : top + h, left : left + w] = x.transpose(1, 2, 3, 0)
    else:
        xt = xp.ascontiguousarray(x.transpose(1, 2, 3, 0))
    oh = (h + top + bottom - k) // stride + 1
    ow = (w + left + right - k) // stride + 1
    # A strided view (no copy) of every k×k window: (C, OH, OW, N, k, k) ...
    windows = xp.lib.stride_tricks.sliding_window_view(xt, (k, k), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]
    # ... copied once into (C, k, k, OH, OW, N).
    cols = xp.ascontiguousarray(windows.transpose(0, 4, 5, 1, 2, 3))
    return cols.reshape(c * k * k, oh * ow * n), oh, ow


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], k: int, stride: int, pad: Padding) -> np.ndarray:
    """Adjoint of :func:`im2col`: cols (C·k·k, OH·OW·N) -> dx (N, C, H, W), overlaps summed.

    The result is a (N, C, H, W) view of a (C, H, W, N) array; NumPy handles either order.
    """
    n, c, h, w = x_shape
    top, bottom, left, right = pad
    hp, wp = h + top + bottom, w + left + right
    oh = (hp - k) // stride + 1
    ow = (wp - k) // stride + 1
    cols6 = cols.reshape(c, k, k, oh, ow, n)
    dxp = array_module(cols).zeros((c, hp, wp, n), dtype=cols.dtype)
    # k·k strided additions, each over all channels, positions and samples at once.
    for i in range(k):
        for j in range(k):
            dxp[:, i : i + stride * oh : stride, j : j + stride * ow : stride] += cols6[:, i, j]
    return dxp[:, top : top + h, left : left + w].transpose(3, 0, 1, 2)
