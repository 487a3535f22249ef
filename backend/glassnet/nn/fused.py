"""The fast training path: forward pass, cost and backpropagation of a whole network, fused
per block, on preallocated buffers, with the batch as the last axis.

It computes exactly what the layers compute one by one (``Sequential.forward`` / ``backward``
with :mod:`.losses`; the tests hold the two equal within float rounding) and leaves the same
gradients in the layers' ``grads``. The layers stay the reference and stay in use wherever one
layer's output matters on its own — the dashboard's per-layer activations
(``forward_record``), gradient checks. This module only serves training, where nobody looks
at the intermediate maps, and where the time goes (predictions have a layout of their own,
batch first: :mod:`.fastforward`). What it does differently, and why each thing pays:

* **Blocks.** A convolution with its activation and max-pooling is one :class:`ConvBlock`; a
  dense layer with its activation one :class:`DenseBlock`; flatten is free. Max-pooling is done
  *before* the activation: relu, sigmoid and tanh never reorder numbers, so the max of the
  activations is the activation of the max, and the activation then runs on a 4× smaller map.
* **Batch last.** Every activation is laid out (features..., N). Then a convolution's patches
  are long contiguous runs, flatten is a free reshape, and a dense layer is ``Wb.T @ h``.
* **Bias folded in.** The parameters are packed as ``Wb`` = weights with the bias as one more
  row or column (:mod:`.params`), and every input to a matrix product carries a row of ones:
  one product computes W·x + b, and one product gives dW and db together.
* **Preallocated buffers.** Each block allocates its buffers once per batch size and writes
  into them with ``out=``: no fresh multi-MB arrays (and page faults) at every step.
* **Max-pooling as a tournament.** The k×k offsets of every window are compared in pairs,
  then the pair winners, and so on; each comparison keeps a boolean "left won" map. The error
  then flows back down the same tree: the left child gets ``g · left_won``, the right one
  ``g - that`` (exact: one of the two is 0). Ties go to the lower offset at every level, so the
  error reaches the same winner as in :class:`~glassnet.nn.layers.MaxPool2D` (the first
  maximum). For the first convolution (no input gradient needed) the patches are ordered
  pool-offset first, so each offset's map is one contiguous block (its pooling is the biggest);
  the others keep the plain order that their input error reads.
* **dW as patches @ errors^T** (then transposed, a small copy): the orientation OpenBLAS runs
  fastest for these long, thin products.
* **Later convolutions by output rows**, not im2col: the input copied k times (shifted by each
  kernel column) instead of k² times, each output row one product with the k input rows it
  reads — one contiguous block — and z, dz laid out output row first, the layout the input
  error reads (:class:`ConvBlock`, :meth:`ConvBlock._row_buffers`). For the cnn's second layer
  the im2col copy and its product took 1.58 ms, the k copies and the row products 1.32 ms
  (OpenBLAS packs the (401 × 4,096) patch matrix for W @ patches about as slowly as it
  multiplies it); dW from the same blocks as fast as from the patches; the one-core step
  7.24–7.59 → 6.57–6.65 ms with the input error below (interleaved, one process each).
* **The input's error by column bands**, not col2im, one product per input row over only the
  kernel rows that reach it, reading the error where it lies (dz is laid out output row first):
  see :meth:`ConvBlock._input_error`.
* **Short patches in column chunks.** A convolution whose patches are short (a first layer on
  one channel: 26 rows for 5×5) has products of a long, thin shape — (16 × 26) @ (26 × 36,864)
  — that OpenBLAS runs at a third of its speed on square ones. Handed to ``matmul`` as a stack
  of ~1,024-column chunks (a view: nothing is copied), both products run faster: forward
  0.53 → 0.40 ms, dW (the chunks' partial sums, then one sum) 0.62 → 0.46 ms, and the cnn's
  one-core step 6% faster (bench/train_speed.py). Longer patches (73 rows and more) gain nothing
  or lose a little, so they keep one product (:data:`CHUNK_MAX_ROWS`).

:func:`plan_network` checks that a network is made of what this module fuses (conv2d, dense,
relu / sigmoid / tanh, max-pooling with size == stride, flatten, dropout with rate 0) and says
why not otherwise; the trainer then trains layer by layer, as before. All array calls go
through the array module of the parameters (:mod:`.backend`), so the same code runs on CuPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backend import to_host, views_of
from .layers import Conv2D, Dense, Layer, MaxPool2D
from .model import Sequential
from .params import ParamPack

ACTIVATIONS = ("relu", "sigmoid", "tanh")
#: Patch rows (C·k·k + 1) up to which a convolution's products run in column chunks of at least
#: CHUNK_COLUMNS (see the module docstring; measured on 10 and 26 rows: faster, 73 and more: not).
CHUNK_MAX_ROWS = 32
CHUNK_COLUMNS = 1024


def column_chunks(columns: int) -> int:
    """How many equal chunks of at least CHUNK_COLUMNS columns ``columns`` splits into: the
    largest divisor of ``columns`` that leaves chunks that long (1: keep one product)."""
    most = columns // CHUNK_COLUMNS
    return next((d for d in range(most, 1, -1) if columns % d == 0), 1)


# -- planning: which layers form which block ---------------------------------------------------


@dataclass
class BlockSpec:
    """Layers fused into one block: a conv2d or dense layer, its activation, its pooling."""

    main: int  # index of the conv2d / dense layer
    act: int | None = None
    pool: int | None = None
    flatten_before: bool = False
    covers: list[int] = field(default_factory=list)


@dataclass
class NetworkPlan:
    """How a network is fused: its blocks, in order, and its cost function."""

    blocks: list[BlockSpec]
    loss: str


def multiply_adds(model: Sequential, plan: NetworkPlan) -> int:
    """Multiply-adds of one sample's forward pass through the fused blocks (the backward pass
    does about twice as many): how much work a share of a batch holds."""
    total = 0
    for spec in plan.blocks:
        layer = model.layers[spec.main]
        assert layer.in_shape is not None and layer.out_shape is not None
        if isinstance(layer, Conv2D):
            f, oh, ow = layer.out_shape
            total += f * oh * ow * layer.in_shape[0] * layer.kernel * layer.kernel
        else:
            total += layer.in_shape[0] * layer.out_shape[0]
    return total


class UnsupportedNetworkError(ValueError):
    """The network has a layer (or an order of layers) the fused path does not handle."""


def plan_network(model: Sequential) -> NetworkPlan:
    """Group the layers into blocks; raise :class:`UnsupportedNetworkError` naming the layer
    that does not fit (the caller then trains layer by layer)."""
    layers = model.layers
    blocks: list[BlockSpec] = []
    flatten_pending = False
    i = 0
    while i < len(layers):
        layer = layers[i]
        kind = layer.kind
        if kind == "flatten":
            flatten_pending, i = True, i + 1
            continue
        if kind == "dropout" and getattr(layer, "rate", 1.0) == 0:
            i += 1
            continue
        if kind not in ("conv2d", "dense"):
            raise UnsupportedNetworkError(f"{layer.label} cannot be fused here")
        block = BlockSpec(main=i, flatten_before=flatten_pending, covers=[i])
        flatten_pending = False
        i += 1
        # conv -> [act] -> [maxpool] or conv -> maxpool -> act; dense -> [act].
        for _ in range(2):
            if i >= len(layers):
                break
            nxt = layers[i]
            if nxt.kind in ACTIVATIONS and block.act is None:
                # Pooling before the activation is exact for relu (ties only where both are 0);
                # a saturated sigmoid can tie where the raw sums do not, so only relu may move.
                if kind == "conv2d" and nxt.kind != "relu" and _pool_follows(layers, i):
                    raise UnsupportedNetworkError(f"{nxt.label}: only relu is fused before pooling")
                block.act = i
            elif kind == "conv2d" and nxt.kind == "maxpool2d" and block.pool is None:
                assert isinstance(nxt, MaxPool2D)
                if nxt.stride != nxt.size:
                    raise UnsupportedNetworkError(f"{nxt.label}: only size == stride pooling is fused")
                block.pool = i
            else:
                break
            block.covers.append(i)
            i += 1
        blocks.append(block)
    if not blocks or layers[blocks[-1].main].kind != "dense" or flatten_pending:
        raise UnsupportedNetworkError("the network must end with a dense block to be fused")
    if model.loss not in ("cross_entropy", "mse"):
        raise UnsupportedNetworkError(f"the {model.loss} cost is not fused")
    return NetworkPlan(blocks, model.loss)


def _pool_follows(layers: list[Layer], i: int) -> bool:
    return i + 1 < len(layers) and layers[i + 1].kind == "maxpool2d"


# -- max-pooling as a tournament --------------------------------------------------------------


class _Tournament:
    """Max over a list of equally shaped maps, remembering which won, and the error's way back.

    ``views``: the maps of every window offset (row-major offset order, as MaxPool2D counts
    them); ``out``: where the maxima go. ``grads``: the matching views of the error buffer.
    """

    def __init__(self, xp: Any, views: list[Any], grads: list[Any], out: Any) -> None:
        self.xp = xp
        self.out = out
        if len(views) == 1:
            self.leaf_view, self.leaf_grad = views[0], grads[0]
            self.left = self.right = None
            return
        half = len(views) // 2
        self.left = self._child(views[:half], grads[:half], out)
        self.right = self._child(views[half:], grads[half:], out)
        self.left_won = xp.empty(out.shape, dtype=bool)

    def _child(self, views: list[Any], grads: list[Any], like: Any) -> _Tournament | tuple[Any, Any]:
        if len(views) == 1:
            return (views[0], grads[0])
        return _Tournament(self.xp, views, grads, self.xp.empty(like.shape, dtype=like.dtype))

    @staticmethod
    def _value(node: _Tournament | tuple[Any, Any]) -> Any:
        return node[0] if isinstance(node, tuple) else node.out

    def forward(self) -> None:
        """Fill ``out`` with the maxima (and the left-won maps)."""
        xp = self.xp
        if self.left is None:
            xp.copyto(self.out, self.leaf_view)
            return
        for child in (self.left, self.right):
            if isinstance(child, _Tournament):
                child.forward()
        a, b = self._value(self.left), self._value(self.right)
        xp.greater_equal(a, b, out=self.left_won)  # ties: the lower offset wins
        xp.maximum(a, b, out=self.out)

    def backward(self, g: Any) -> None:
        """Route ``g`` (the error of the maxima; overwritten) to the winners' error views."""
        xp = self.xp
        if self.left is None:
            xp.copyto(self.leaf_grad, g)
            return
        # The children's forward buffers are free now: they hold the children's errors.
        gl = self.left[1] if isinstance(self.left, tuple) else self.left.out
        gr = self.right[1] if isinstance(self.right, tuple) else self.right.out
        xp.multiply(g, self.left_won, out=gl)
        xp.subtract(g, gl, out=gr)
        for child, err in ((self.left, gl), (self.right, gr)):
            if isinstance(child, _Tournament):
                child.backward(err)


# -- activations in place ---------------------------------------------------------------------


class _Activation:
    """An activation applied in place to a block's output, and its derivative to the error."""

    def __init__(self, layer: Layer | None, xp: Any, shape: tuple[int, ...]) -> None:
        self.layer, self.xp = layer, xp
        self.kind = layer.kind if layer is not None else None
        self.mask = xp.empty(shape, dtype=bool) if self.kind == "relu" else None

    def forward(self, z: Any) -> None:
        if self.kind == "relu":
            self.xp.maximum(z, 0, out=z)
        elif self.layer is not None:
            z[...] = self.layer.f(z)  # type: ignore[attr-defined]

    def backward(self, y: Any, g: Any) -> None:
        """``g`` *= f'(x), given the activation's output ``y`` (relu: y > 0; σ: y(1 - y); ...)."""
        if self.kind == "relu":
            self.xp.greater(y, 0, out=self.mask)
            self.xp.multiply(g, self.mask, out=g)
        elif self.layer is not None:
            g *= self.layer.df(None, y)  # type: ignore[attr-defined]


# -- the blocks -------------------------------------------------------------------------------


class ConvBlock:
    """conv2d [+ max-pool] [+ activation] on (C, H, W, N) -> (F, PH, PW, N).

    Two ways to multiply, by what the layer is:

    * **A first layer** (no input error needed; one or a few channels, so short patches):
      patches (C·k·k + 1, L) with a row of ones, ``z = Wb @ patches`` (F, L) — im2col, in
      pool-offset-major order and column chunks — and ``dWb = (patches @ dz^T)^T``.
    * **Any later layer** (many channels): by output rows (:meth:`_row_buffers`). The input is
      copied k times, shifted by each kernel column j, into ``rows`` (H, k·C + 1, OW·N): the k
      input rows that output row r reads are then one contiguous (k·(k·C + 1), OW·N) block, and
      ``z[r] = W_rows @ block`` (F, OW·N): one stacked product for all output rows, z laid out
      (OH, F, OW·N). k copies of the input instead of the k² of im2col; dW is the same blocks
      times each row's error, summed over rows; and that layout of dz is the one the input error
      reads (:meth:`_input_error`).

    Then pooling into ``out``, activation in place. Backward: activation derivative, the error
    routed to the pool winners (dz), dWb, and — unless this is the first layer — the input's
    error.
    """

    def __init__(self, layers: list[Layer], spec: BlockSpec, n: int, xp: Any, ones_row: bool, x: Any) -> None:
        """``x``: the (C, H, W, N) buffer this block's input will be in (the views that read it
        are made once, here)."""
        conv = layers[spec.main]
        assert isinstance(conv, Conv2D) and conv.in_shape is not None and conv.out_shape is not None
        self.conv, self.xp, self.n = conv, xp, n
        dtype = conv.params["W"].dtype
        c, h, w = conv.in_shape
        f, oh, ow = conv.out_shape
        k, s = conv.kernel, conv.stride
        self.k, self.s, self.c, self.f = k, s, c, f
        self.kk = c * k * k
        top, bottom, left, right = conv.pad
        self.pad = conv.pad
        self.in_shape = (c, h, w, n)
        pool = layers[spec.pool] if spec.pool is not None else None
        self.p = p = pool.size if isinstance(pool, MaxPool2D) else 1
        ph, pw = oh // p, ow // p
        self.oh, self.ow, self.ph, self.pw = oh, ow, ph, pw
        #: products by output rows (a later layer) or over im2col patches (a first layer)
        self.by_rows = conv.needs_input_grad
        # Pool-offset-major patch order for a first layer (see the module docstring).
        self.pool_major = p > 1 and not self.by_rows
        self.padded = (
            xp.zeros((c, h + top + bottom, w + left + right, n), dtype=dtype) if any(conv.pad) else None
        )
        src = x
        self._interior = None
        if self.padded is not None:
            self._interior = self.padded[:, top : top + h, left : left + w]
            src = self.padded
        self._x = x
        out_size = f * ph * pw * n
        self.out_buf = xp.empty(out_size + (n if ones_row else 0), dtype=dtype)
        self.out_buf[out_size:] = 1  # the next dense layer's row of ones
        self.out = self.out_buf[:out_size].reshape(f, ph, pw, n)
        self.chunks = 1
        if self.by_rows:
            self._row_buffers(src, dtype)
        else:
            self._patch_buffers(src, dtype)
        self.dx = xp.empty((c, h, w, n), dtype=dtype) if conv.needs_input_grad else None
        self.dxp = self.padded.copy() if self.padded is not None and conv.needs_input_grad else None
        act = layers[spec.act] if spec.act is not None else None
        self.act = _Activation(act, xp, self.out.shape)
        # The pooled output and its error in the maps' order: (F, PH, PW, N) for patches,
        # (PH, F, PW, N) by rows (a transposed view: the maxima are written straight into out).
        self._out_maps = self.out.transpose(1, 0, 2, 3) if self.by_rows else self.out
        if p > 1:
            self.pool = _Tournament(xp, self._offset_maps(self.z), self._offset_maps(self.dz), self._out_maps)
        else:
            self.pool = None
        if conv.needs_input_grad:
            self._input_error_buffers(dtype)

    # -- a first layer: im2col patches ------------------------------------------------------------

    def _patch_buffers(self, src: Any, dtype: Any) -> None:
        """cols (C·k·k + 1, L), z and dz (F, L), the views that copy every k×k window of ``src``
        into cols (im2col is one copy), and the column chunks of short patches."""
        xp, k, s, c, f, n = self.xp, self.k, self.s, self.c, self.f, self.n
        p, ph, pw = self.p, self.ph, self.pw
        positions = p * p * ph * pw if self.pool_major else self.oh * self.ow
        self.cols = xp.empty((self.kk + 1, positions * n), dtype=dtype)
        self.cols[self.kk] = 1  # the row of ones that multiplies the bias
        self.z = xp.zeros((f, positions * n), dtype=dtype)  # zeros: unpooled rows/cols get no error
        self.dz = xp.zeros_like(self.z)
        self.dwt = xp.empty((self.kk + 1, f), dtype=dtype)
        win = xp.lib.stride_tricks.sliding_window_view(src, (k, k), axis=(1, 2))[:, ::s, ::s]
        win = win[:, : self.oh, : self.ow]  # (C, OH, OW, N, k, k), a view: nothing copied yet
        if self.pool_major:
            win = win[:, : ph * p, : pw * p].reshape(c, ph, p, pw, p, n, k, k)
            dst = self.cols[: self.kk].reshape(c, k, k, p, p, ph, pw, n)
            self._windows = (win.transpose(0, 6, 7, 2, 4, 1, 3, 5), dst)
        else:
            dst = self.cols[: self.kk].reshape(c, k, k, self.oh, self.ow, n)
            self._windows = (win.transpose(0, 4, 5, 1, 2, 3), dst)
        self.chunks = column_chunks(self.cols.shape[1]) if xp is np and self.kk + 1 <= CHUNK_MAX_ROWS else 1
        if self.chunks > 1:  # (chunks, rows, columns of a chunk) views of cols, z and dz^T
            nb, rows, cc = self.chunks, self.kk + 1, self.cols.shape[1] // self.chunks
            self._cols_chunks = self.cols.reshape(rows, nb, cc).transpose(1, 0, 2)
            self._z_chunks = self.z.reshape(f, nb, cc).transpose(1, 0, 2)
            self._dz_chunks = self.dz.reshape(f, nb, cc).transpose(1, 2, 0)
            self._dwt_parts = xp.empty((nb, rows, f), dtype=dtype)  # each chunk's share of dW^T

    def _patch_forward(self, wb: Any) -> None:
        """im2col into cols, then z (F, L) = Wb (F, C·k·k + 1) @ cols (in column chunks)."""
        windows, dst = self._windows
        self.xp.copyto(dst, windows)
        if self.chunks > 1:
            self.xp.matmul(wb, self._cols_chunks, out=self._z_chunks)
        else:
            self.xp.matmul(wb, self.cols, out=self.z)

    def _patch_weight_gradient(self, dwb: Any) -> None:
        """dWb (F, C·k·k + 1): every patch times the error at its position, summed (the bias row
        sums dz), into ``dwb``."""
        xp = self.xp
        if self.chunks > 1:  # summed per chunk, then the chunks' sums added
            xp.matmul(self._cols_chunks, self._dz_chunks, out=self._dwt_parts)
            xp.sum(self._dwt_parts, axis=0, out=self.dwt)
        else:
            xp.matmul(self.cols, self.dz.T, out=self.dwt)
        xp.copyto(dwb, self.dwt.T)

    # -- a later layer: by output rows ----------------------------------------------------------

    def _row_buffers(self, src: Any, dtype: Any) -> None:
        """rows (Hp, k·C + 1, OW·N): for every (padded) input row, its k shifted copies (one per
        kernel column j, strided by s) and a row of ones; the weights regrouped to match,
        W_rows (F, k, k·C + 1) = [f, i, (j, c) and the bias]; z and dz (OH, F, OW·N)."""
        xp, k, s, c, f, n, oh, ow = self.xp, self.k, self.s, self.c, self.f, self.n, self.oh, self.ow
        hp, m, width = src.shape[1], ow * n, k * c + 1
        self.rows = xp.empty((hp, width, m), dtype=dtype)
        self.rows[:, k * c] = 1  # the row of ones: with i = 0 it multiplies the bias
        shifted = self.rows[:, : k * c].reshape(hp, k, c, ow, n)
        self._shifts = [
            (shifted[:, j], src[:, :, j : j + s * ow : s].transpose(1, 0, 2, 3)) for j in range(k)
        ]
        # Output row r reads input rows s·r .. s·r + k - 1: consecutive rows of `rows`, so one
        # (k·width, OW·N) block, and the blocks of all output rows one strided view (no copy).
        windows = xp.lib.stride_tricks.sliding_window_view(self.rows.reshape(hp, -1), k, axis=0)[::s][:oh]
        self._row_blocks = windows.transpose(0, 2, 1).reshape(oh, k * width, m)  # (OH, k·width, OW·N)
        assert views_of(self._row_blocks, self.rows)  # a view: the copies above are what it reads
        # zeros: the ones-row columns of i > 0 stay 0 (the bias is counted once, with i = 0)
        self.w_rows = xp.zeros((f, k, width), dtype=dtype)
        self._w_rows_kernels = self.w_rows[:, :, : k * c].reshape(f, k, k, c)  # [f, i, j, c]
        self.z = xp.zeros((oh, f, m), dtype=dtype)  # zeros: unpooled rows/cols get no error
        self.dz = xp.zeros_like(self.z)
        self._dwt_parts = xp.empty((oh, k * width, f), dtype=dtype)  # each output row's share of dW^T
        self.dwt = xp.empty((k * width, f), dtype=dtype)

    def _row_forward(self, wb: Any) -> None:
        """The k shifted copies into rows, Wb regrouped into W_rows, then z (OH, F, OW·N): one
        stacked product, W_rows (F, k·(k·C + 1)) @ each output row's block."""
        xp, k, c, f = self.xp, self.k, self.c, self.f
        for dst, shifted in self._shifts:
            xp.copyto(dst, shifted)
        xp.copyto(self._w_rows_kernels, wb[:, : self.kk].reshape(f, c, k, k).transpose(0, 2, 3, 1))
        xp.copyto(self.w_rows[:, 0, k * c], wb[:, self.kk])
        xp.matmul(self.w_rows.reshape(f, -1), self._row_blocks, out=self.z)

    def _row_weight_gradient(self, dwb: Any) -> None:
        """dWb (F, C·k·k + 1) into ``dwb``: every output row's block times that row's error,
        summed over the rows (dW_rows), regrouped back to the layer's [f, c, i, j] order."""
        xp, k, c, f = self.xp, self.k, self.c, self.f
        xp.matmul(self._row_blocks, self.dz.transpose(0, 2, 1), out=self._dwt_parts)
        xp.sum(self._dwt_parts, axis=0, out=self.dwt)
        per_i = self.dwt.reshape(k, k * c + 1, f)  # [i, (j, c) and the ones, f]
        xp.copyto(
            dwb[:, : self.kk].reshape(f, c, k, k), per_i[:, : k * c].reshape(k, k, c, f).transpose(3, 2, 0, 1)
        )
        xp.copyto(dwb[:, self.kk], per_i[0, k * c])  # the bias: i = 0's row of ones (sums dz)

    # -- both -------------------------------------------------------------------------------------

    def _offset_maps(self, z: Any) -> list[Any]:
        """For each window offset (a, b), the map of that pixel of every window: (F, PH, PW, N)
        from patches, (PH, F, PW, N) by rows."""
        f, p, ph, pw, n, oh, ow = self.f, self.p, self.ph, self.pw, self.n, self.oh, self.ow
        if self.pool_major:
            z8 = z.reshape(f, p, p, ph, pw, n)
            return [z8[:, a, b] for a in range(p) for b in range(p)]
        if self.by_rows:
            z6 = z.reshape(oh, f, ow, n)[: ph * p, :, : pw * p].reshape(ph, p, f, pw, p, n)
            return [z6[:, a, :, :, b] for a in range(p) for b in range(p)]
        z6 = z.reshape(f, oh, ow, n)[:, : ph * p, : pw * p].reshape(f, ph, p, pw, p, n)
        return [z6[:, :, a, :, b] for a in range(p) for b in range(p)]

    def _z_as_out(self, z: Any) -> Any:
        """z (or dz) seen as (F, OH, OW, N), for a block without pooling."""
        f, oh, ow, n = self.f, self.oh, self.ow, self.n
        return z.reshape(oh, f, ow, n).transpose(1, 0, 2, 3) if self.by_rows else z.reshape(f, oh, ow, n)

    def forward(self, wb: Any) -> Any:
        """The input buffer (C, H, W, N) -> out (F, PH, PW, N); ``wb``: the packed (F, C·k·k + 1)
        weights."""
        if self._interior is not None:
            self.xp.copyto(self._interior, self._x)
        if self.by_rows:
            self._row_forward(wb)
        else:
            self._patch_forward(wb)
        if self.pool is not None:
            self.pool.forward()
        else:
            self.xp.copyto(self.out, self._z_as_out(self.z))
        self.act.forward(self.out)
        return self.out

    def backward(self, g: Any, wb: Any, dwb: Any) -> Any:
        """g (F, PH, PW, N), the error of ``out`` (overwritten) -> the input's error (C, H, W, N),
        or None for a first layer; writes dWb (F, C·k·k + 1) into ``dwb``."""
        xp = self.xp
        self.act.backward(self.out, g)
        if self.pool is not None:
            self.pool.backward(g.transpose(1, 0, 2, 3) if self.by_rows else g)
        else:
            xp.copyto(self._z_as_out(self.dz), g)
        if self.by_rows:
            self._row_weight_gradient(dwb)
        else:
            self._patch_weight_gradient(dwb)
        if self.dx is None:
            return None  # a first layer: nobody needs the input's error
        return self._input_error(wb)

    def _input_error_buffers(self, dtype: Any) -> None:
        """Buffers and views for :meth:`_input_error` (see there)."""
        xp, k, s, c, f, n, oh, ow = self.xp, self.k, self.s, self.c, self.f, self.n, self.oh, self.ow
        dst = self.dxp if self.dxp is not None else self.dx
        hp, m = dst.shape[1], ow * n
        # dz is laid out output row first, (OH, F, OW·N): the output rows that reach one input
        # row are consecutive rows of it, and their errors one contiguous (rows · F, OW·N) block.
        # Kernel rows in the order those blocks read them: by residue mod s, each descending
        # (input row h reads output row (h - i) / s through kernel row i: i down, row up).
        order = [i for rho in range(s) for i in range(k - 1, -1, -1) if i % s == rho]
        self._kernel_rows = xp.asarray(order)
        self.w_cols = xp.empty((k, c, k, f), dtype=dtype)  # W regrouped: [j, c, i in that order, f]
        # zeros: rows that no output reaches (padding, strides) are never written
        self.bands = xp.zeros((k * c, hp * m), dtype=dtype)
        bands = self.bands.reshape(k, c, hp, ow, n)
        self._band_views = [(dst[:, :, j : j + s * ow : s], bands[j]) for j in range(k)]
        # One product per input row h, over only the kernel rows that reach it.
        w_cols = self.w_cols.reshape(k * c, k * f)
        errors = self.dz.reshape(oh * f, m)
        out = self.bands.reshape(k * c, hp, m)
        self._products = []
        for h in range(hp):
            reach = [i for i in order if (h - i) % s == 0 and 0 <= (h - i) // s < oh]
            if not reach:
                continue
            q0, r0, count = order.index(reach[0]), (h - reach[0]) // s, len(reach)
            # the kernel rows that reach h are consecutive in `order`, their output rows too
            assert order[q0 : q0 + count] == reach
            assert [(h - i) // s for i in reach] == list(range(r0, r0 + count))
            a, b, o = w_cols[:, q0 * f : (q0 + count) * f], errors[r0 * f : (r0 + count) * f], out[:, h]
            assert views_of(b, self.dz) and views_of(o, self.bands)  # no copies to miss
            self._products.append((a, b, o))

    def _input_error(self, wb: Any) -> Any:
        """dC/dx (C, H, W, N): the notes' full convolution of the error with the kernels rotated
        180°, i.e. every input pixel gathers W[f, c, i, j] · dz[f, oh, ow] from each position it
        fed. Done by columns: for input row h, the error rows it fed (output rows (h - i) / s, one
        per kernel row i) are one contiguous block of ``dz`` (laid out output row first), and a
        product with the kernels regrouped by column offset j, ``(k·C, rows·F) @ (rows·F, OW·N)``,
        gives every j's band of input columns for that row; k additions of bands put them in
        place. (The plain way — patch errors ``W^T @ dz``, then k² scatter-adds of short strided
        runs (col2im) — took about a third longer: strided additions are slow in NumPy, copies
        are not.)

        One product per input row, over only the kernel rows that reach it (the first and last
        rows are reached by one, the middle ones by k): 52.4 million multiply-adds for the cnn's
        second layer, as many as its forward product, not the 78.6 million of one product over
        k shifted, zero-padded copies of the error (nor the 57.7 million of one product per pair
        of rows over those copies, as until 2026-11-30: the products and copies 1.27 → 1.01 ms on
        one core). No copy of dz at all: it is laid out output row first."""
        xp, k, c, f = self.xp, self.k, self.c, self.f
        kernels = wb[:, : self.kk].reshape(f, c, k, k).transpose(3, 1, 2, 0)  # [j, c, i, f]
        xp.copyto(self.w_cols, kernels[:, :, self._kernel_rows])
        for a, b, o in self._products:
            xp.matmul(a, b, out=o)
        dst = self.dxp if self.dxp is not None else self.dx
        (first, band), rest = self._band_views[0], self._band_views[1:]
        if self.s == 1:  # the first band is copied, not added to zeros: one pass less
            xp.copyto(first, band)
            dst[:, :, self.ow :] = 0
        else:
            dst.fill(0)
            xp.add(first, band, out=first)
        for view, band in rest:
            xp.add(view, band, out=view)
        if self.dxp is not None:
            top, _, left, _ = self.pad
            h, w = self.dx.shape[1], self.dx.shape[2]
            xp.copyto(self.dx, self.dxp[:, top : top + h, left : left + w])
        return self.dx


class DenseBlock:
    """dense [+ activation] on h (D + 1, N) (last row ones) -> y (U, N), with a ones row below
    when another dense layer follows.

    ``rows``: for a large first layer (:func:`split_rows`), where its products are cut between
    input rows [0, rows) and [rows, D + 1): ``W^T h`` as the sum of the two parts' products, and
    dW as the two parts' rows. ``helper`` (set per step, training/layer_split.py): another process
    that computes the second part's products meanwhile, into ``part`` and dWb's rows; without one
    (or when it fails) this block computes them itself, in the same operations (the same numbers
    either way). ``part``: that part's (U, N) buffer (made here when not given).
    """

    def __init__(
        self,
        layers: list[Layer],
        spec: BlockSpec,
        n: int,
        xp: Any,
        ones_row: bool,
        rows: int | None = None,
        part: Any = None,
    ) -> None:
        dense = layers[spec.main]
        assert isinstance(dense, Dense) and dense.in_shape is not None
        self.dense, self.xp, self.n = dense, xp, n
        dtype = dense.params["W"].dtype
        d, u = dense.in_shape[0], dense.units
        self.d, self.u = d, u
        self.out_buf = xp.empty((u + (1 if ones_row else 0), n), dtype=dtype)
        self.out_buf[u:] = 1
        self.out = self.out_buf[:u]
        self.dh = xp.empty((d, n), dtype=dtype) if dense.needs_input_grad else None
        act = layers[spec.act] if spec.act is not None else None
        self.act = _Activation(act, xp, self.out.shape)
        self.rows = rows
        if rows is not None and part is None:
            part = xp.empty((u, n), dtype=dtype)
        self.part = part
        self.helper: Any = None

    def forward(self, h: Any, wb: Any) -> Any:
        """h (D + 1, N) -> out (U, N) = act(Wb^T h)."""
        xp, r, helper = self.xp, self.rows, self.helper
        if r is None:
            xp.matmul(wb.T, h, out=self.out)
        else:
            # The helper computes wb[r:]^T h[r:] into self.part meanwhile, or this block does.
            helped = helper is not None and helper.forward(self.n)
            if not helped:
                xp.matmul(wb[r:].T, h[r:], out=self.part)
            xp.matmul(wb[:r].T, h[:r], out=self.out)
            if helped and not helper.wait():  # it failed: its part is made here
                xp.matmul(wb[r:].T, h[r:], out=self.part)
            self.out += self.part
        self.act.forward(self.out)
        return self.out

    def backward(self, h: Any, g: Any, wb: Any, dwb: Any) -> Any:
        """g (U, N), the error of ``out`` (overwritten) -> the error of h's first D rows (D, N)
        or None for a first layer; writes dWb (D + 1, U) into ``dwb``."""
        xp, r, helper = self.xp, self.rows, self.helper
        self.act.backward(self.out, g)
        if r is None:
            xp.matmul(h, g.T, out=dwb)
        else:
            helped = helper is not None and helper.backward(g)  # dwb[r:] = h[r:] g^T meanwhile
            if not helped:
                xp.matmul(h[r:], g.T, out=dwb[r:])
            xp.matmul(h[:r], g.T, out=dwb[:r])
            if helped and not helper.wait():
                xp.matmul(h[r:], g.T, out=dwb[r:])
        if self.dh is None:
            return None
        return xp.matmul(wb[: self.d], g, out=self.dh)


#: A first dense layer with at least this many weights (and biases) has its products cut in two
#: by input rows (:func:`split_rows`): the mlp's 785 × 128; not the notes' 785 × 16, whose
#: products are too small for a second process to pay.
SPLIT_MIN_WEIGHTS = 65_536


def split_rows(model: Sequential, plan: NetworkPlan) -> int | None:
    """Where a large first dense layer's input rows are cut (:class:`DenseBlock`), or None.

    Why: on two cores a helper process computes the second part (training/layer_split.py). The
    cut is a property of the network, not of the cores or of whether a helper runs, so a seed
    gives the same numbers on any machine and whichever process computed them. Near the middle,
    on a multiple of 8 rows."""
    first = model.layers[plan.blocks[0].main]
    if not isinstance(first, Dense) or first.in_shape is None:
        return None
    d = first.in_shape[0] + 1
    if d * first.units < SPLIT_MIN_WEIGHTS or d < 16:
        return None
    return d // 2 // 8 * 8


# -- a whole network on one share of a batch --------------------------------------------------


@dataclass
class StepStats:
    """What one share of a batch reports: the summed cost, correct answers, finiteness."""

    loss_sum: float
    correct: int
    finite: bool


class FusedNetwork:
    """The forward pass, cost and backpropagation of a network for batches of ``n`` samples.

    ``grad``: the flat vector (layout of ``pack``) that receives dCost/dθ — the pack's own
    gradients for one thread, a vector of its own for each other thread. ``params``: the flat
    vector the weights are read from (default the pack's own; a helper process reads the
    trainer's straight from shared memory, without copying them into its pack every step).
    """

    def __init__(
        self,
        model: Sequential,
        plan: NetworkPlan,
        pack: ParamPack,
        n: int,
        grad: Any,
        params: Any = None,
        buffers: dict[str, Any] | None = None,
    ) -> None:
        """``buffers``: where the first dense block's input (``"input"``, (D + 1, n)) and its
        split part (``"part"``, (U, n)) are kept (memory a helper process shares), or None."""
        self.model, self.plan, self.pack, self.n = model, plan, pack, n
        rows = split_rows(model, plan)
        xp = self.xp = pack.xp
        layers = model.layers
        self.blocks: list[ConvBlock | DenseBlock] = []
        #: each block's input buffer: (C, H, W, N) for a conv block, (D + 1, N) for a dense one
        self.inputs: list[Any] = []
        dtype = pack.data.dtype
        for b, spec in enumerate(plan.blocks):
            nxt = plan.blocks[b + 1] if b + 1 < len(plan.blocks) else None
            ones_row = nxt is not None and layers[nxt.main].kind == "dense"
            main = layers[spec.main]
            if b > 0:
                prev = self.blocks[b - 1]
                # A dense block reads the previous output with its ones row: flatten is free.
                x = prev.out_buf.reshape(-1, n) if main.kind == "dense" else prev.out
            elif main.kind == "dense":
                assert main.in_shape is not None
                x = buffers["input"] if buffers else xp.empty((main.in_shape[0] + 1, n), dtype=dtype)
                x[-1] = 1
            else:
                assert main.in_shape is not None
                x = xp.empty((*main.in_shape, n), dtype=dtype)
            self.inputs.append(x)
            if main.kind == "conv2d":
                self.blocks.append(ConvBlock(layers, spec, n, xp, ones_row, x))
            else:
                first = b == 0
                part = buffers["part"] if first and buffers else None
                self.blocks.append(DenseBlock(layers, spec, n, xp, ones_row, rows if first else None, part))
        source = pack.data if params is None else params
        self.weights = [pack.packed(source, spec.main) for spec in plan.blocks]
        self.grads = [pack.packed(grad, spec.main) for spec in plan.blocks]
        first = self.inputs[0]
        # A shared input buffer is also another batch size's (its rows lie elsewhere in the same
        # memory): its row of ones is written again at every step.
        self.ones_each_step = bool(buffers)
        # where the batch (n, *input_shape) is copied in, batch last
        self.x_in = first[:-1] if isinstance(self.blocks[0], DenseBlock) else first
        self.rows = xp.arange(n)

    def forward(self, x: Any) -> Any:
        """x (n, *input_shape) -> the last block's output (K, n) (a buffer: copy to keep it)."""
        if isinstance(self.blocks[0], DenseBlock):
            self.xp.copyto(self.x_in, x.reshape(self.n, -1).T)
            if self.ones_each_step:
                self.inputs[0][-1] = 1
        else:
            self.xp.copyto(self.x_in, x.transpose(1, 2, 3, 0))
        a = None
        for b, block in enumerate(self.blocks):
            if isinstance(block, DenseBlock):
                a = block.forward(self.inputs[b], self.weights[b])
            else:
                a = block.forward(self.weights[b])
        return a

    def run(self, x: Any, y: Any, scale: float) -> StepStats:
        """Forward, cost and backward for x (n, *input_shape), labels y (n,). The cost's gradient
        is scaled by ``scale`` (1 / the whole batch's size, so that the shares add up)."""
        xp = self.xp
        a = self.forward(x)
        loss_sum, g = self._cost(a, y, scale)
        for b in range(len(self.blocks) - 1, -1, -1):
            block = self.blocks[b]
            if isinstance(block, DenseBlock):
                g = block.backward(self.inputs[b], g, self.weights[b], self.grads[b])
            else:
                g = block.backward(g, self.weights[b], self.grads[b])
            if g is not None and b > 0 and isinstance(self.blocks[b - 1], ConvBlock):
                g = g.reshape(self.blocks[b - 1].out.shape)
        correct = xp.count_nonzero(a.argmax(axis=0) == y)
        if xp is np:
            loss = float(loss_sum)
            return StepStats(loss, int(correct), math.isfinite(loss) and bool(xp.isfinite(a).all()))
        finite = xp.isfinite(a).all() & xp.isfinite(loss_sum)
        # On a GPU the figures are read back once, after all the work is issued (each read waits
        # for the device: one wait per step, not one per figure).
        stats = to_host(xp.stack([xp.asarray(v, dtype=np.float64) for v in (loss_sum, correct, finite)]))
        return StepStats(float(stats[0]), int(stats[1]), bool(stats[2]))

    def _cost(self, out: Any, y: Any, scale: float) -> tuple[Any, Any]:
        """(summed cost, its gradient times ``scale``) for outputs (K, n) — as :mod:`.losses`."""
        xp = self.xp
        if self.plan.loss == "cross_entropy":
            # softmax down each column, -log p(correct digit); gradient p - y.
            z = out - out.max(axis=0, keepdims=True)
            e = xp.exp(z)
            p = e / e.sum(axis=0, keepdims=True)
            correct = p[y, self.rows]
            loss_sum = -xp.log(xp.maximum(correct, 1e-12)).sum()
            p[y, self.rows] -= 1
            p *= scale
            return loss_sum, p
        # squared error: sum over outputs of (a - y)², gradient 2 (a - y).
        diff = out.copy()
        diff[y, self.rows] -= 1
        loss_sum = (diff * diff).sum()
        diff *= 2 * scale
        return loss_sum, diff


def supported(model: Sequential) -> tuple[bool, str]:
    """(True, "") when :func:`plan_network` can fuse the model, else (False, why not)."""
    try:
        plan_network(model)
    except UnsupportedNetworkError as exc:
        return False, str(exc)
    return True, ""


__all__ = [
    "BlockSpec",
    "ConvBlock",
    "DenseBlock",
    "FusedNetwork",
    "NetworkPlan",
    "StepStats",
    "UnsupportedNetworkError",
    "column_chunks",
    "multiply_adds",
    "plan_network",
    "split_rows",
    "supported",
]
