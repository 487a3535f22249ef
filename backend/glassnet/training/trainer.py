"""The training loop: mini-batch stochastic gradient descent, one step at a time.

Each step takes a mini-batch, runs it forward, measures the cost, backpropagates, and moves every
weight and bias a little against its gradient. A mini-batch gives a noisy but cheap estimate of the
true gradient (the average over all 55,000 training digits), which is why the per-batch loss curve
jitters while the per-epoch loss falls smoothly.

The trainer is synchronous; it reports what happens through a callback, so the CLI can draw a
progress bar and the service can stream the same events to browsers. One step's arithmetic is
:class:`~glassnet.training.step.TrainStep`'s (fused blocks, the batch split across the cores).
Shapes: images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..data.augment import Augment, augment_batch, batch_rng
from ..data.mnist import Split, Splits
from ..nn.backend import to_host
from ..nn.losses import compute_loss, probabilities
from ..nn.model import Sequential
from ..nn.optim import Optimizer, make_optimizer
from ..nn.schedules import Schedule
from .allocator import keep_freed_buffers
from .config import TrainConfig
from .step import TrainStep

EVAL_BATCH = 1000
N_CLASSES = 10


class DivergedError(RuntimeError):
    """The cost became NaN or infinite: the learning rate is too high for this network."""


@dataclass
class BatchMetrics:
    step: int
    epoch: int
    loss: float
    accuracy: float
    lr: float
    samples_per_s: float


@dataclass
class Evaluation:
    """Cost and accuracy on a split, the 10×10 confusion matrix (rows: true digit, columns: what
    the network said) and every prediction (N,)."""

    loss: float
    accuracy: float
    confusion: list[list[int]]
    predictions: np.ndarray = field(repr=False)

    def per_class_accuracy(self) -> list[float]:
        m = np.array(self.confusion)
        totals = m.sum(axis=1)
        return [float(m[i, i] / totals[i]) if totals[i] else 0.0 for i in range(len(m))]


@dataclass
class EpochMetrics:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    confusion: list[list[int]] | None
    seconds: float
    #: accuracy on the extra evaluation sets (e.g. "mine": my held-out digits, "test": MNIST test)
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Callback = Callable[[str, Any], None]


def evaluate(model: Sequential, split: Split, batch: int = EVAL_BATCH) -> Evaluation:
    """Forward the whole split in prediction mode (dropout off)."""
    n = split.x.shape[0]
    if n == 0:
        raise ValueError("cannot evaluate on an empty split")
    total_loss = 0.0
    preds = np.empty(n, dtype=np.int64)
    xp = model.pack().xp  # the images go to the model's device, the predictions come back
    for start in range(0, n, batch):
        out = model.forward(xp.asarray(split.x[start : start + batch]))
        labels = split.y[start : start + batch]
        loss, _ = compute_loss(model.loss, out, xp.asarray(labels))
        total_loss += loss * len(labels)
        preds[start : start + batch] = to_host(out.argmax(axis=1))
    k = model.output_shape[0]
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (split.y, preds), 1)
    return Evaluation(
        loss=total_loss / n,
        accuracy=float((preds == split.y).mean()),
        confusion=confusion.tolist(),
        predictions=preds,
    )


def predict_probabilities(model: Sequential, x: np.ndarray) -> np.ndarray:
    """x (N, *input_shape) -> probabilities (N, K)."""
    return probabilities(model.loss, model.forward(x))


class Trainer:
    """Owns a model, an optimizer and the position in the data; advances one mini-batch per
    :meth:`train_step`. ``state()`` / ``restore()`` let a run resume exactly where it stopped."""

    def __init__(
        self,
        model: Sequential,
        config: TrainConfig,
        data: Splits,
        callback: Callback | None = None,
        extra_eval: dict[str, Split] | None = None,
    ) -> None:
        keep_freed_buffers()  # a fifth faster per step on big conv buffers; see allocator.py
        self.model = model
        self.config = config
        self.data = data
        self.callback = callback or (lambda event, payload: None)
        self.extra_eval = {k: v for k, v in (extra_eval or {}).items() if len(v)}
        # Augmentation: each mini-batch transformed afresh, from (seed, epoch, batch) alone.
        self.augment = Augment.from_dict(config.augment) if config.augment else None
        n_train = data.train.x.shape[0]
        if n_train == 0:
            raise ValueError("the training split is empty")
        if tuple(data.train.x.shape[1:]) != model.input_shape:
            raise ValueError(
                f"the network expects inputs of shape {model.input_shape}, "
                f"the dataset has {tuple(data.train.x.shape[1:])}"
            )
        # Validation runs in batches that stay within the activation-memory cap.
        self.eval_batch = max(1, min(EVAL_BATCH, model.max_batch()))
        self.steps_per_epoch = math.ceil(n_train / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.optimizer: Optimizer = make_optimizer(
            config.optimizer,
            config.lr,
            config.momentum,
            config.weight_decay,
            beta1=config.beta1,
            beta2=config.beta2,
        )
        self.step_fn = TrainStep(model)
        self.rng = np.random.default_rng(config.seed)
        self.epoch = 0  # completed epochs
        self.step = 0  # completed mini-batches, over the whole run
        self.batch_in_epoch = 0
        self._order_rng_state = self.rng.bit_generator.state
        self.order = self.rng.permutation(n_train)
        self._epoch_loss = 0.0
        self._epoch_correct = 0
        self._epoch_seen = 0
        self._epoch_started = time.perf_counter()
        self.last_batch: tuple[np.ndarray, np.ndarray] | None = None

    # -- learning rate -----------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        c = self.config
        return Schedule(
            kind=c.schedule,
            total_steps=self.total_steps,
            step_every=c.step_epochs * self.steps_per_epoch,
            gamma=c.gamma,
        )

    def current_lr(self) -> float:
        """The base rate (which a user may change at any moment) times the schedule's factor."""
        return self.optimizer.lr * self.schedule.factor(self.step)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.epochs

    # -- one step ----------------------------------------------------------------------------
    def train_step(self) -> BatchMetrics:
        """One mini-batch of gradient descent. Raises :class:`DivergedError` (weights untouched)
        when the cost is not finite."""
        started = time.perf_counter()
        bs = self.config.batch_size
        idx = self.order[self.batch_in_epoch * bs : (self.batch_in_epoch + 1) * bs]
        x, y = self.data.train.x[idx], self.data.train.y[idx]
        if self.augment is not None:
            x = augment_batch(x, self.augment, batch_rng(self.config.seed, self.epoch, self.batch_in_epoch))
        # Forward, cost and backpropagation; the weights change only in the optimizer step below.
        result = self.step_fn(x, y)
        loss = result.loss
        if not math.isfinite(loss) or not result.finite:
            raise DivergedError(f"the cost became {loss} at step {self.step}; lower the learning rate")
        lr = self.current_lr()
        self.step_fn.update(self.optimizer, lr)
        correct = result.correct
        self.last_batch = (x, y)
        self.step += 1
        self.batch_in_epoch += 1
        self._epoch_loss += loss * len(y)
        self._epoch_correct += correct
        self._epoch_seen += len(y)
        metrics = BatchMetrics(
            step=self.step,
            epoch=self.epoch,
            loss=loss,
            accuracy=correct / len(y),
            lr=lr,
            samples_per_s=len(y) / max(time.perf_counter() - started, 1e-9),
        )
        self.callback("batch", metrics)
        if self.batch_in_epoch >= self.steps_per_epoch:
            self.end_epoch()
        return metrics

    def end_epoch(self) -> EpochMetrics:
        """Close the epoch: validation pass, epoch event, new shuffled order."""
        seen = max(self._epoch_seen, 1)
        val = evaluate(self.model, self.data.val, self.eval_batch) if self.data.val.x.shape[0] else None
        self.epoch += 1
        metrics = EpochMetrics(
            epoch=self.epoch,
            step=self.step,
            train_loss=self._epoch_loss / seen,
            train_accuracy=self._epoch_correct / seen,
            val_loss=val.loss if val else None,
            val_accuracy=val.accuracy if val else None,
            confusion=val.confusion if val else None,
            seconds=time.perf_counter() - self._epoch_started,
            extra=self.evaluate_extra(),
        )
        self.batch_in_epoch = 0
        self._order_rng_state = self.rng.bit_generator.state
        self.order = self.rng.permutation(self.data.train.x.shape[0])
        self._epoch_loss, self._epoch_correct, self._epoch_seen = 0.0, 0, 0
        self._epoch_started = time.perf_counter()
        self.callback("epoch", (metrics, val))
        return metrics

    def evaluate_extra(self) -> dict[str, float]:
        """Accuracy on each extra evaluation set, by name."""
        return {
            name: evaluate(self.model, split, self.eval_batch).accuracy
            for name, split in self.extra_eval.items()
        }

    def fit(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Train until ``config.epochs`` epochs are done (or ``should_stop()`` says so)."""
        while not self.finished and not should_stop():
            self.train_step()

    # -- resuming ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Where the run is, as JSON: position, base rates and the generator's exact state."""
        return {
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "hyperparameters": self.optimizer.hyperparameters(),
            "rng": self.rng.bit_generator.state,
            "order_rng": self._order_rng_state,
            # Mid-epoch: the epoch's running figures and each dropout layer's mask generator, so
            # a resumed run continues exactly as if it had never stopped.
            "epoch_sums": [self._epoch_loss, self._epoch_correct, self._epoch_seen],
            "layer_rngs": {
                str(i): layer.rng.bit_generator.state
                for i, layer in enumerate(self.model.layers)
                if isinstance(getattr(layer, "rng", None), np.random.Generator)
            },
        }

    def restore(self, state: dict[str, Any], optimizer_state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state` (and the optimizer's arrays) of an earlier run. A
        ValueError when its progress lies outside this run (a hand-edited or foreign checkpoint:
        step past ``total_steps``, epoch past ``epochs``), which would otherwise "finish" at once
        or train a billion steps away from its history."""
        epoch, step, batch = int(state["epoch"]), int(state["step"]), int(state["batch_in_epoch"])
        spe, epochs = self.steps_per_epoch, self.config.epochs
        if not (0 <= epoch <= epochs and 0 <= batch <= spe and 0 <= step <= self.total_steps):
            raise ValueError(
                f"the checkpoint's progress (epoch {epoch}, step {step}, batch {batch} of its epoch) "
                f"lies outside this run ({epochs} epochs of {spe} steps, {self.total_steps} in all)"
            )
        self.epoch, self.step, self.batch_in_epoch = epoch, step, batch
        if "hyperparameters" in state:
            self.optimizer.set_hyperparameters(state["hyperparameters"])
        else:  # written before each optimizer named its own settings (Adam's beta1 as momentum)
            old = {"lr": state["lr"], "weight_decay": state["weight_decay"], "momentum": state["momentum"]}
            if self.optimizer.kind == "adam":
                old["beta1"] = old.pop("momentum")
            self.optimizer.set_hyperparameters({k: v for k, v in old.items() if k in self.optimizer.names})
        self.optimizer.load_state_dict(optimizer_state)
        # Re-draw the epoch's batch order from the generator state saved before it was drawn.
        self.rng.bit_generator.state = state["order_rng"]
        self._order_rng_state = state["order_rng"]
        self.order = self.rng.permutation(self.data.train.x.shape[0])
        self.rng.bit_generator.state = state["rng"]
        if "epoch_sums" in state:
            loss, correct, seen = state["epoch_sums"]
            self._epoch_loss, self._epoch_correct, self._epoch_seen = float(loss), int(correct), int(seen)
        for index, rng_state in state.get("layer_rngs", {}).items():
            self.model.layers[int(index)].rng.bit_generator.state = rng_state
