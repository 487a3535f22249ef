"""One conv kernel or one pooled map of one digit, explained with the notes' loop code.

For a convolution layer, one kernel f and one input channel c of a traced example
(:func:`glassnet.nn.explain.trace`), :func:`explain_conv` returns every picture of the notes'
backward pass, computed by :mod:`glassnet.nn.reference` (the loop version):

* forward: the input map x_c, the kernel W[f, c] slid over it (valid correlation, output size
  M − k + 1 for stride 1), this channel's share of the feature map, and the whole map z_f;
* backward: the error map e_f = ∂C/∂z_f, zero-padded by k − 1 on every side, correlated with the
  kernel rotated 180° — the *full convolution* — giving this kernel's part of ∂C/∂x_c; summed
  over all kernels, the input's whole error ∂C/∂x_c;
* the kernel's gradient ∂C/∂W[f, c] = x_c ⋆ e_f (the input correlated with the error: each
  weight was used at every position, so its gradient adds input × error over all of them) and
  the bias's ∂C/∂b_f = Σ e_f.

Each is checked against the fast im2col path on the same float64 numbers (``checks``: the
largest absolute difference). 'same' padding is shown as zeros around the input; a stride s as
an error map with s − 1 zeros between its values (a dilated error), the two steps frameworks
use to reduce those layers to the notes' case.

:func:`explain_pool` does the same for a pooling layer: which input each window's error goes to
(max: the winner) or the even share it spreads (mean), from :func:`reference.pool_backward`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import reference
from .explain import Trace
from .layers import layer_from_spec
from .layers.conv import Conv2D
from .layers.pool import AvgPool2D, MaxPool2D

__all__ = ["ConvExplanation", "PoolExplanation", "explain_conv", "explain_pool", "layer_input"]


def layer_input(t: Trace, index: int) -> np.ndarray:
    """What layer ``index`` read: the previous layer's output, or the example itself."""
    return t.input if index == 0 else t.layers[index - 1].output


def _layer_input_grad(t: Trace, index: int) -> np.ndarray:
    """∂C/∂(layer ``index``'s input), from the library's fast backward pass."""
    return t.grad_input if index == 0 else t.layers[index - 1].grad_output


def _check_index(value: int, count: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < count:
        raise ValueError(f"{what} must be in 0..{count - 1}, got {value!r}")
    return int(value)


@dataclass
class ConvExplanation:
    """Maps of one kernel f on one input channel c (shapes in the field comments)."""

    layer: int
    kernel_index: int
    channel: int
    stride: int
    padding: tuple[int, int, int, int]  # zeros added (top, bottom, left, right)
    input: np.ndarray  # (H, W) x_c
    padded_input: np.ndarray  # (H + top + bottom, W + left + right)
    kernel: np.ndarray  # (k, k) W[f, c]
    bias: float
    partial: np.ndarray  # (OH, OW) x_c ⋆ W[f, c]: this channel's share of the map
    output: np.ndarray  # (OH, OW) z_f = Σ_c x_c ⋆ W[f, c] + b_f
    error: np.ndarray  # (OH, OW) e_f = ∂C/∂z_f
    dilated_error: np.ndarray  # ((OH-1)s+1, (OW-1)s+1): e_f with s-1 zeros between values
    padded_error: np.ndarray  # dilated error with k-1 zeros on every side
    rotated: np.ndarray  # (k, k) the kernel turned 180°
    input_grad_part: np.ndarray  # (H, W) this kernel's part of ∂C/∂x_c (full convolution)
    input_grad: np.ndarray  # (H, W) ∂C/∂x_c, all kernels
    kernel_grad: np.ndarray  # (k, k) ∂C/∂W[f, c] = x_c ⋆ e_f
    bias_grad: float  # ∂C/∂b_f = Σ e_f
    checks: dict[str, float] = field(default_factory=dict)  # max |reference − fast path|


def _fast_conv_layer(t: Trace, index: int, layer_spec: dict) -> Conv2D:
    """A float64 Conv2D with the traced weights, built for this layer's input shape."""
    layer = layer_from_spec(layer_spec, index)
    assert isinstance(layer, Conv2D)
    layer.build(layer_input(t, index).shape, np.random.default_rng(0))
    layer.astype(np.float64)
    for key, value in t.layers[index].params.items():
        layer.params[key][...] = value
    return layer


def explain_conv(t: Trace, index: int, layer_spec: dict, kernel: int, channel: int) -> ConvExplanation:
    """Kernel ``kernel`` of conv layer ``index`` on input channel ``channel`` (see the module).

    Raises:
        ValueError: not a conv layer, or kernel/channel out of range.
    """
    if layer_spec.get("type") != "conv2d":
        raise ValueError(f"layer {index} is a {layer_spec.get('type')} layer, not conv2d")
    lt = t.layers[index]
    w, b = lt.params["W"], lt.params["b"]
    f = _check_index(kernel, w.shape[0], "kernel")
    c = _check_index(channel, w.shape[1], "channel")
    fast = _fast_conv_layer(t, index, layer_spec)
    s, (top, bottom, left, right), k = fast.stride, fast.pad, fast.kernel
    x = layer_input(t, index)  # (C, H, W)
    h, wd = x.shape[1:]
    error = lt.grad_output  # (F, OH, OW)
    oh, ow = error.shape[1:]

    def pad(m: np.ndarray) -> np.ndarray:
        return np.pad(m, ((top, bottom), (left, right)))

    def dilate(e: np.ndarray) -> np.ndarray:
        out = np.zeros(((e.shape[0] - 1) * s + 1, (e.shape[1] - 1) * s + 1), dtype=e.dtype)
        out[::s, ::s] = e
        return out

    def input_grad_of(fi: int, ci: int) -> np.ndarray:
        """The full convolution of kernel fi's (dilated) error with its rotated kernel, placed
        on the padded input and cropped back to the input's size."""
        full = reference.convolve_full(dilate(error[fi]), w[fi, ci])
        on_padded = np.zeros((h + top + bottom, wd + left + right))
        on_padded[: full.shape[0], : full.shape[1]] = full
        return on_padded[top : top + h, left : left + wd]

    xp = pad(x[c])
    partial = reference.correlate_valid(xp, w[f, c])[::s, ::s]
    ed = dilate(error[f])
    part = input_grad_of(f, c)
    total = sum(input_grad_of(fi, c) for fi in range(w.shape[0]))
    kernel_grad = reference.correlate_valid(xp, ed)[:k, :k]
    bias_grad = float(error[f].sum())

    # The fast path: this kernel's error alone, then all kernels' (the traced backward pass).
    fast.forward(x[None])
    only_f = np.zeros((1, *error.shape))
    only_f[0, f] = error[f]
    fast_part = fast.backward(only_f)[0, c]
    z_f = sum(reference.correlate_valid(pad(x[ci]), w[f, ci]) for ci in range(w.shape[1])) + b[f]
    checks = {
        "input_grad_part": float(np.abs(part - fast_part).max()),
        "input_grad": float(np.abs(total - _layer_input_grad(t, index)[c]).max()),
        "kernel_grad": float(np.abs(kernel_grad - lt.grads["W"][f, c]).max()),
        "bias_grad": abs(bias_grad - float(lt.grads["b"][f])),
        "output": float(np.abs(z_f[::s, ::s] - lt.output[f]).max()),
    }
    return ConvExplanation(
        layer=index,
        kernel_index=f,
        channel=c,
        stride=s,
        padding=(top, bottom, left, right),
        input=x[c],
        padded_input=xp,
        kernel=w[f, c],
        bias=float(b[f]),
        partial=partial[:oh, :ow],
        output=lt.output[f],
        error=error[f],
        dilated_error=ed,
        padded_error=np.pad(ed, k - 1),
        rotated=reference.rotate180(w[f, c]).copy(),
        input_grad_part=part,
        input_grad=total,
        kernel_grad=kernel_grad,
        bias_grad=bias_grad,
        checks=checks,
    )


@dataclass
class PoolExplanation:
    """One channel of a pooling layer, forward and backward."""

    layer: int
    channel: int
    mode: str  # "max" or "mean"
    size: int
    stride: int
    input: np.ndarray  # (H, W)
    output: np.ndarray  # (OH, OW)
    winners: np.ndarray  # (OH, OW, 2) input (row, col) of each window's max; -1 for mean
    error: np.ndarray  # (OH, OW) ∂C/∂output
    input_grad: np.ndarray  # (H, W) ∂C/∂input
    checks: dict[str, float] = field(default_factory=dict)


def explain_pool(t: Trace, index: int, layer_spec: dict, channel: int) -> PoolExplanation:
    """Channel ``channel`` of pooling layer ``index``, by the loops of :mod:`reference`.

    Raises:
        ValueError: not a pooling layer, or the channel out of range.
    """
    kind = layer_spec.get("type")
    if kind not in (MaxPool2D.kind, AvgPool2D.kind):
        raise ValueError(f"layer {index} is a {kind} layer, not a pooling layer")
    x = layer_input(t, index)
    c = _check_index(channel, x.shape[0], "channel")
    size = int(layer_spec.get("size", 2))
    stride = int(layer_spec.get("stride") or size)
    mode = "max" if kind == MaxPool2D.kind else "mean"
    lt = t.layers[index]
    y, winners = reference.pool_forward(x[c], size, stride, mode)
    dx = reference.pool_backward(lt.grad_output[c], winners, x[c].shape, size, stride, mode)
    return PoolExplanation(
        layer=index,
        channel=c,
        mode=mode,
        size=size,
        stride=stride,
        input=x[c],
        output=y,
        winners=winners,
        error=lt.grad_output[c],
        input_grad=dx,
        checks={
            "output": float(np.abs(y - lt.output[c]).max()),
            "input_grad": float(np.abs(dx - _layer_input_grad(t, index)[c]).max()),
        },
    )
