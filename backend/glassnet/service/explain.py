"""The service side of the "Learn" view: which digit, which network, and numbers on the wire.

:class:`Explainer` answers ``/api/explain``, ``/api/explain/conv`` and ``/api/explain/step``
(routes in ``routes/explain.py``) with plain JSON-ready dicts, from the maths in
:mod:`glassnet.nn.explain` and :mod:`glassnet.nn.explain_maps`:

* a digit comes as pixels (prepared like a prediction), a test-set index, a validation index (the
  misclassified digits of an epoch) or a probe id (the dashboard's probe digits);
* a network is any id ``/api/predict`` takes (bundled, a run's latest weights, a checkpoint) or a
  ``scratch:<id>`` network — a copy that ``/api/explain/step`` moved by one step and kept, so a
  learner can take several steps; scratch copies live in memory only (a few per person, for an hour), and
  nothing here ever writes a run, a checkpoint or a bundled file;
* numbers travel as JSON numbers: the float64 results of the library's own forward and backward
  pass on the network's float32 weights (exact to far better than the float32 the networks run
  at), checked finite, with ``{"shape": [...], "values": [...]}`` for arrays.

Everything raises ``ValueError`` for bad input (the routes answer 422), :class:`UnknownModelError`
or :class:`UnknownScratchError` for unknown ids (404).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..data.mnist import load_split_images
from ..data.preprocess import prepare_pixels
from ..nn.explain import LayerTrace, Trace, gradient_step, per_example_gradients, trace
from ..nn.explain_maps import explain_conv, explain_pool
from ..nn.losses import probabilities, readout
from ..nn.model import Sequential
from ..training.probes import probe_indices
from .inference import ModelRegistry, UnknownModelError
from .pinned import PinnedWeights, WeightsMovedError

__all__ = [
    "DEFAULT_STEP_LR",
    "MAX_BATCH",
    "MAX_NUMBERS",
    "Explainer",
    "NoWeightsYetError",
    "UnknownScratchError",
    "WeightsMovedError",
    "explanation",
    "tensor",
]

#: The learning rate a step starts from: the notes network's own (squared error, sigmoid) and a
#: rate at which one plain gradient step lowers one digit's cross-entropy without overshooting.
DEFAULT_STEP_LR = {"mse": 1.5, "cross_entropy": 0.1}
MAX_BATCH = 32  # examples in one explained mini-batch step
MAX_NUMBERS = 1_500_000  # numbers in one /api/explain answer (~30 MB of JSON)
SCRATCH_PREFIX = "scratch:"
SOURCES = ("pixels", "test_index", "validation_index", "probe")  # where a digit can come from
MAP_LAYERS = ("conv2d", "maxpool2d", "avgpool2d")  # what explain/conv takes


class NoWeightsYetError(LookupError):
    """A run that exists but has not written weights yet (queued, just started): 409."""


class UnknownScratchError(KeyError):
    """A ``scratch:<id>`` network that does not exist (any more): 404 with the code
    ``scratch_gone``, so a page can start again from the original network by itself."""

    REASONS: ClassVar[dict[str, str]] = {
        "expired": "it was not used for an hour",
        "evicted_own": "your later steps replaced it (each person keeps their last few copies)",
        "evicted_full": "the server's memory for stepped copies was full",
        "unknown": "it never existed, or the server restarted since",
    }

    def __init__(self, model_id: str, why: str = "unknown") -> None:
        super().__init__(model_id, why)

    def __str__(self) -> str:
        model_id, why = self.args
        return (
            f"scratch network {model_id!r} is gone: {self.REASONS.get(why, self.REASONS['unknown'])}; "
            "take the step again from the original network"
        )


def tensor(a: np.ndarray) -> dict[str, Any]:
    """An array as ``{"shape": [...], "values": [flat, row-major numbers]}``."""
    a = np.asarray(a)
    return {"shape": list(a.shape), "values": _floats(a)}


def _floats(a: np.ndarray) -> list[float]:
    """Flat float64 numbers (a float32 number converts exactly; JSON has no shorter exact form)."""
    return np.asarray(a, dtype=np.float64).ravel().tolist()


# -- digits ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digit:
    """One example ready for a network: x (1, H, W) float32 in [0, 1], where it came from."""

    x: np.ndarray
    kind: str  # "pixels", "test", "validation" or "probe"
    index: int | None
    label: int | None

    def source(self) -> dict[str, Any]:
        return {"kind": self.kind, "index": self.index, "label": self.label}


class DigitBank:
    """The dataset's test and validation digits, read on first use and kept (uint8)."""

    def __init__(self, dataset: Path | None, validation: int) -> None:
        self.dataset = dataset
        self.validation = validation
        self._lock = threading.Lock()
        self._splits: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name == "validation":
            return self.validation_split(self.validation)
        return self.file_split(name)

    def file_split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if name not in self._splits:
                self._splits[name] = load_split_images(self.dataset, name)
            return self._splits[name]

    def validation_split(self, validation: int) -> tuple[np.ndarray, np.ndarray]:
        """The last ``validation`` training images and labels (uint8), as the trainer splits them
        for a run that held out that many (each run records its own count)."""
        images, labels = self.file_split("train")
        if not 0 < validation < len(labels):
            raise ValueError(f"validation must be in 1..{len(labels) - 1}, got {validation}")
        cut = len(labels) - validation
        return images[cut:], labels[cut:]

    def get(self, name: str, index: int) -> tuple[np.ndarray, int]:
        """(image (1, H, W) float32 in [0, 1], label) of digit ``index`` of split ``name``."""
        images, labels = self._split(name)
        if not 0 <= index < len(labels):
            raise ValueError(f"{name}_index must be in 0..{len(labels) - 1}, got {index}")
        return (images[index].astype(np.float32) / np.float32(255))[None], int(labels[index])

    def counts(self) -> dict[str, int]:
        """How many test and validation digits there are to choose from."""
        return {name: len(self._split(name)[1]) for name in ("test", "validation")}

    def probe(self, probe: int) -> tuple[np.ndarray, int, int]:
        """(image, label, test index) of the dashboard's probe digit number ``probe``."""
        _, labels = self._split("test")
        ids = probe_indices(labels.astype(np.int64))
        if not 0 <= probe < len(ids):
            raise ValueError(f"probe must be in 0..{len(ids) - 1}, got {probe}")
        x, label = self.get("test", int(ids[probe]))
        return x, label, int(ids[probe])

    def resolve(self, source: dict[str, Any]) -> Digit:
        """A digit from exactly one of ``pixels``, ``test_index``, ``validation_index``, ``probe``."""
        given = [k for k in SOURCES if source.get(k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of pixels, test_index, validation_index or probe"
                + (f" (got {', '.join(given)})" if given else "")
            )
        kind = given[0]
        if kind == "pixels":
            prepared = prepare_pixels(source["pixels"])
            if prepared is None:
                raise ValueError("the pixels hold too little ink to read: draw a bigger digit")
            return Digit(prepared[None], "pixels", None, None)
        if kind == "probe":
            x, label, _ = self.probe(int(source["probe"]))
            return Digit(x, "probe", int(source["probe"]), label)
        split = "test" if kind == "test_index" else "validation"
        x, label = self.get(split, int(source[kind]))
        return Digit(x, split, int(source[kind]), label)


# -- scratch networks -----------------------------------------------------------------------------


class ScratchModels:
    """Stepped float64 copies, by id, for an hour; memory only.

    A class shares one server: every "Take a step" keeps a copy, so one list for everyone would let
    any 16 steps evict a student's copy within seconds. Copies are therefore kept per owner (a
    person, or a browser at one address): an owner's own steps evict only that owner's oldest
    copies (``per_owner``). The memory of all copies together is bounded (``max_bytes``, checked
    before a step allocates its copy): when full, the owner keeping the most copies gives up its
    oldest first, so someone with a single copy loses it only when every owner is down to one
    (then the copy used longest ago goes). A copy that is gone is named with the reason
    (:class:`UnknownScratchError`).
    """

    def __init__(
        self,
        per_owner: int = 4,
        max_bytes: int = 512 * 2**20,
        ttl_s: float = 3600.0,
        max_params: int = 2_000_000,
    ) -> None:
        self.per_owner, self.max_bytes, self.ttl_s, self.max_params = per_owner, max_bytes, ttl_s, max_params
        self._lock = threading.Lock()
        # id -> (last used, network, origin, owner, bytes); in order of last use
        self._items: OrderedDict[str, tuple[float, Sequential, str, str, int]] = OrderedDict()
        # why recently removed ids went (bounded), to say so instead of a bare "unknown"
        self._gone: OrderedDict[str, str] = OrderedDict()

    @staticmethod
    def size_of(param_count: int) -> int:
        """Bytes a kept copy holds: float64 parameters and their float64 gradients."""
        return 16 * param_count

    def fits(self, param_count: int) -> bool:
        """Whether a copy of a network this size may be kept at all (asked before stepping)."""
        return param_count <= self.max_params and self.size_of(param_count) <= self.max_bytes

    def add(self, model: Sequential, origin: str, owner: str = "") -> str | None:
        """Keep ``model`` (stepped, at any depth, from the network ``origin``) for ``owner``;
        None when it is too large to keep."""
        count = model.param_count()
        if not self.fits(count):
            return None
        size = self.size_of(count)
        key = secrets.token_hex(6)
        with self._lock:
            self._expire()
            mine = [k for k, item in self._items.items() if item[3] == owner]
            while len(mine) >= self.per_owner:
                self._drop(mine.pop(0), "evicted_own")
            while self._items and self._bytes() + size > self.max_bytes:
                self._drop(self._victim(), "evicted_full")
            self._items[key] = (time.monotonic(), model, origin, owner, size)
        return SCRATCH_PREFIX + key

    def get(self, model_id: str) -> tuple[Sequential, str]:
        """(network, the original network it was stepped from). Raises :class:`UnknownScratchError`."""
        key = model_id.removeprefix(SCRATCH_PREFIX)
        with self._lock:
            self._expire()
            hit = self._items.get(key)
            if hit is None:
                raise UnknownScratchError(model_id, self._gone.get(key, "unknown"))
            self._items[key] = (time.monotonic(), *hit[1:])
            self._items.move_to_end(key)
            return hit[1], hit[2]

    def _bytes(self) -> int:
        return sum(item[4] for item in self._items.values())

    def _victim(self) -> str:
        """The oldest copy of the owner keeping the most (ties: the least recently used)."""
        counts: dict[str, int] = {}
        for item in self._items.values():
            counts[item[3]] = counts.get(item[3], 0) + 1
        most = max(counts.values())
        return next(k for k, item in self._items.items() if counts[item[3]] == most)

    def _drop(self, key: str, why: str) -> None:
        del self._items[key]
        self._gone[key] = why
        while len(self._gone) > 4096:
            self._gone.popitem(last=False)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, item in self._items.items() if now - item[0] > self.ttl_s]:
            self._drop(key, "expired")


# -- the explainer --------------------------------------------------------------------------------


def _last_param_layer(model: Sequential) -> int:
    for i in range(len(model.layers) - 1, -1, -1):
        if model.layers[i].params:
            return i
    raise ValueError("the network has no weights to step")


class Explainer:
    """Answers the explain endpoints; thread-safe (the routes call it from worker threads)."""

    def __init__(
        self,
        registry: ModelRegistry,
        digits: DigitBank,
        is_run: Callable[[str], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.digits = digits
        self.scratch = ScratchModels()
        self.pinned = PinnedWeights()
        self.is_run = is_run or (lambda _id: False)

    def model(self, model_id: str | None, step: int | None = None) -> tuple[str, Sequential]:
        """(id, network) for any id predict takes, or a scratch id. The network is shared: the
        maths copies it before computing."""
        resolved, model, _ = self.model_at(model_id, step)
        return resolved, model

    def model_at(self, model_id: str | None, step: int | None = None) -> tuple[str, Sequential, int | None]:
        """:meth:`model` and the training step its weights are from (None: not a run's).

        Without ``step``: the weights the id names now (a run's latest), kept in :attr:`pinned`
        when they have a step. With ``step``: exactly that step's weights, so the cards of one
        Learn screen read one set of weights while the run trains on (:mod:`.pinned`); raises
        :class:`WeightsMovedError` when they are no longer kept and the run has moved on."""
        if model_id and model_id.startswith(SCRATCH_PREFIX):
            if step is not None:
                raise ValueError("step: a scratch network has no training step; leave step out")
            return model_id, self.scratch.get(model_id)[0], None
        if step is not None:
            kept = self.pinned.get(model_id or self.registry.default_id, step)
            if kept is not None:
                return model_id or self.registry.default_id, _snapshot(kept), step
        try:
            resolved, model, lock = self.registry.load(model_id)
        except UnknownModelError:
            if model_id and self.is_run(model_id):
                message = f"run {model_id} has no weights yet; wait for its first steps"
                raise NoWeightsYetError(message) from None
            raise
        with lock:  # a consistent snapshot of the weights while a prediction may be running
            snap, now = _snapshot(model), self.registry.step_of(model)
        if step is not None and now is None:
            raise ValueError(f"step: {resolved!r} is not a run's weights and has no training step")
        if step is not None and now != step:
            raise WeightsMovedError(resolved, step, now)
        if now is not None:
            self.pinned.put(resolved, now, snap)
            snap = _snapshot(snap)  # the kept one is never run (a forward pass leaves caches)
        return resolved, snap, now

    # -- /api/explain ---------------------------------------------------------------------------
    def explain(self, request: dict[str, Any]) -> dict[str, Any]:
        model_id, model, step = self.model_at(request.get("model"), request.get("step"))
        digit = self.digits.resolve(request)
        wanted = request.get("layers")
        if wanted is not None:
            bad = [i for i in wanted if not 0 <= i < len(model.layers)]
            if bad:
                last = len(model.layers) - 1
                raise ValueError(f"layers: no layer {bad[0]}; the network has layers 0..{last}")
        chosen = set(range(len(model.layers)) if wanted is None else wanted)
        with_params = request.get("params", True)
        _check_size(model, chosen, with_params)
        target = request.get("target")
        t = trace(model, digit.x, digit.label if target is None else target)
        answer = explanation(t, model_id, digit.source(), chosen, with_params, target is not None)
        answer["digits"] = self.digits.counts()
        answer["step"] = step
        return answer

    # -- /api/explain/activations ---------------------------------------------------------------
    def activations(self, request: dict[str, Any]) -> dict[str, Any]:
        """Every layer's exact output for one digit (float32, as the network computed it) and
        every dense layer's biases: what the page reads when a person hovers a neuron or a map
        (the pictures it draws are uint8; these are the numbers)."""
        model_id, model = self.model(request.get("model"), request.get("step"))
        digit = self.digits.resolve(request)
        out, acts = model.forward_record(digit.x.reshape(1, *model.input_shape).astype(np.float32))
        probs = probabilities(model.loss, out)[0]
        return {
            "model": model_id,
            "source": digit.source(),
            "readout": readout(model.loss),
            "input": tensor(digit.x[0]),
            "probabilities": _floats(probs),
            "layers": [
                {"index": i, "type": layer.kind, **tensor(a[0])}
                for i, (layer, a) in enumerate(zip(model.layers, acts, strict=True))
            ],
            "biases": {
                str(i): _floats(layer.params["b"])
                for i, layer in enumerate(model.layers)
                if layer.kind == "dense"
            },
        }

    # -- /api/explain/conv ----------------------------------------------------------------------
    def explain_map(self, request: dict[str, Any]) -> dict[str, Any]:
        model_id, model, step = self.model_at(request.get("model"), request.get("step"))
        index = request["layer"]
        if not 0 <= index < len(model.layers):
            raise ValueError(f"layer: no layer {index}; the network has layers 0..{len(model.layers) - 1}")
        spec = model.layers[index].spec()
        if spec["type"] not in MAP_LAYERS:
            kinds = [
                f"{i} ({layer.kind})" for i, layer in enumerate(model.layers) if layer.kind in MAP_LAYERS
            ]
            raise ValueError(
                f"layer {index} is a {spec['type']} layer; explain/conv takes a conv or pooling layer"
                + (f": {', '.join(kinds)}" if kinds else " and this network has none")
            )
        digit = self.digits.resolve(request)
        target = request.get("target")
        t = trace(model, digit.x, digit.label if target is None else target)
        head = {
            "model": model_id,
            "step": step,
            "source": digit.source(),
            "target": t.target,
            "prediction": t.prediction,
            "cost": t.cost,
            "layer": index,
            "type": spec["type"],
        }
        if spec["type"] == "conv2d":
            e = explain_conv(t, index, spec, request.get("kernel", 0), request.get("channel", 0))
            return {
                **head,
                "kernel": e.kernel_index,
                "channel": e.channel,
                "kernels": int(model.layers[index].params["W"].shape[0]),
                "channels": int(model.layers[index].params["W"].shape[1]),
                "stride": e.stride,
                "padding": list(e.padding),
                "bias": e.bias,
                "bias_grad": e.bias_grad,
                "maps": {
                    name: tensor(getattr(e, name))
                    for name in (
                        "input",
                        "padded_input",
                        "kernel",
                        "partial",
                        "output",
                        "error",
                        "dilated_error",
                        "padded_error",
                        "rotated",
                        "input_grad_part",
                        "input_grad",
                        "kernel_grad",
                    )
                },
                "checks": e.checks,
            }
        p = explain_pool(t, index, spec, request.get("channel", 0))
        return {
            **head,
            "channel": p.channel,
            "channels": int(t.layers[index].output.shape[0]),
            "mode": p.mode,
            "size": p.size,
            "stride": p.stride,
            "winners": {"shape": list(p.winners.shape), "values": p.winners.ravel().tolist()},
            "maps": {name: tensor(getattr(p, name)) for name in ("input", "output", "error", "input_grad")},
            "checks": p.checks,
        }

    # -- /api/explain/step ----------------------------------------------------------------------
    def step(self, request: dict[str, Any], owner: str = "") -> dict[str, Any]:
        """One step; with ``keep`` the stepped copy is kept for ``owner`` (see :class:`ScratchModels`)."""
        model_id, model, step = self.model_at(request.get("model"), request.get("step"))
        keep = bool(request.get("keep"))
        if keep and not self.scratch.fits(model.param_count()):  # before the copy is made
            raise ValueError(
                f"keep: a network of {model.param_count():,} parameters is too large to keep as a "
                "scratch copy; step without keep"
            )
        examples = request["examples"]
        if not 1 <= len(examples) <= MAX_BATCH:
            raise ValueError(f"examples: give 1 to {MAX_BATCH} digits, got {len(examples)}")
        digits = [self.digits.resolve(e) for e in examples]
        x = np.stack([d.x for d in digits])
        if x.shape[1:] != model.input_shape:
            shape, got = list(model.input_shape), list(x.shape[1:])
            raise ValueError(f"the network reads inputs of shape {shape}, not {got}")
        targets = []
        for e, d in zip(examples, digits, strict=True):
            target = e.get("target")
            target = d.label if target is None else target
            if target is None:  # drawn digit, no target: the network's own reading
                target = trace(model, d.x).target
            targets.append(int(target))
        labels = np.array(targets)
        lr = float(request["lr"])
        etas = np.linspace(0.0, 3.0 * lr, int(request.get("points", 31)))
        result = gradient_step(model, x, labels, lr, etas)
        last = _last_param_layer(model)
        singles = per_example_gradients(model, x, labels)
        mean = {name: np.mean([g[name] for g in singles], axis=0) for name in singles[0]}
        # The mini-batch gradient is the average of the single examples' (the batch cost is their mean).
        agreement = max(float(np.abs(mean[name] - result.gradient[name]).max()) for name in mean)
        # The original network, however many steps deep (not the scratch copy stepped from).
        origin = self.scratch.get(model_id)[1] if model_id.startswith(SCRATCH_PREFIX) else model_id
        kept = self.scratch.add(result.model, origin, owner) if keep else None
        return {
            "model": model_id,
            "origin": origin,
            "step": step,
            "scratch": kept,
            "lr": result.lr,
            "cost_before": result.cost_before,
            "cost_after": result.cost_after,
            "curve": {"lr": _floats(result.etas), "cost": _floats(result.curve)},
            "layer": last,
            "examples": [
                {
                    "source": d.source(),
                    "target": int(labels[i]),
                    "cost_before": float(result.costs_before[i]),
                    "cost_after": float(result.costs_after[i]),
                    "probabilities_before": _floats(result.probabilities_before[i]),
                    "probabilities_after": _floats(result.probabilities_after[i]),
                    "prediction_before": int(np.argmax(result.probabilities_before[i])),
                    "prediction_after": int(np.argmax(result.probabilities_after[i])),
                    "weight_grad": tensor(singles[i][f"{last}.W"]),
                    "input": tensor(d.x),
                }
                for i, d in enumerate(digits)
            ],
            "mean_weight_grad": tensor(mean[f"{last}.W"]),
            "batch_weight_grad": tensor(result.gradient[f"{last}.W"]),
            "average_matches_batch": agreement,
        }


def explanation(
    t: Trace,
    model_id: str,
    source: dict[str, Any],
    chosen: set[int] | None = None,
    with_params: bool = True,
    target_given: bool = True,
) -> dict[str, Any]:
    """A trace as the JSON of ``/api/explain`` (``chosen``: the layers whose values to include)."""
    chosen = set(range(len(t.layers))) if chosen is None else chosen
    return {
        "model": model_id,
        "loss": t.loss,
        "source": source,
        "target": t.target,
        "target_was_given": target_given,
        "prediction": t.prediction,
        "probabilities": _floats(t.probabilities),
        "cost": t.cost,
        "terms": _floats(t.terms),
        "wishes": _floats(-t.layers[-1].grad_output),
        "step_lr": DEFAULT_STEP_LR.get(t.loss, 0.1),
        "input": tensor(t.input),
        "input_grad": tensor(t.grad_input),
        "layers": [_layer(lt, lt.index in chosen, with_params) for lt in t.layers],
    }


def _snapshot(model: Sequential) -> Sequential:
    """A float32 copy of a shared network (same spec and weights), safe to use without its lock."""
    copy = Sequential.from_spec(model.spec())
    copy.load_state_dict(model.state_dict())
    return copy


def _check_size(model: Sequential, chosen: set[int], with_params: bool) -> None:
    """Refuse, before computing, an answer over :data:`MAX_NUMBERS` numbers."""
    count = 2 * int(np.prod(model.input_shape))
    for i, layer in enumerate(model.layers):
        if i in chosen:
            count += 3 * int(np.prod(layer.out_shape or ()))  # output, its error, the slope
            count += layer.param_count() * (2 if with_params else 1)
    if count > MAX_NUMBERS:
        raise ValueError(
            f"the explanation would hold {count:,} numbers, over the limit of {MAX_NUMBERS:,}: ask for "
            'fewer layers ("layers": [...]) or leave the weights out ("params": false)'
        )


def _layer(lt: LayerTrace, full: bool, with_params: bool) -> dict[str, Any]:
    """One layer of a trace as JSON: always its type, role and shape; values when ``full``."""
    out: dict[str, Any] = {
        "index": lt.index,
        "type": lt.kind,
        "role": lt.role,
        "shape": list(lt.output.shape),
        "output": None,
        "grad_output": None,
        "slope": None,
        "params": {},
    }
    if not full:
        return out
    out["output"] = tensor(lt.output)
    out["grad_output"] = tensor(lt.grad_output)
    out["slope"] = tensor(lt.slope) if lt.slope is not None else None
    out["params"] = {
        name: {
            "shape": list(value.shape),
            "values": _floats(value) if with_params else None,
            "grad": _floats(lt.grads[name]),
        }
        for name, value in lt.params.items()
    }
    return out
