"""Gradient descent: nudge every weight and bias a little against its gradient.

The gradient points where the cost grows fastest, so a step of ``-lr · gradient`` lowers it; the
learning rate ``lr`` is the step size. Momentum keeps a running velocity so steps that agree add
up and noisy ones cancel; Adam scales each parameter's step by a running estimate of its
gradient's size. L2 weight decay adds ``weight_decay · W`` to each weight's gradient (not to
biases), pulling weights towards zero.

Optimizers update the arrays in place and hold their state in plain arrays keyed like the
model's parameters (``"0.W"``), so the state can be checkpointed without pickle. Each optimizer
names its own hyperparameters (:data:`HYPERPARAMETERS`): ``lr`` and ``weight_decay`` for all,
``momentum`` for SGD with momentum, ``beta1`` and ``beta2`` for Adam. They are plain attributes
and may change between any two steps (:meth:`Optimizer.set_hyperparameters` checks the names).

``step`` takes either (name, parameter, gradient) triples or a whole :class:`ParamPack` (the
network's parameters as one flat vector, :mod:`.params`). With a pack the same arithmetic runs
once over the whole vector, a handful of NumPy calls per step instead of a few per parameter,
and the state arrays are views into flat vectors too (so their names, and checkpoints, stay the
same). Every scalar in the update is a Python float: NumPy 2 keeps float32 arrays float32 with
those, while a NumPy float64 scalar would turn the whole update into float64 (twice the memory
traffic, and a cast back on every step).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .backend import array_module
from .params import ParamPack

OPTIMIZERS = ("sgd", "momentum", "adam")
#: What each optimizer can be told, by name; anything else is refused (never silently mapped).
HYPERPARAMETERS: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "weight_decay"),
    "momentum": ("lr", "momentum", "weight_decay"),
    "adam": ("lr", "beta1", "beta2", "weight_decay"),
}
DEFAULTS = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "weight_decay": 0.0}
#: The learning rate's range. A smaller rate trains nothing: float32 rounds an update lr · g away
#: from any weight above |lr · g| / 6e-8 (at lr = 1e-8 and a gradient of 0.01, every weight over
#: 0.002), and a subnormal rate (1e-320 used to be accepted) makes each update ~100× slower.
LR_MIN, LR_MAX = 1e-8, 10.0
_RANGES = {  # name: (words, low, high, low inclusive); all upper bounds are exclusive but lr's
    "lr": ("learning rate", LR_MIN, LR_MAX, True),
    "momentum": ("momentum", 0.0, 1.0, True),
    "beta1": ("beta1", 0.0, 1.0, True),
    "beta2": ("beta2", 0.0, 1.0, True),
    "weight_decay": ("weight decay", 0.0, 1.0, True),
}

ParamTriple = tuple[str, np.ndarray, np.ndarray]  # (name "i.W", parameter, gradient)

#: Optimizer state smaller than this is set to exactly 0 now and then (:func:`flush_period`).
#: The state of a parameter whose gradient is 0 — a weight on a pixel that is blank in every
#: digit, a dead ReLU unit — shrinks by momentum (or beta1) every step, and after a few hundred
#: steps reaches float32's subnormal range (below 1.2e-38), where the CPU handles every operation
#: on it in microcode, about a hundred times slower. Measured over 1,500 steps of the
#: bench/train_speed.py networks on one core: 4% of the mlp's velocity and 7% of the cnn's Adam
#: mean were subnormal, and the optimizer step took 235 µs and 607 µs. A state under 1e-30
#: moves no weight that matters: p + v equals p in float32 for every |p| above ~1e-23, and Adam's
#: step m / (sqrt(v) + eps) with m or v that small is below 1e-22 · lr. Flushing it changes
#: nothing that is learned.
FLUSH_BELOW = 1e-30
SUBNORMAL = 1.1754944e-38  # float32's smallest normal number


@functools.lru_cache(maxsize=64)
def flush_period(decay: float) -> int:
    """How often (in steps) to flush a state that shrinks by ``decay`` per step: the steps it
    takes to fall from FLUSH_BELOW to a subnormal (172 for 0.9), so none ever gets there by
    shrinking. A flush is three passes over the vector; every 172 steps it costs next to nothing."""
    if decay <= 0:
        return 1
    return max(1, int(math.log(FLUSH_BELOW / SUBNORMAL) / -math.log(decay)))


def flush_tiny(x: Any, scratch: Any = None, keep: Any = None) -> None:
    """``x[|x| < FLUSH_BELOW] = 0`` in place, as ``x *= |x| >= FLUSH_BELOW`` (a masked copy,
    ``copyto(where=)``, is three times slower). ``scratch``, ``keep``: x-shaped float and bool
    work vectors, or None to allocate."""
    xp = array_module(x)
    xp.multiply(x, xp.greater_equal(xp.abs(x, out=scratch), FLUSH_BELOW, out=keep), out=x)


def _decayed(name: str, p: np.ndarray, g: np.ndarray, weight_decay: float) -> np.ndarray:
    # Decay weights only: a bias is a threshold, shrinking it towards zero does not regularise.
    if weight_decay and name.endswith(".W"):
        return g + weight_decay * p
    return g


class Optimizer:
    kind = "optimizer"

    def __init__(self, lr: float, weight_decay: float = 0.0) -> None:
        check_hyperparameters({"lr": lr, "weight_decay": weight_decay})
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}
        self._flat: dict[str, Any] = {}  # state kind ("m", "velocity") -> flat vector
        self._flat_pack: ParamPack | None = None
        self._scratch: list[Any] = []
        self._mask: Any = None  # a bool work vector for flush_tiny

    @property
    def names(self) -> tuple[str, ...]:
        """This optimizer's hyperparameters (a key of :data:`HYPERPARAMETERS`)."""
        return HYPERPARAMETERS[self.kind]

    def hyperparameters(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.names}

    def set_hyperparameters(self, values: dict[str, float]) -> None:
        """Change some hyperparameters at once: all are checked (names and ranges) before any
        changes, so a refused set changes nothing."""
        check_names(self.kind, values)
        check_hyperparameters(values)
        for name, value in values.items():
            setattr(self, name, float(value))

    def step(
        self,
        params: Iterable[ParamTriple] | ParamPack,
        lr: float | None = None,
        skip: tuple[int, int] | None = None,
    ) -> None:
        """One update of every parameter; ``lr`` overrides ``self.lr`` (the schedule's rate).
        ``skip`` (a pack only): the range [start, stop) of the flat vector that another process
        updates at the same time, with :meth:`update_slice` (training/layer_split.py)."""
        rate = float(self.lr if lr is None else lr)
        self.steps += 1
        if isinstance(params, ParamPack):
            pieces = [(0, params.size)] if skip is None else [(0, skip[0]), (skip[1], params.size)]
            for lo, hi in pieces:  # elementwise: the same numbers whichever pieces it is cut in
                if hi > lo:
                    self.update_range(params, lo, hi, rate)
            return
        for name, p, g in params:
            self._update(name, p, _decayed(name, p, g, self.weight_decay), rate)

    def update_range(self, pack: ParamPack, lo: int, hi: int, lr: float) -> None:
        """The update of the flat vectors' range [lo, hi), as :meth:`step` makes it (the step
        already counted in ``self.steps``): the pieces of a step, and a helper's slice that the
        helper could not update (training/layer_split.py)."""
        states = {kind: self._flat_state(pack, kind)[lo:hi] for kind in self.state_kinds}
        work = [w[lo:hi] for w in self._scratch_for(pack)]
        data, grad, decay = pack.data[lo:hi], pack.grad[lo:hi], pack.decay_mask[lo:hi]
        self.update_slice(data, grad, states, decay, work, self._mask[lo:hi], lr)

    def update_slice(
        self,
        p: Any,
        g: Any,
        states: dict[str, Any],
        decay_mask: Any,
        scratch: list[Any],
        mask: Any,
        lr: float,
    ) -> None:
        """The update of one slice of the flat vectors (or of all of them), as :meth:`step` makes
        it — and for a process that holds only that slice: the parameters ``p``, gradients ``g``,
        ``states`` (kind -> the same slice of that state), the decay mask's slice and work vectors
        of that length (two floats, one bool). ``self.steps`` must be the step's number (counted
        as :meth:`step` does)."""
        if self.weight_decay:
            g = g + self.weight_decay * decay_mask * p
        self._update_vectors(p, g, states, scratch, mask, float(lr))

    @property
    def state_kinds(self) -> tuple[str, ...]:
        """The flat state vectors the update uses now (``"velocity"``; ``"m"``, ``"v"``)."""
        return ()

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def _update_vectors(
        self, p: Any, g: Any, states: dict[str, Any], scratch: list[Any], mask: Any, lr: float
    ) -> None:
        """The update of flat vectors (or equal slices of them): parameters ``p`` in place, with
        gradients ``g``, the state vectors by kind, two work vectors and a bool one."""
        raise NotImplementedError

    def _scratch_for(self, pack: ParamPack) -> list[Any]:
        """Two flat work vectors for ``pack`` (kept between steps: no allocation per step)."""
        if self._flat_pack is not pack:
            self._flat, self._flat_pack = {}, pack
            self._scratch = [pack.zeros(), pack.zeros()]
            self._mask = pack.xp.zeros(pack.data.shape, dtype=bool)
        return self._scratch

    def place_state(self, pack: ParamPack, kind: str, vector: Any) -> None:
        """Keep one kind of state in ``vector`` (a flat vector of the pack's layout, e.g. in memory
        a helper process shares) from now on: its values are copied there and the named views
        (``self.state``, what checkpoints save) re-made."""
        flat = self._flat_state(pack, kind)
        if flat is vector:
            return
        vector[...] = flat
        self._flat[kind] = vector
        for name, view in pack.named_views(vector):
            self.state[f"{name}.{kind}"] = view

    def _flat_state(self, pack: ParamPack, kind: str) -> Any:
        """The flat vector of one kind of state; its named views are ``self.state``'s entries."""
        self._scratch_for(pack)
        flat = self._flat.get(kind)
        if flat is None:
            flat = self._flat[kind] = pack.zeros()
            for name, view in pack.named_views(flat):
                old = self.state.get(f"{name}.{kind}")
                if old is not None:
                    view[...] = pack.xp.asarray(old)
                self.state[f"{name}.{kind}"] = view
        return flat

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's memory as named arrays (``"0.W.velocity"``), plus the step count."""
        return {**self.state, "steps": np.array(self.steps)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps = int(state.get("steps", 0))
        self.state = {k: np.array(v) for k, v in state.items() if k != "steps"}
        self._flat, self._flat_pack = {}, None  # re-gathered into flat vectors on the next step


class SGD(Optimizer):
    """Plain stochastic gradient descent (``momentum=0``) or with momentum:
    v <- momentum · v - lr · g;  p <- p + v."""

    kind = "sgd"

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(lr, weight_decay)
        check_hyperparameters({"momentum": momentum})
        self.momentum = float(momentum)
        if self.momentum:
            self.kind = "momentum"

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        if self.momentum == 0:
            p -= lr * g
            return
        key = f"{name}.velocity"
        v = self.state.get(key)
        if v is None:
            v = self.state[key] = array_module(p).zeros_like(p)
        v *= self.momentum
        v -= lr * g
        if self.steps % flush_period(self.momentum) == 0:
            flush_tiny(v)
        p += v

    @property
    def state_kinds(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def _update_vectors(
        self, p: Any, g: Any, states: dict[str, Any], scratch: list[Any], mask: Any, lr: float
    ) -> None:
        xp = array_module(p)
        step = scratch[0]
        if self.momentum == 0:
            xp.multiply(g, lr, out=step)
            p -= step
            return
        v = states["velocity"]
        v *= self.momentum
        xp.multiply(g, lr, out=step)
        v -= step
        if self.steps % flush_period(self.momentum) == 0:
            flush_tiny(v, step, mask)
        p += v


class Adam(Optimizer):
    """Adam (Kingma & Ba): m, v running means of g and g² with decay rates ``beta1`` (0.9) and
    ``beta2`` (0.999); p <- p - lr · m̂ / (sqrt(v̂) + eps)."""

    kind = "adam"

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay)
        check_hyperparameters({"beta1": beta1, "beta2": beta2})
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = 1e-8

    def _step_size(self, lr: float) -> float:
        # Bias correction: m and v start at zero, so early averages are too small. math.sqrt
        # keeps this a Python float (np.sqrt would make it float64 and the update with it).
        b1, b2 = self.beta1, self.beta2
        return lr * math.sqrt(1 - b2**self.steps) / (1 - b1**self.steps)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        xp = array_module(p)
        b1, b2 = self.beta1, self.beta2
        m = self.state.get(f"{name}.m")
        if m is None:
            m = self.state[f"{name}.m"] = xp.zeros_like(p)
        v = self.state.get(f"{name}.v")
        if v is None:
            v = self.state[f"{name}.v"] = xp.zeros_like(p)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        if self.steps % flush_period(min(b1, b2)) == 0:
            flush_tiny(m)
            flush_tiny(v)
        p -= self._step_size(lr) * m / (xp.sqrt(v) + self.eps)

    @property
    def state_kinds(self) -> tuple[str, ...]:
        return ("m", "v")

    def _update_vectors(
        self, p: Any, g: Any, states: dict[str, Any], scratch: list[Any], mask: Any, lr: float
    ) -> None:
        # The per-parameter update above, operation for operation, over the whole vector.
        xp = array_module(p)
        b1, b2 = self.beta1, self.beta2
        m, v = states["m"], states["v"]
        t1, t2 = scratch
        m *= b1
        xp.multiply(g, 1 - b1, out=t1)
        m += t1
        v *= b2
        xp.multiply(g, g, out=t1)
        t1 *= 1 - b2
        v += t1
        if self.steps % flush_period(min(b1, b2)) == 0:
            flush_tiny(m, t1, mask)
            flush_tiny(v, t1, mask)
        xp.sqrt(v, out=t1)
        t1 += self.eps
        xp.multiply(m, self._step_size(lr), out=t2)
        t2 /= t1
        p -= t2


def check_names(kind: str, values: dict[str, object]) -> None:
    """Refuse a hyperparameter the optimizer ``kind`` does not have, naming the ones it has."""
    own = HYPERPARAMETERS.get(kind)
    if own is None:
        raise ValueError(f"unknown optimizer {kind!r}; choose one of {', '.join(OPTIMIZERS)}")
    for name in values:
        if name not in own:
            hint = ""
            if name == "momentum" and kind == "adam":
                hint = " (Adam's momentum-like rates are beta1 and beta2)"
            elif name == "momentum":  # plain SGD: the optimizer with momentum is its own choice
                hint = ' (for SGD with momentum, choose "optimizer": "momentum")'
            elif name in ("beta1", "beta2"):
                hint = ' (beta1 and beta2 are Adam\'s: choose "optimizer": "adam")'
            raise ValueError(
                f"the {kind} optimizer has no {name!r}; its hyperparameters are {', '.join(own)}{hint}"
            )


def check_hyperparameters(values: dict[str, object]) -> None:
    """Reject values that cannot train, with a message naming the value (known names only)."""
    for name, value in values.items():
        what, low, high, low_inclusive = _RANGES[name]
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        inside = (low <= value if low_inclusive else low < value) and (
            value <= high if name == "lr" else value < high
        )
        if not inside:
            left, right = "[" if low_inclusive else "(", "]" if name == "lr" else ")"
            raise ValueError(f"{what} must be in {left}{low:g}, {high:g}{right}, got {value}")


def make_optimizer(
    kind: str,
    lr: float,
    momentum: float | None = None,
    weight_decay: float = 0.0,
    *,
    beta1: float | None = None,
    beta2: float | None = None,
) -> Optimizer:
    """``"sgd"`` (no momentum), ``"momentum"`` (SGD with momentum, default 0.9) or ``"adam"``
    (``beta1`` 0.9, ``beta2`` 0.999 by default). A hyperparameter the optimizer does not have is
    refused: ``make_optimizer("adam", 0.01, momentum=0.9)`` raises ``ValueError``.

    >>> make_optimizer("adam", 0.001, beta1=0.8).hyperparameters()
    {'lr': 0.001, 'beta1': 0.8, 'beta2': 0.999, 'weight_decay': 0.0}
    """
    given = {k: v for k, v in (("momentum", momentum), ("beta1", beta1), ("beta2", beta2)) if v is not None}
    check_names(kind, given)
    if kind == "sgd":
        return SGD(lr, 0.0, weight_decay)
    if kind == "momentum":
        return SGD(lr, given.get("momentum", DEFAULTS["momentum"]), weight_decay)
    return Adam(
        lr, given.get("beta1", DEFAULTS["beta1"]), given.get("beta2", DEFAULTS["beta2"]), weight_decay
    )
