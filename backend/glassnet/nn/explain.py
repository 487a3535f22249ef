"""Backpropagation for one digit, spelled out: every number of the notes' learning step.

The training loop only needs the gradients; a learner wants to *see* them. For one example and a
target digit this module runs the library's own forward and backward pass and keeps what the
notes talk about:

* every layer's output — a weighted sum z (dense, conv) or an activation a (sigmoid, ReLU, …);
* the cost of this one digit and its per-output terms: for squared error the notes' (a_j − y_j)²,
  for cross-entropy −y_j·log p_j;
* the output's "wishes" flowing back: ∂C/∂(output) of every layer (for an activation layer that
  is ∂C/∂a, for a dense or conv layer ∂C/∂z, the error δ), and each activation's slope σ′(z);
* ∂C/∂W and ∂C/∂b of every parameter — for a dense layer the outer product a_prev · δ.

And one step of plain gradient descent, θ ← θ − η·∇C, on a scratch copy, with the cost along the
step direction C(θ − η·∇C) for a range of η (too small, right, too big), for one example or a
mini-batch whose gradient is the average of the single examples' gradients.

Everything runs on a float64 copy of the network (the weights are float32; the cast is exact), so
the numbers are the network's function computed as exactly as float64 allows; callers round to
float32 for display. The original network is never touched.

Shapes: x (N, *input_shape); labels (N,) ints in 0..K-1; K = the number of outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layers.activations import Activation
from .losses import compute_loss, one_hot, probabilities
from .model import Sequential

__all__ = [
    "LayerTrace",
    "StepResult",
    "Trace",
    "cost_terms",
    "float64_copy",
    "gradient_step",
    "layer_role",
    "log_softmax",
    "per_example_gradients",
    "trace",
]

#: What a layer's output is, in the notes' words.
ROLES = {
    "dense": "weighted_sum",
    "conv2d": "weighted_sum",
    "relu": "activation",
    "leaky_relu": "activation",
    "sigmoid": "activation",
    "tanh": "activation",
    "softmax": "activation",
    "maxpool2d": "pooling",
    "avgpool2d": "pooling",
    "flatten": "reshape",
    "dropout": "dropout",
}


def layer_role(kind: str) -> str:
    """``"weighted_sum"`` (z), ``"activation"`` (a), ``"pooling"``, ``"reshape"`` or ``"dropout"``."""
    return ROLES.get(kind, "other")


def float64_copy(model: Sequential) -> Sequential:
    """A private float64 network with the same spec and weights; every layer computes ∂C/∂x.

    The first layer of a training network skips its input gradient (nobody needs it there); a
    learner does: the input pixels have wishes too, even though no step can change them.
    """
    copy = Sequential.from_spec(model.spec()).astype(np.float64)
    copy.load_state_dict(model.state_dict())
    for layer in copy.layers:
        layer.needs_input_grad = True
    return copy


@dataclass
class LayerTrace:
    """One layer for one example (the batch axis dropped).

    ``output`` has the layer's per-sample output shape; ``grad_output`` is ∂C/∂output, the same
    shape; ``slope`` is f′ at this point for element-wise activations (σ′(z), ReLU′), else None;
    ``params`` / ``grads`` map ``"W"``/``"b"`` to the parameter and ∂C/∂parameter.
    """

    index: int
    kind: str
    output: np.ndarray
    grad_output: np.ndarray
    slope: np.ndarray | None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    grads: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return layer_role(self.kind)


@dataclass
class Trace:
    """Forward and backward pass of one example: see the module docstring."""

    input: np.ndarray  # (*input_shape)
    grad_input: np.ndarray  # ∂C/∂x, same shape
    layers: list[LayerTrace]
    target: int
    loss: str
    cost: float
    terms: np.ndarray  # (K,) sums to ``cost``
    probabilities: np.ndarray  # (K,)

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.probabilities))


def cost_terms(loss: str, output: np.ndarray, target: int) -> np.ndarray:
    """The per-output terms of one example's cost; they add up to the cost.

    output (K,) -> (K,): squared error (a_j − y_j)², the notes' cost; cross-entropy −y_j·log p_j,
    which is zero except at the target (the whole cost is −log p_target).
    """
    y = one_hot(np.array([target]), output.shape[0], np.float64)[0]
    if loss == "mse":
        return (output - y) ** 2
    return -y * log_softmax(output[None, :])[0]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log p = z − log Σ exp z, per row (N, K), without forming p: exact even where p underflows
    (the training loss clamps p at 1e-12, i.e. a cost of at most 27.6 per digit; not here)."""
    m = z.max(axis=1, keepdims=True)
    # Σ exp(z − m) = 1 + (the other terms): log1p of the others keeps a confident digit's cost
    # (−log p ≈ 1e-11) exact, where log(1 + 1e-11) in float64 keeps only ~5 digits of it.
    rest = np.exp(z - m)
    rest[np.arange(z.shape[0]), z.argmax(axis=1)] = 0.0
    return z - m - np.log1p(rest.sum(axis=1, keepdims=True))


def _check_example(model: Sequential, x: np.ndarray, labels: np.ndarray) -> None:
    if x.ndim != len(model.input_shape) + 1 or x.shape[1:] != model.input_shape:
        raise ValueError(
            f"expected examples of shape (N, {', '.join(map(str, model.input_shape))}), got {x.shape}"
        )
    k = model.output_shape[0]
    if labels.shape != (x.shape[0],) or labels.size == 0:
        raise ValueError(f"expected {x.shape[0]} target(s), got {labels.size}")
    bad = [int(v) for v in labels if not 0 <= v < k]
    if bad:
        raise ValueError(f"target must be in 0..{k - 1} (one per output of the network), got {bad[0]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the input holds NaN or infinite values")


def trace(model: Sequential, x: np.ndarray, target: int | None = None) -> Trace:
    """Forward and backward pass of one example through a float64 copy of ``model``.

    Args:
        model: any network (its weights are copied, never changed).
        x: one example, shape ``model.input_shape`` or (1, *input_shape).
        target: the digit the cost wants (0..K-1): y = one-hot(target); None = the network's
            own top prediction (the cost then asks it to be surer of what it already says).

    Raises:
        ValueError: wrong shape, non-finite input, target out of range, or a network whose
            numbers overflow for this input.
    """
    net = float64_copy(model)
    x = np.asarray(x, dtype=np.float64)
    if x.size != np.prod(model.input_shape):
        raise ValueError(f"expected one example of shape {list(model.input_shape)}, got {list(x.shape)}")
    x = x.reshape(1, *model.input_shape)
    if not np.all(np.isfinite(x)):
        raise ValueError("the input holds NaN or infinite values")
    out, outputs = net.forward_record(x)
    if target is None:
        target = int(np.argmax(out[0]))
    labels = np.array([target])
    _check_example(net, x, labels)
    _, dout = compute_loss(net.loss, out.copy(), labels)  # ∂C/∂output; its gradient has no clamp
    grads_out = net.backward_record(dout)
    slopes = [layer.slope()[0] if isinstance(layer, Activation) else None for layer in net.layers]
    layers = [
        LayerTrace(
            index=i,
            kind=layer.kind,
            output=outputs[i][0],
            grad_output=grads_out[i + 1][0],
            slope=slopes[i],
            params={k: v.copy() for k, v in layer.params.items()},
            grads={k: g.copy() for k, g in layer.grads.items()},
        )
        for i, layer in enumerate(net.layers)
    ]
    terms = cost_terms(net.loss, out[0], int(target))
    result = Trace(
        input=x[0],
        grad_input=grads_out[0][0],
        layers=layers,
        target=int(target),
        loss=net.loss,
        cost=float(terms.sum()),
        terms=terms,
        probabilities=probabilities(net.loss, out)[0],
    )
    if not np.isfinite(result.cost) or not all(
        np.all(np.isfinite(a)) for t in layers for a in (t.output, t.grad_output, *t.grads.values())
    ):
        raise ValueError("the network's numbers overflow for this input (NaN or infinity)")
    return result


def per_example_gradients(
    model: Sequential, x: np.ndarray, labels: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """∂C_i/∂θ for each example i alone (each a batch of one), float64: {"<layer>.<param>": grad}.

    The mini-batch gradient that SGD follows is their average: the batch cost is the mean of the
    examples' costs, and the gradient of a mean is the mean of the gradients.
    """
    net = float64_copy(model)
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    _check_example(net, x, labels)
    out = []
    for i in range(x.shape[0]):
        y = net.forward(x[i : i + 1])
        _, dout = compute_loss(net.loss, y, labels[i : i + 1])
        net.backward(dout)
        out.append({name: g.copy() for name, _, g in net.named_params()})
    return out


@dataclass
class StepResult:
    """One gradient-descent step θ' = θ − η·g on a mini-batch (possibly of one)."""

    lr: float
    cost_before: float  # mean cost of the batch
    cost_after: float
    costs_before: np.ndarray  # (N,) each example's cost
    costs_after: np.ndarray
    probabilities_before: np.ndarray  # (N, K)
    probabilities_after: np.ndarray
    etas: np.ndarray  # (M,) learning rates along the step direction
    curve: np.ndarray  # (M,) mean cost C(θ − η·g)
    gradient: dict[str, np.ndarray]  # the batch gradient g (the average of the examples')
    model: Sequential  # the stepped float64 copy


def _costs(net: Sequential, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each example's cost (N,) and probabilities (N, K), in one forward pass."""
    out = net.forward(x)
    k = out.shape[1]
    if net.loss == "mse":
        costs = ((out - one_hot(labels, k, np.float64)) ** 2).sum(axis=1)
    else:
        costs = -log_softmax(out)[np.arange(len(labels)), labels]
    return costs, probabilities(net.loss, out)


def gradient_step(
    model: Sequential, x: np.ndarray, labels: np.ndarray, lr: float, etas: np.ndarray | None = None
) -> StepResult:
    """Take one plain gradient-descent step on a float64 copy of ``model``.

    The step is the notes' rule whatever optimizer trained the network: every weight and bias
    moves against its gradient, scaled by the learning rate. ``etas`` (default: 0 to 3·lr in 31
    points) are the learning rates at which the cost along the same direction is measured.

    Raises:
        ValueError: lr not a positive finite number, bad shapes or targets, or non-finite costs.
    """
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"the learning rate must be a positive finite number, got {lr!r}")
    net = float64_copy(model)
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    _check_example(net, x, labels)
    costs_before, probs_before = _costs(net, x, labels)
    out = net.forward(x)
    _, dout = compute_loss(net.loss, out, labels)
    net.backward(dout)
    gradient = {name: g.copy() for name, _, g in net.named_params()}
    start = {name: p.copy() for name, p, _ in net.named_params()}

    def move(eta: float) -> None:
        for name, p, _ in net.named_params():
            np.subtract(start[name], eta * gradient[name], out=p)

    etas = np.linspace(0.0, 3.0 * lr, 31) if etas is None else np.asarray(etas, dtype=np.float64)
    curve = np.empty(len(etas))
    for i, eta in enumerate(etas):
        move(float(eta))
        curve[i] = _costs(net, x, labels)[0].mean()
    move(float(lr))
    costs_after, probs_after = _costs(net, x, labels)
    values = (costs_before, costs_after, curve, probs_before, probs_after)
    if not all(np.all(np.isfinite(v)) for v in values):
        raise ValueError(
            f"the cost becomes NaN or infinite along this step (learning rate {lr:g}); try a smaller one"
        )
    return StepResult(
        lr=float(lr),
        cost_before=float(costs_before.mean()),
        cost_after=float(costs_after.mean()),
        costs_before=costs_before,
        costs_after=costs_after,
        probabilities_before=probs_before,
        probabilities_after=probs_after,
        etas=etas,
        curve=curve,
        gradient=gradient,
        model=net,
    )
