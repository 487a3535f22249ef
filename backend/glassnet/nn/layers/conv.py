"""The convolution layer: small kernels slid over the image, weights shared across positions.

A kernel is a little grid of weights that looks for one pattern (an edge, a curve) everywhere in
the image; sliding it over the input gives a *feature map* that lights up wherever the pattern is.
With C_in input channels a kernel is C_in stacked k×k grids and it has *one* bias, so a layer of
C_out kernels holds C_in·k·k·C_out + C_out parameters: the notes' example of 4 input channels and
two 2×2 kernels has 4·(2·2)·2 + 2 = 34. ``param_formula`` writes the sum out for any layer.

This is the fast implementation used for training (im2col + one matrix product). The loop version
that follows the notes line by line is :mod:`glassnet.nn.reference`; the tests check that both agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from ..im2col import Padding, col2im, conv_output_size, im2col, same_padding
from ..init import INITS, init_weights
from .base import Layer, Shape

PADDINGS = ("valid", "same")
GEMM_CHUNK = 4096


def kernel_gradient(cols: np.ndarray, dy2: np.ndarray) -> np.ndarray:
    """dC/dW = errors (F, L) @ patches^T (L, C·k·k), summed over all L = OH·OW·N positions.

    Computed as (patches @ errors^T)^T, and in chunks of positions when L is long: the same sums,
    in the orientation and block size OpenBLAS runs about twice as fast for these long, thin
    matrices (measured in bench/train_speed.py's networks).
    """
    total = cols.shape[1]
    if total <= 2 * GEMM_CHUNK:
        return (cols @ dy2.T).T
    acc = cols[:, :GEMM_CHUNK] @ dy2[:, :GEMM_CHUNK].T
    for start in range(GEMM_CHUNK, total, GEMM_CHUNK):
        acc += cols[:, start : start + GEMM_CHUNK] @ dy2[:, start : start + GEMM_CHUNK].T
    return acc.T


def _positive_int(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"conv2d: {what} must be a positive integer, got {value!r}")
    return value


class Conv2D(Layer):
    """Multi-channel 2-D convolution (strictly: cross-correlation, as in every framework).

    Shapes: x (N, C_in, H, W) -> y (N, C_out, OH, OW); W (C_out, C_in, k, k); b (C_out,).
    ``padding="valid"``: OH = (H - k) // stride + 1 (stride 1: H - k + 1, the notes' formula).
    ``padding="same"``: OH = ceil(H / stride), zeros added around the image.
    """

    kind = "conv2d"

    def __init__(
        self,
        filters: int,
        kernel: int,
        stride: int = 1,
        padding: str = "valid",
        init: str = "he",
    ) -> None:
        super().__init__()
        self.filters = _positive_int(filters, "filters")
        self.kernel = _positive_int(kernel, "kernel")
        self.stride = _positive_int(stride, "stride")
        if padding not in PADDINGS:
            raise ValueError(f"conv2d: padding must be 'valid' or 'same', got {padding!r}")
        if init not in INITS:
            raise ValueError(f"conv2d: unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.padding = padding
        self.init = init
        self.pad: Padding = (0, 0, 0, 0)
        self._cols: np.ndarray | None = None
        self._x_shape: tuple[int, ...] = ()

    def infer_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise self.fail(f"expects images (C, H, W) per sample, got shape {in_shape}")
        _, h, w = in_shape
        k, s = self.kernel, self.stride
        if self.padding == "same":
            self.pad = (*same_padding(h, k, s), *same_padding(w, k, s))
        else:
            self.pad = (0, 0, 0, 0)
            if k > h or k > w:
                raise self.fail(
                    f"kernel {k}×{k} is larger than its {h}×{w} input; "
                    "use a smaller kernel, 'same' padding, or remove a pooling layer before it"
                )
        oh = conv_output_size(h, k, s, self.pad[0], self.pad[1])
        ow = conv_output_size(w, k, s, self.pad[2], self.pad[3])
        return (self.filters, oh, ow)

    def param_shapes(self) -> dict[str, Shape]:
        assert self.in_shape is not None
        c_in, k = self.in_shape[0], self.kernel
        return {"W": (self.filters, c_in, k, k), "b": (self.filters,)}

    def workspace_size(self) -> int:
        # im2col's patch matrix: C·k·k numbers for each of the OH·OW output positions.
        assert self.in_shape is not None and self.out_shape is not None
        return self.in_shape[0] * self.kernel * self.kernel * self.out_shape[1] * self.out_shape[2]

    def init_params(self, rng: np.random.Generator) -> None:
        assert self.in_shape is not None
        c_in, k = self.in_shape[0], self.kernel
        fan_in, fan_out = c_in * k * k, self.filters * k * k
        self.params = {
            "W": init_weights(self.init, rng, (self.filters, c_in, k, k), fan_in, fan_out),
            "b": np.zeros(self.filters, dtype=np.float32),
        }
        self.grads = {key: np.zeros_like(v) for key, v in self.params.items()}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, C_in, H, W) -> y (N, C_out, OH, OW)."""
        self.check_input(x)
        n = x.shape[0]
        w = self.params["W"]
        cols, oh, ow = im2col(x, self.kernel, self.stride, self.pad)
        self._cols, self._x_shape = cols, x.shape
        # Every kernel against every patch at once: (F, C·k·k) @ (C·k·k, OH·OW·N).
        y = w.reshape(self.filters, -1) @ cols
        y += self.params["b"][:, None]  # one bias per kernel, shared by all positions
        return y.reshape(self.filters, oh, ow, n).transpose(3, 0, 1, 2)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, C_out, OH, OW) -> dx (N, C_in, H, W); fills grads W (C_out, C_in, k, k), b (C_out,)."""
        assert self._cols is not None, f"{self.label}: backward before forward"
        f = self.filters
        dy2 = dy.transpose(1, 2, 3, 0).reshape(f, -1)  # (F, OH·OW·N), im2col's column order
        # The kernel gradient is the correlation of the input with the error: patches · errors.
        self.grads["W"][...] = kernel_gradient(self._cols, dy2).reshape(self.params["W"].shape)
        self.grads["b"][...] = dy2.sum(axis=1)
        if not self.needs_input_grad:
            return array_module(dy).empty(0, dtype=dy.dtype)
        # The input gradient — the notes' full convolution with the kernel rotated 180° — is the
        # transpose of the forward product, scattered back into the image by col2im.
        dcols = self.params["W"].reshape(f, -1).T @ dy2
        return col2im(dcols, self._x_shape, self.kernel, self.stride, self.pad)

    def packed_shape(self) -> Shape:
        """(C_out, C_in·k·k + 1): each kernel as a row with its bias last, so that the forward
        product ``Wb @ [patches; 1]`` adds the bias and one product gives dW and db."""
        assert self.in_shape is not None
        return (self.filters, self.in_shape[0] * self.kernel * self.kernel + 1)

    def param_views(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        assert self.in_shape is not None
        k = packed.shape[1] - 1
        return {
            "W": packed[:, :k].reshape(self.filters, self.in_shape[0], self.kernel, self.kernel),
            "b": packed[:, k],
        }

    def config(self) -> dict[str, Any]:
        return {
            "filters": self.filters,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "init": self.init,
        }

    def param_formula(self) -> str:
        assert self.in_shape is not None
        c, k, f = self.in_shape[0], self.kernel, self.filters
        return f"{c}·({k}·{k})·{f} + {f}"
