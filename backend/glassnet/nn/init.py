"""Weight initialisation, always through an explicit ``np.random.Generator``.

The scale matters: if each layer's weighted sums grow or shrink by a constant factor, a deep
network's activations (and gradients) explode or vanish. He initialisation keeps the variance of
ReLU activations constant (std = sqrt(2 / fan_in)); Xavier/Glorot keeps it for symmetric
squashing functions like sigmoid and tanh (limit = sqrt(6 / (fan_in + fan_out))).
"""

from __future__ import annotations

import numpy as np

INITS = ("he", "xavier")


def he_normal(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """Normal(0, 2/fan_in), float32."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def xavier_uniform(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
    """Uniform(-l, l) with l = sqrt(6 / (fan_in + fan_out)), float32."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def init_weights(
    name: str, rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, fan_out: int
) -> np.ndarray:
    """Dispatch on the spec's ``"init"`` name."""
    if name == "he":
        return he_normal(rng, shape, fan_in)
    if name == "xavier":
        return xavier_uniform(rng, shape, fan_in, fan_out)
    raise ValueError(f"unknown init {name!r}; choose one of {', '.join(INITS)}")
