"""Predictions' forward pass: the network's outputs for a few digits at a time, as fast as
plain NumPy allows, with the numbers ``Sequential.forward`` gives (within float32 rounding).

Reading one digit is ~1.1 M multiply-adds for the cnn; what costs is the number of NumPy calls
around them (each a few µs), and strided copies whose innermost run is a handful of numbers.
Training's fused blocks (:mod:`.fused`) lay the batch out last, because a batch of 64 makes
long runs there; with one digit that layout leaves runs of 1 to 12 numbers. So a prediction
has a layout of its own: **batch first, channels last** — (N, H, W, C), as a digit's pixels
and the maps after it are most naturally read — and:

* **A convolution's patches** are copied as (positions, k·k·C) rows with a column of ones for
  the bias: for one window row the k·C numbers (k pixels, all their channels) lie side by side
  in the input, so the copy moves runs of k·C numbers (80 for the cnn's second layer). With one
  input channel (a first layer: runs of only k) the patch matrix is stored the other way round,
  (k·k + 1, positions), whose rows are runs along the image, and handed to ``matmul``
  transposed (a view: BLAS reads it as it is).
* **Pooling-offset-major positions.** The positions are ordered (offset in the pooling window,
  digit, pooled row, pooled column), so the product's output is p·p maps of the pooled size,
  one after the other: max-pooling is one reduction over the first axis, and for relu the
  reduction starts from 0 (``initial=0``: relu(max) = max(0, maxima), the activation for
  free). Pooling never reorders numbers through relu, sigmoid or tanh, so pooling the raw sums
  and activating the 4× smaller map is exact (:mod:`.fused` does the same).
* **Weights re-laid once** to match: a kernel's rows in (row, column, channel) order with the
  bias as one more row, (k·k·C + 1, F); the first dense layer after a convolution has its rows
  put in (h, w, c) order, so flatten stays a free view of the pooled maps.
* **A fixed program.** Each batch size's pass is a list of array calls on preallocated
  buffers, written out once (:class:`_Program`); a call of :meth:`FastForward.scores` copies
  the digits in and runs the list. No per-layer Python, no allocation.

The weights are read when a pass is first made, and again whenever the model's parameters are
re-made (:meth:`Sequential.pack`); the networks a prediction service reads never change in
place (a new checkpoint is a new model). Networks that :func:`.fused.plan_network` does not
fuse go through ``model.forward``. Every array call goes through the parameters' array module
(:mod:`.backend`), so the same passes run on CuPy (where relu is one more call: its reductions
take no start value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .backend import array_module, views_of
from .fused import BlockSpec, NetworkPlan, UnsupportedNetworkError, plan_network
from .layers import Conv2D, Dense, Layer, MaxPool2D
from .model import Sequential

#: Batch sizes a pass is made for (a batch is padded up to the next one). A larger batch runs
#: in chunks of the largest size whose buffers fit in :data:`MAX_PASS_BYTES`.
SIZES = (1, 2, 4, 8, 16)
#: Buffers of one pass at most (the cnn needs ~0.22 MB a digit: 3.5 MB at 16).
MAX_PASS_BYTES = 8 << 20
#: Patches with a contiguous run (k·C numbers) shorter than this are stored transposed.
SHORT_RUN = 16

_Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class FastForward:
    """Prediction-mode forward passes of a network: ``scores(x)`` = ``model.forward(x)``
    within float32 rounding, for any batch size. One thread at a time, like ``forward``."""

    def __init__(self, model: Sequential) -> None:
        self.model = model
        try:
            self.plan: NetworkPlan | None = plan_network(model)
        except UnsupportedNetworkError:
            self.plan = None
        self._pack: Any = None
        self._weights: list[Any] = []
        self._programs: dict[int, _Program] = {}
        self._largest = SIZES[-1]

    def scores(self, x: Any) -> Any:
        """x (n, *input_shape) -> the network's outputs (n, K)."""
        if self.plan is None:
            return self.model.forward(x)
        pack = self.model.pack()
        xp = pack.xp
        if pack is not self._pack:  # new (or re-made) parameters: re-lay the weights
            self._pack = pack
            self._weights = channels_last_weights(self.model, self.plan)
            one = _Program(self.model, self.plan, self._weights, 1)
            self._programs = {1: one}
            # the largest of SIZES whose buffers fit MAX_PASS_BYTES (at least 1)
            self._largest = max([s for s in SIZES if s * one.nbytes <= MAX_PASS_BYTES], default=1)
        n = x.shape[0]
        x = xp.asarray(x, dtype=pack.data.dtype)
        if n > self._largest:  # in chunks, each one pass
            step = self._largest
            return xp.concatenate([self._run(x[i : i + step]) for i in range(0, n, step)])
        return self._run(x)

    def _run(self, x: Any) -> Any:
        n = x.shape[0]
        size = next(s for s in SIZES if s >= n)
        program = self._programs.get(size)
        if program is None:
            program = self._programs[size] = _Program(self.model, self.plan, self._weights, size)  # type: ignore[arg-type]
        return program.run(x)


def channels_last_weights(model: Sequential, plan: NetworkPlan) -> list[Any]:
    """Each block's weights with its bias as the last row, in the channels-last order:
    a conv2d's (k·k·C + 1, F), rows in (row, column, channel) order; a dense layer's
    (D + 1, U), its rows in (h, w, c) order when it reads a flattened convolution's maps."""
    out: list[Any] = []
    previous: BlockSpec | None = None
    for spec in plan.blocks:
        layer = model.layers[spec.main]
        w, b = layer.params["W"], layer.params["b"]
        xp = array_module(w)
        if isinstance(layer, Conv2D):
            f = w.shape[0]  # W (F, C, k, k)
            rows = w.transpose(2, 3, 1, 0).reshape(-1, f)
        else:
            rows = w  # W (D, U)
            if previous is not None and model.layers[previous.main].kind == "conv2d":
                # flattened (C, H, W) maps — the conv block's last layer's output — read as (H, W, C)
                c, h, wd = model.layers[previous.covers[-1]].out_shape  # type: ignore[misc]
                rows = w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(w.shape)
        out.append(xp.ascontiguousarray(xp.concatenate([rows, b[None]], axis=0)))
        previous = spec
    return out


class _Program:
    """One batch size's forward pass: buffers, and the list of array calls that fill them.

    Buffers, batch first: a conv block reads (n, H + pads, W + pads, C) (zeros around, the
    previous block writes the inside); a dense block reads (n, D + 1), last column ones; the
    last block writes ``out`` (n, K).
    """

    def __init__(self, model: Sequential, plan: NetworkPlan, weights: list[Any], n: int) -> None:
        self.n = n
        self.xp = xp = array_module(weights[0])
        # relu as the pooling reduction's start value (NumPy's reductions take one; CuPy's not)
        self.relu_start = xp is np
        layers = model.layers
        dtype = weights[0].dtype
        self.calls: list[_Call] = []
        self.nbytes = 0
        # Every block's input buffer, and the view of it its predecessor writes into.
        inputs: list[tuple[Any, Any]] = []
        for spec in plan.blocks:
            layer = layers[spec.main]
            assert layer.in_shape is not None
            if isinstance(layer, Conv2D):
                c, h, w = layer.in_shape
                top, bottom, left, right = layer.pad
                buf = self._zeros((n, h + top + bottom, w + left + right, c), dtype)
                inputs.append((buf, buf[:, top : top + h, left : left + w]))
            else:
                d = layer.in_shape[0]
                buf = self._zeros((n, d + 1), dtype)
                buf[:, d] = 1  # the bias's column of ones
                inputs.append((buf, buf[:, :d]))
        first = layers[plan.blocks[0].main]
        #: where the digits are copied in: (n, H, W, C) for a conv, (n, D) for a dense layer
        self.x_in = inputs[0][1]
        self._first_is_conv = isinstance(first, Conv2D)
        for b, spec in enumerate(plan.blocks):
            layer = layers[spec.main]
            act = layers[spec.act] if spec.act is not None else None
            if b + 1 < len(plan.blocks):
                dest = inputs[b + 1][1]
            else:
                self.out = dest = self._zeros((n, layer.out_shape[0]), dtype)  # type: ignore[index]
            if isinstance(layer, Conv2D):
                pool = layers[spec.pool] if spec.pool is not None else None
                p = pool.size if isinstance(pool, MaxPool2D) else 1
                self._conv(layer, act, p, inputs[b][0], weights[b], dest)
            else:
                assert isinstance(layer, Dense)
                self._dense(act, inputs[b][0], weights[b], dest.reshape(n, -1))

    def _zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        buf = self.xp.zeros(shape, dtype=dtype)
        self.nbytes += buf.nbytes
        return buf

    def _conv(self, conv: Conv2D, act: Layer | None, p: int, src: Any, wb: Any, dest: Any) -> None:
        """Calls for conv2d [+ max-pool p×p] [+ activation]: src (n, H', W', C) -> dest, a view
        (n, PH, PW, F) (the next block's input, a conv's inside or a dense layer's first
        columns: flatten in (h, w, c) order, as its weights were re-laid)."""
        xp, n, k, s = self.xp, self.n, conv.kernel, conv.stride
        c = src.shape[3]
        f, oh, ow = conv.out_shape  # type: ignore[misc]
        ph, pw = oh // p, ow // p
        positions = p * p * n * ph * pw
        maps_out = dest.reshape(n, ph, pw, f)  # a dense layer's columns, split: still a view
        assert views_of(maps_out, dest), "the block's output must land in the next input"
        dest = maps_out
        # Every k×k window (a view): (n, OH, OW, C, k, k), the pooled part split by offset.
        win = xp.lib.stride_tricks.sliding_window_view(src, (k, k), axis=(1, 2))[:, ::s, ::s]
        win = win[:, : ph * p, : pw * p].reshape(n, ph, p, pw, p, c, k, k)
        z = self._zeros((positions, f), src.dtype)
        if k * c >= SHORT_RUN:  # (positions, k·k·C + 1): rows of k·C-long runs
            cols = self._zeros((positions, k * k * c + 1), src.dtype)
            cols[:, -1] = 1
            patches = cols[:, :-1].reshape(p, p, n, ph, pw, k, k, c)
            self.calls.append((xp.copyto, (patches, win.transpose(2, 4, 0, 1, 3, 6, 7, 5)), {}))
            self.calls.append((xp.matmul, (cols, wb), {"out": z}))
        else:  # (k·k·C + 1, positions): rows along the image, multiplied transposed
            cols = self._zeros((k * k * c + 1, positions), src.dtype)
            cols[-1] = 1
            patches = cols[:-1].reshape(k, k, c, p, p, n, ph, pw)
            self.calls.append((xp.copyto, (patches, win.transpose(6, 7, 5, 2, 4, 0, 1, 3)), {}))
            self.calls.append((xp.matmul, (cols.T, wb), {"out": z}))
        maps = z.reshape(p * p, n, ph, pw, f)  # one pooled-size map per window offset
        kind = act.kind if act is not None else None
        if p > 1 or kind in (None, "relu"):
            # the max over the window's offsets; relu folded in as the reduction's start
            start = {"initial": 0.0} if kind == "relu" and self.relu_start else {}
            self.calls.append((xp.maximum.reduce, (maps,), {"axis": 0, "out": dest, **start}))
            if kind == "relu" and not start:
                self.calls.append((xp.maximum, (dest, 0.0), {"out": dest}))
            elif kind not in (None, "relu"):
                self.calls.append((_apply, (act, dest, dest), {}))
        else:
            self.calls.append((_apply, (act, maps[0], dest), {}))

    def _dense(self, act: Layer | None, h: Any, wb: Any, dest: Any) -> None:
        """Calls for dense [+ activation]: h (n, D + 1) -> dest (n, U) = act(h @ Wb)."""
        xp = self.xp
        self.calls.append((xp.matmul, (h, wb), {"out": dest}))
        if act is not None:
            if act.kind == "relu":
                self.calls.append((xp.maximum, (dest, 0.0), {"out": dest}))
            else:
                self.calls.append((_apply, (act, dest, dest), {}))

    def run(self, x: Any) -> Any:
        """x (m, *input_shape), m <= n -> outputs (m, K) (a new array)."""
        m = x.shape[0]
        if self._first_is_conv:
            self.xp.copyto(self.x_in[:m], x.transpose(0, 2, 3, 1))  # (m, C, H, W) -> (m, H, W, C)
        else:
            self.xp.copyto(self.x_in[:m], x.reshape(m, -1))
        # Rows past m keep an earlier batch's digits: every row is computed on its own, and
        # those rows' outputs are not read.
        for call, args, kwargs in self.calls:
            call(*args, **kwargs)
        return self.out[:m].copy()


def _apply(act: Layer, z: Any, dest: Any) -> None:
    """An activation other than relu (sigmoid, tanh) of ``z`` into ``dest`` (may be ``z``)."""
    dest[...] = act.f(z)  # type: ignore[attr-defined]


__all__ = ["MAX_PASS_BYTES", "SIZES", "FastForward", "channels_last_weights"]
