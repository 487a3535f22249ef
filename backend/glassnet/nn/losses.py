"""The cost: one number that says how badly the network did on a batch.

Both costs return ``(cost, dcost/doutput)`` so the trainer can start backpropagation right away.
Shapes: output (N, K), labels (N,) integers in 0..K-1 (an integer array; anything else is a
``ValueError`` saying what was expected).
"""

from __future__ import annotations

import numpy as np

from .backend import array_module
from .layers.activations import softmax

LOSSES = ("cross_entropy", "mse")


def check_loss(name: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``name`` is one of :data:`LOSSES`."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def _check(output: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``labels`` as an integer array beside ``output`` (a list is converted); ``ValueError``
    naming what is wrong otherwise."""
    if getattr(output, "ndim", None) != 2:
        shape = getattr(output, "shape", type(output).__name__)
        raise ValueError(f"loss: expected network output of shape (N, K), got {shape}")
    if isinstance(labels, list | tuple):
        labels = array_module(output).asarray(labels)
    if not hasattr(labels, "dtype"):
        raise ValueError(
            f"loss: expected labels as an integer array of shape (N,), got {type(labels).__name__}"
        )
    if labels.dtype.kind not in "iu":
        # Float labels (one-hot rows, 3.0) cannot index the outputs: say so, not NumPy's IndexError.
        raise ValueError(f"loss: labels must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != (output.shape[0],):
        raise ValueError(
            f"loss: expected {output.shape[0]} labels of shape ({output.shape[0]},), got {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= output.shape[1]):
        raise ValueError(f"loss: labels must lie in 0..{output.shape[1] - 1}")
    return labels


def one_hot(labels: np.ndarray, k: int, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Labels (N,) -> (N, K) with a single 1 per row: the activations we *want* at the output."""
    xp = array_module(labels)
    y = xp.zeros((labels.shape[0], k), dtype=dtype)
    y[xp.arange(labels.shape[0]), labels] = 1
    return y


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of -log p(correct digit), with p = softmax(logits).

    The gradient with respect to the logits is simply (p - y) / N: the output's "wish" is to raise
    the correct digit's score and lower the others in proportion to their probability.
    """
    labels = _check(logits, labels)
    xp = array_module(logits)
    n = logits.shape[0]
    p = softmax(logits)
    rows = xp.arange(n)
    correct = p[rows, labels]
    cost = float(-xp.log(xp.maximum(correct, 1e-12)).mean())
    grad = p
    grad[rows, labels] -= 1
    return cost, grad / n


def mean_squared_error(output: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """The notes' cost: the sum over the ten outputs of (activation - desired)², averaged over the
    samples. Its gradient is 2 (a - y) / N."""
    labels = _check(output, labels)
    n = output.shape[0]
    diff = output - one_hot(labels, output.shape[1], output.dtype)
    cost = float((diff * diff).sum() / n)
    return cost, diff * (2 / n)


def compute_loss(name: str, output: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Dispatch on the spec's ``"loss"``."""
    if name == "cross_entropy":
        return softmax_cross_entropy(output, labels)
    if name == "mse":
        return mean_squared_error(output, labels)
    check_loss(name)
    raise AssertionError(name)  # pragma: no cover (check_loss refused it)


def readout(name: str) -> str:
    """How :func:`probabilities` reads the output layer under the cost ``name``: ``"softmax"`` of
    its scores (cross-entropy), or its activations ``"normalised"`` to sum to one (squared error)."""
    return "softmax" if name == "cross_entropy" else "normalised"


def probabilities(name: str, output: np.ndarray) -> np.ndarray:
    """What the output layer says as probabilities (N, K).

    With cross-entropy the outputs are scores and the softmax turns them into probabilities. With
    the squared-error cost the outputs are already activations in 0..1 (sigmoid or softmax); they
    are normalised to sum to one so both kinds of network can be shown the same way.

    Raises ``ValueError`` for a loss not in :data:`LOSSES` or an output that is not (N, K).
    """
    check_loss(name)
    if getattr(output, "ndim", None) != 2:
        shape = getattr(output, "shape", type(output).__name__)
        raise ValueError(f"probabilities: expected scores of shape (N, K), got {shape}")
    if name == "cross_entropy":
        return softmax(output)
    xp = array_module(output)
    a = xp.clip(output, 0, None)
    total = a.sum(axis=1, keepdims=True)
    uniform = xp.full_like(a, 1 / a.shape[1])
    return xp.where(total > 0, a / xp.where(total > 0, total, 1), uniform)
