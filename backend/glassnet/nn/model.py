"""Sequential: a network as a list of layers, built from a plain JSON-able spec.

A spec is data a user can read, copy and edit::

    {"input_shape": [1, 28, 28],
     "layers": [{"type": "conv2d", "filters": 8, "kernel": 5}, {"type": "relu"}, ...],
     "loss": "cross_entropy"}

``Sequential.from_spec`` infers every layer's output shape in order, so an architecture that does
not fit fails before training with a message naming the layer. Parameters are named
``"<layer index>.<param>"`` (``"0.W"``), the names used in checkpoints and optimizer state.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import array_module, device_of, module_for, to_host
from .layers import Layer, Shape, format_shape, layer_from_spec
from .losses import check_loss
from .params import ParamPack

MAX_LAYERS = 64
MAX_PARAMS = 20_000_000
# What one mini-batch may keep alive for backpropagation (float32 activations and conv patch
# matrices, see Sequential.batch_bytes); a training process peaks at about twice this.
MAX_ACTIVATION_BYTES = 512 * 2**20
FLOAT_BYTES = 4  # float32


@dataclass(frozen=True)
class LayerInfo:
    """One row of the model summary: what a layer turns its input into and what it costs."""

    index: int
    type: str
    output_shape: Shape
    params: int
    formula: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "formula": self.formula,
        }


def _mib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _shape(value: Any) -> Shape:
    if (
        not isinstance(value, list | tuple)
        or not 1 <= len(value) <= 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 4096 for d in value)
    ):
        raise ValueError(f"input_shape must be 1 to 3 positive integers like [1, 28, 28], got {value!r}")
    return tuple(value)


class Sequential:
    """Layers applied one after the other: x -> layer 0 -> layer 1 -> ... -> output."""

    def __init__(
        self,
        layers: list[Layer],
        input_shape: Shape,
        rng: np.random.Generator | None = None,
        loss: str = "cross_entropy",
        allocate: bool = True,
    ) -> None:
        """``allocate=False`` infers shapes and checks the caps only: no parameter exists, so the
        summary works but forward does not (what a spec check needs, at no memory cost)."""
        if not layers:
            raise ValueError("a network needs at least one layer")
        if len(layers) > MAX_LAYERS:
            raise ValueError(f"at most {MAX_LAYERS} layers, got {len(layers)}")
        check_loss(loss)
        rng = rng if rng is not None else np.random.default_rng(0)
        self.layers = layers
        self.input_shape = tuple(input_shape)
        self.loss = loss
        # Shapes first, from the spec alone: every cap is checked before any weight is allocated.
        shape = self.input_shape
        total = 0
        for i, layer in enumerate(layers):
            layer.label = f"layer {i} ({layer.kind})"
            layer.in_shape = tuple(int(d) for d in shape)
            shape = layer.out_shape = layer.infer_shape(layer.in_shape)
            if any(d < 1 for d in shape):
                raise layer.fail(f"output shape {shape} is empty")
            total += layer.param_count()
            if total > MAX_PARAMS:
                raise layer.fail(
                    f"{layer.param_count():,} parameters ({layer.param_formula()}) bring the network to "
                    f"{total:,}; the limit is {MAX_PARAMS:,}"
                )
        self.output_shape = shape
        if len(shape) != 1:
            raise ValueError(
                f"the last layer must output a vector of class scores, got shape {shape}; "
                "end with flatten and dense layers"
            )
        if loss == "cross_entropy" and layers[-1].kind in ("softmax", "sigmoid"):
            raise ValueError(
                f"layer {len(layers) - 1} ({layers[-1].kind}): the cross-entropy cost applies the "
                "softmax itself and expects raw scores; remove this layer or use the 'mse' cost"
            )
        self.check_batch_memory(1)
        self.allocated = allocate
        if allocate:
            for layer in layers:  # the same order of draws from rng as layer.build
                layer.init_params(rng)
        # No step can change the input, so the error of the network's input is wanted by nobody:
        # the layers up to the first one with parameters skip it (an mlp's first dense layer
        # behind flatten would otherwise spend a third of its backward pass on it).
        first = next((i for i, layer in enumerate(layers) if layer.params), 0)
        for layer in layers[: first + 1]:
            layer.needs_input_grad = False
        # All parameters in one flat vector the layers view into (params.py; empty when not allocated).
        self._pack = ParamPack(layers)
        #: the shape of the last forward pass's output: what backward's dCost/doutput must have
        self._out_shape: tuple[int, ...] | None = None

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], rng: np.random.Generator | None = None, allocate: bool = True
    ) -> Sequential:
        """Build from ``{"input_shape": [...], "layers": [...], "loss": ...}`` (other keys ignored);
        ``allocate=False``: shapes and caps only (see ``__init__``)."""
        if not isinstance(spec, Mapping):
            raise ValueError("a model spec must be an object with 'input_shape' and 'layers'")
        layers_spec = spec.get("layers")
        if not isinstance(layers_spec, list) or not layers_spec:
            raise ValueError("spec: 'layers' must be a non-empty list of layer objects")
        if len(layers_spec) > MAX_LAYERS:
            raise ValueError(f"spec: at most {MAX_LAYERS} layers, got {len(layers_spec)}")
        input_shape = _shape(spec.get("input_shape", [1, 28, 28]))
        layers = [layer_from_spec(entry, i) for i, entry in enumerate(layers_spec)]
        return cls(layers, input_shape, rng, spec.get("loss", "cross_entropy"), allocate)

    def spec(self) -> dict[str, Any]:
        """The spec that builds this network again (``from_spec``): input shape, layers, loss."""
        return {
            "input_shape": list(self.input_shape),
            "layers": [layer.spec() for layer in self.layers],
            "loss": self.loss,
        }

    # -- description -------------------------------------------------------------------------

    def summary(self) -> list[LayerInfo]:
        """One :class:`LayerInfo` per layer: type, output shape per sample, parameters, formula."""
        return [
            LayerInfo(i, layer.kind, layer.out_shape or (), layer.param_count(), layer.param_formula())
            for i, layer in enumerate(self.layers)
        ]

    def param_count(self) -> int:
        """Weights and biases of all layers together (the cnn preset: 80,202)."""
        return sum(layer.param_count() for layer in self.layers)

    def param_shapes(self) -> dict[str, Shape]:
        """``{"0.W": (...), ...}``: every parameter's shape, known before (or without) allocation."""
        return {f"{i}.{k}": s for i, layer in enumerate(self.layers) for k, s in layer.param_shapes().items()}

    def layer_numbers(self) -> list[int]:
        """Per sample, the numbers each layer keeps during a training step: its output and its
        workspace (the first entry also counts the input)."""
        sizes = [math.prod(layer.out_shape or ()) + layer.workspace_size() for layer in self.layers]
        sizes[0] += math.prod(self.input_shape)
        return sizes

    def batch_bytes(self, batch: int) -> int:
        """Memory a mini-batch of ``batch`` keeps alive between forward and backward (float32)."""
        return batch * sum(self.layer_numbers()) * FLOAT_BYTES

    def max_batch(self, limit: int = MAX_ACTIVATION_BYTES) -> int:
        """The largest batch within ``limit`` bytes of activations (0 when not even one fits)."""
        return limit // (sum(self.layer_numbers()) * FLOAT_BYTES)

    def check_batch_memory(self, batch: int, limit: int = MAX_ACTIVATION_BYTES) -> None:
        """Raise ``ValueError`` naming the layer at which a batch's activations pass ``limit``."""
        running = 0
        for layer, numbers in zip(self.layers, self.layer_numbers(), strict=True):
            running += batch * numbers * FLOAT_BYTES
            if running > limit:
                fits = self.max_batch(limit)
                advice = (
                    f"use a batch size of at most {fits:,}"
                    if fits >= 1
                    else "even one sample does not fit: use fewer or smaller feature maps"
                )
                raise layer.fail(
                    f"a batch of {batch:,} needs {_mib(self.batch_bytes(batch))} for activations "
                    f"({_mib(batch * numbers * FLOAT_BYTES)} in this layer); the limit is "
                    f"{_mib(limit)}: {advice}"
                )

    def describe(self) -> str:
        """A printable table: index, type, output shape, parameters and how they add up."""
        lines = [f"input {format_shape(self.input_shape)}"]
        for info in self.summary():
            formula = f" = {info.formula}" if info.params else ""
            lines.append(
                f"{info.index:>2} {info.type:<10} -> {format_shape(info.output_shape):<18}"
                f" {info.params:>9,} params{formula}"
            )
        lines.append(f"total {self.param_count():,} parameters")
        return "\n".join(lines)

    def __repr__(self) -> str:
        """The layers in one line: ``Sequential(input (N, 1, 28, 28) -> conv2d -> ... -> (N, 10),
        80,202 params, loss 'cross_entropy')``."""
        kinds = " -> ".join(layer.kind for layer in self.layers)
        return (
            f"Sequential(input {format_shape(self.input_shape)} -> {kinds} -> "
            f"{format_shape(self.output_shape)}, {self.param_count():,} params, loss {self.loss!r})"
        )

    # -- computing ---------------------------------------------------------------------------
    def _batch(self, x: np.ndarray) -> np.ndarray:
        """``x`` on the model's device; ``ValueError`` for a batch of no samples or with NaN or
        infinite values (each layer checks the shape and dtype of one)."""
        xp = self._pack.xp
        x = xp.asarray(x)
        if x.ndim >= 1 and x.shape[0] == 0:
            raise ValueError(
                f"empty batch: x has shape {tuple(x.shape)}; send at least one sample, "
                f"e.g. shape (1, {', '.join(map(str, self.input_shape))})"
            )
        # A NaN or infinite input would come out as NaN probabilities, with at most a NumPy
        # warning: say which samples instead (one pass over the input, small beside a layer).
        if x.ndim >= 1 and x.dtype.kind == "f" and not bool(xp.isfinite(x).all()):
            bad = xp.flatnonzero(~xp.isfinite(x.reshape(x.shape[0], -1)).all(axis=1))
            shown = ", ".join(str(int(i)) for i in bad[:5]) + (", …" if bad.size > 5 else "")
            raise ValueError(
                f"x of shape {tuple(x.shape)} holds NaN or infinite values (sample(s) {shown}); "
                "inputs must be finite"
            )
        return x

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, *input_shape) -> output (N, K), on the model's device (x is moved there)."""
        x = self._batch(x)
        for layer in self.layers:
            x = layer.forward(x, train)
        self._out_shape = tuple(x.shape)
        return x

    def forward_record(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Forward in prediction mode, keeping every layer's activation (its output); all of
        them on the host, ready to be encoded and sent."""
        x = self._batch(x)
        acts = []
        for layer in self.layers:
            x = layer.forward(x, False)
            acts.append(x)
        self._out_shape = tuple(x.shape)
        return to_host(x), [to_host(a) for a in acts]

    def _check_dout(self, dout: np.ndarray) -> None:
        """``ValueError`` unless ``dout`` is dCost/doutput of the last forward pass: its shape
        (N, K). The layers would fail deep inside with NumPy's broadcast or matmul message."""
        if self._out_shape is None:
            raise ValueError("backward before forward: call forward(x) first, then backward(dCost/doutput)")
        shape = getattr(dout, "shape", None)
        if shape is None or tuple(shape) != self._out_shape:
            got = type(dout).__name__ if shape is None else tuple(shape)
            raise ValueError(
                f"backward: expected dCost/doutput of shape {self._out_shape} (the last forward "
                f"pass's output), got {got}"
            )

    def backward_record(self, dout: np.ndarray) -> list[np.ndarray]:
        """Backward like :meth:`backward`, keeping every error on the way.

        Returns ``grads`` with ``grads[i + 1]`` = dCost/d(output of layer i) and ``grads[0]`` =
        dCost/d(input) (empty, as are the errors of the layers before the first one with
        parameters, when that layer skips its input's error).
        """
        self._check_dout(dout)
        grads = [dout]
        flowing = True
        for layer in reversed(self.layers):
            if flowing:  # below the first layer that skips its input's error, nothing flows
                dout = layer.backward(dout)
                flowing = layer.needs_input_grad
                if not flowing:
                    dout = dout[:0].reshape(0)
            grads.append(dout)
        return grads[::-1]

    def backward(self, dout: np.ndarray) -> None:
        """Backpropagation: the output's wishes (dCost/doutput) flow back layer by layer, each
        layer turning the error of its output into gradients of its own parameters and the error
        of its input. It stops at the first layer that skips its input's error.

        ``dout`` (N, K): the shape of the last :meth:`forward`'s output, else ``ValueError``."""
        self._check_dout(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
            if not layer.needs_input_grad:
                break

    # -- parameters --------------------------------------------------------------------------
    def named_params(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(``"i.W"``, parameter, gradient) for every parameter, in layer order."""
        for i, layer in enumerate(self.layers):
            for key, p in layer.params.items():
                yield f"{i}.{key}", p, layer.grads[key]

    def pack(self) -> ParamPack:
        """The flat parameter and gradient vectors the layers' arrays are views of (see
        :mod:`.params`); re-made if something replaced the layers' arrays (``astype``)."""
        if not self._pack.is_current():
            self._pack = ParamPack(self.layers)
        return self._pack

    @property
    def device(self) -> str:
        """``"cpu"`` or ``"cuda"``: where the parameters live (see :mod:`.backend`)."""
        return device_of(self._pack.data)

    def to(self, device: str) -> Sequential:
        """Move the parameters (and gradients) to ``device``; raises
        :class:`~glassnet.nn.backend.DeviceUnavailableError` when it cannot be used here."""
        xp = module_for(device)
        if device_of(self._pack.data) != device:
            for layer in self.layers:
                layer.params = {k: xp.asarray(p) for k, p in layer.params.items()}
                layer.grads = {k: xp.asarray(g) for k, g in layer.grads.items()}
            self._pack = ParamPack(self.layers)
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{"i.W": array}``: views of the live parameters (on the model's device)."""
        return {name: p for name, p, _ in self.named_params()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy arrays into the parameters; missing, extra or mis-shaped arrays raise ValueError."""
        expected = {name: p for name, p, _ in self.named_params()}
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            raise ValueError(f"parameters do not match the spec: missing {missing}, unexpected {extra}")
        converted = {}
        for name, p in expected.items():
            xp = array_module(p, state[name])
            value = xp.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"parameter {name}: expected shape {p.shape}, got {value.shape}")
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"parameter {name}: expected finite floating-point numbers")
            # Check after the cast: 1e300 is finite in float64 but infinite in float32.
            with np.errstate(over="ignore"):
                cast = value.astype(p.dtype, copy=False)
            if not bool(xp.all(xp.isfinite(cast))):
                raise ValueError(
                    f"parameter {name}: expected finite floating-point numbers (in {p.dtype}, "
                    "after conversion)"
                )
            converted[name] = cast
        for name, p in expected.items():  # all checked first: a refused state changes nothing
            p[...] = array_module(p).asarray(converted[name])

    def astype(self, dtype: np.dtype | type) -> Sequential:
        """Convert every parameter (and gradient) in place, e.g. to float64 for a gradient
        check; returns the network."""
        for layer in self.layers:
            layer.astype(dtype)
        self._pack = ParamPack(self.layers)
        return self

    def copy_weights_from(self, other: Sequential) -> None:
        """Copy ``other``'s parameters into this network (same spec; else ``ValueError``)."""
        self.load_state_dict(other.state_dict())
