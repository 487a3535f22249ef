"""All of a network's parameters in one flat vector, and all its gradients in another.

A layer keeps its ``params`` and ``grads`` dicts (the layer contract is unchanged), but the
arrays in them become *views* into two flat vectors owned by a :class:`ParamPack`. Two things
follow:

* gradient descent is a handful of whole-vector operations instead of a few per parameter
  (``optim.py``'s flat step: the same arithmetic, ~10 NumPy calls per step in all);
* each layer's slice is laid out as :meth:`Layer.packed_shape` says: a dense layer's as
  ``(D_in + 1, units)`` (the bias is the last row of W) and a convolution's as
  ``(C_out, C_in·k·k + 1)`` (each kernel a row, its bias last), so the fast training path
  (:mod:`.fused`) multiplies by weights *and* bias in one matrix product, and one product gives
  dW and db together.

Names are the model's (``"0.W"``); :meth:`ParamPack.named_views` cuts any vector of the same
layout (optimizer state, another thread's gradients) into the same named views.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .backend import array_module
from .layers import Layer


class ParamPack:
    """Flat storage for the parameters and gradients of ``layers`` (which it rewires to views).

    ``data`` and ``grad`` are 1-D arrays of the parameters' dtype on their device;
    ``decay_mask`` is 1 where a weight sits and 0 for biases (weight decay skips thresholds).
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        owners = [layer for layer in self.layers if layer.params]
        first = next((p for layer in owners for p in layer.params.values()), None)
        xp = array_module(first) if first is not None else np
        dtype = first.dtype if first is not None else np.float32
        #: (layer index, offset, packed shape) for every layer with parameters.
        self.segments: list[tuple[int, int, tuple[int, ...]]] = []
        offset = 0
        for i, layer in enumerate(self.layers):
            if layer.params:
                shape = tuple(layer.packed_shape())
                self.segments.append((i, offset, shape))
                offset += math.prod(shape)
        self.size = offset
        self.xp = xp
        self.data = xp.zeros(offset, dtype=dtype)
        self.grad = xp.zeros(offset, dtype=dtype)
        self.decay_mask = xp.zeros(offset, dtype=dtype)
        for name, view in self.named_views(self.decay_mask):
            if name.endswith(".W"):
                view[...] = 1
        for i, layer in enumerate(self.layers):
            if not layer.params:
                continue
            values = self.layer_views(i, self.data)
            for key, p in layer.params.items():
                if values[key].shape != p.shape:
                    raise ValueError(f"{layer.label}: packed view of {key} has shape {values[key].shape}")
                values[key][...] = p
            layer.params = values
            layer.grads = self.layer_views(i, self.grad)
        self._remember_views()

    def move_to(self, data: Any, grad: Any) -> None:
        """Keep the parameters and gradients in ``data`` and ``grad`` from now on (flat vectors of
        this size and dtype, e.g. in memory a helper process shares: training/layer_split.py):
        their values are copied there and every layer's views re-made. Views taken before
        (a fused network's weights) see the old vectors: make them again."""
        for new, old in ((data, self.data), (grad, self.grad)):
            if new.shape != old.shape or new.dtype != old.dtype:
                raise ValueError(f"a vector of {new.shape} {new.dtype} for {old.shape} {old.dtype}")
            new[...] = old
        self.data, self.grad = data, grad
        for i, layer in enumerate(self.layers):
            if layer.params:
                layer.params = self.layer_views(i, data)
                layer.grads = self.layer_views(i, grad)
        self._remember_views()

    def _remember_views(self) -> None:
        # (layer, name, its parameter view, its gradient view): what is_current() checks, each step
        owners = [layer for layer in self.layers if layer.params]
        self._checks = [(layer, k, layer.params[k], layer.grads[k]) for layer in owners for k in layer.params]

    # -- layout ----------------------------------------------------------------------------
    def packed(self, flat: Any, index: int) -> Any:
        """Layer ``index``'s slice of a flat vector of this layout, in its packed shape."""
        for i, offset, shape in self.segments:
            if i == index:
                return flat[offset : offset + math.prod(shape)].reshape(shape)
        raise KeyError(f"layer {index} has no parameters")

    def layer_views(self, index: int, flat: Any) -> dict[str, Any]:
        """Layer ``index``'s named views into a flat vector of this layout."""
        return self.layers[index].param_views(self.packed(flat, index))

    def named_views(self, flat: Any) -> Iterator[tuple[str, Any]]:
        """(``"i.W"``, view) for every parameter, in the model's order, into ``flat``."""
        for i, _, _ in self.segments:
            for key, view in self.layer_views(i, flat).items():
                yield f"{i}.{key}", view

    def zeros(self) -> Any:
        """A new zeroed flat vector of this layout (another thread's gradients, optimizer state)."""
        return self.xp.zeros(self.size, dtype=self.data.dtype)

    def is_current(self) -> bool:
        """True while every layer still holds this pack's views (astype() replaces them)."""
        for layer, k, p, g in self._checks:  # a plain loop: a generator costs more, every step
            if layer.params.get(k) is not p or layer.grads.get(k) is not g:
                return False
        return True
