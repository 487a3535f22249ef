"""The layer contract every layer follows.

A layer maps a batch ``x`` of shape ``(N, *in_shape)`` to ``y`` of shape ``(N, *out_shape)``.

* ``build(in_shape, rng)`` does shape inference: it checks that the layer fits the shape coming in,
  creates the parameters and returns the per-sample output shape.
* ``forward(x, train=False)`` keeps what backward needs on the layer (its cache).
* ``backward(dy)`` takes dCost/dy and returns dCost/dx; it *overwrites* ``grads`` (nothing to zero).
* ``params`` and ``grads`` are dicts with the same keys (``"W"``, ``"b"``).

The arrays may live in one flat vector per network (:class:`glassnet.nn.params.ParamPack`): a
layer then holds views into it, laid out by :meth:`Layer.packed_shape` / :meth:`Layer.param_views`
so that the fast training path (:mod:`glassnet.nn.fused`) can use a weight matrix with its bias
folded in as one more row or column. ``backward`` therefore writes its gradients *into* the
``grads`` arrays instead of replacing them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..backend import is_array

Shape = tuple[int, ...]


def format_shape(shape: Shape) -> str:
    """``(8, 12, 12)`` -> ``"(N, 8, 12, 12)"``: a batch shape as the error messages show it."""
    return "(" + ", ".join(["N", *(str(d) for d in shape)]) + ")"


class Layer:
    """Base class: shape bookkeeping, input validation and the spec round trip."""

    #: The ``"type"`` of the layer in a spec (``"dense"``, ``"conv2d"``, ...).
    kind: ClassVar[str] = "layer"

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.in_shape: Shape | None = None
        self.out_shape: Shape | None = None
        #: How errors name this layer; the model sets it to e.g. ``"layer 2 (conv2d)"``.
        self.label: str = self.kind
        #: The first layer of a network need not compute dCost/dx (nobody uses it); the model
        #: clears this flag there, which saves the most expensive backward convolution.
        self.needs_input_grad: bool = True

    # -- shape inference -------------------------------------------------------------------
    def build(self, in_shape: Shape, rng: np.random.Generator) -> Shape:
        """Check ``in_shape`` (per sample), create parameters with ``rng``, return the output shape."""
        self.in_shape = tuple(int(d) for d in in_shape)
        self.out_shape = self.infer_shape(self.in_shape)
        self.init_params(rng)
        return self.out_shape

    def infer_shape(self, in_shape: Shape) -> Shape:
        """Per-sample output shape; raise ``ValueError`` (via :meth:`fail`) when ``in_shape`` does not fit."""
        return in_shape

    def init_params(self, rng: np.random.Generator) -> None:
        """Create ``params`` (and zeroed ``grads``); layers without parameters do nothing."""

    def fail(self, message: str) -> ValueError:
        """A ``ValueError`` that names this layer: ``"layer 3 (conv2d): ..."``."""
        return ValueError(f"{self.label}: {message}")

    # -- the forward/backward contract -----------------------------------------------------
    def check_input(self, x: np.ndarray) -> None:
        """Reject the wrong rank, shape or dtype with a message naming the expected shape."""
        if self.in_shape is None:
            raise self.fail("layer used before build(); build it with an input shape first")
        if not is_array(x):
            raise self.fail(f"expected a NumPy array, got {type(x).__name__}")
        if not np.issubdtype(x.dtype, np.floating):
            raise self.fail(f"expected a floating-point array, got dtype {x.dtype}")
        if x.ndim != len(self.in_shape) + 1 or tuple(x.shape[1:]) != self.in_shape:
            raise self.fail(f"expected input of shape {format_shape(self.in_shape)}, got {tuple(x.shape)}")

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- description -----------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The layer's spec entry, without ``"type"``."""
        return {}

    def spec(self) -> dict[str, Any]:
        return {"type": self.kind, **self.config()}

    def param_shapes(self) -> dict[str, Shape]:
        """Each parameter's shape, from the input shape alone (nothing allocated): the model
        checks its caps with these before any weight exists."""
        return {}

    def param_count(self) -> int:
        return int(sum(math.prod(s) for s in self.param_shapes().values()))

    def workspace_size(self) -> int:
        """Numbers per sample the layer keeps for backward besides its output (e.g. conv's patch
        matrix), from the shapes alone; used to bound a batch's memory before training."""
        return 0

    def param_formula(self) -> str:
        """How the parameter count comes about, in the notes' terms (``"784·16 + 16"``)."""
        return "0"

    def astype(self, dtype: np.dtype | type) -> None:
        """Convert parameters (and gradients) in place, e.g. to float64 for gradient checks."""
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
            self.grads[key] = self.params[key] * 0

    # -- packing into one flat vector ------------------------------------------------------
    def packed_shape(self) -> Shape:
        """Shape of this layer's slice of the network's flat parameter vector.

        By default the parameters one after the other, ``(total,)``; layers whose fast path
        folds the bias into a matrix product override this (see Dense and Conv2D).
        """
        return (self.param_count(),)

    def param_views(self, packed: Any) -> dict[str, Any]:
        """Views into ``packed`` (of :meth:`packed_shape`), one per parameter, with its shape."""
        views, offset = {}, 0
        for key, p in self.params.items():
            size = math.prod(p.shape)
            views[key] = packed[offset : offset + size].reshape(p.shape)
            offset += size
        return views

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
