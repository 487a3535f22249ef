"""Training runs as TensorBoard event files, so glassnet runs open in TensorBoard beside other work.

:class:`TensorBoardWriter` takes the trainer's events (the same ``batch`` / ``epoch`` callbacks the
CLI's progress bar and the service's stream read) and writes, through ``tensorboardX``:

* scalars ``train/loss``, ``train/accuracy``, ``train/lr`` every mini-batch (the noisy curve of
  mini-batch gradient descent) and ``epoch/train_loss``, ``epoch/train_accuracy``, ``epoch/val_loss``,
  ``epoch/val_accuracy`` every epoch (the smooth one);
* histograms ``weights/<i>.<layer>.<param>`` and ``gradients/<i>.<layer>.<param>`` every epoch;
* images ``kernels/<i>.conv2d``: each convolution kernel (its first input channel) drawn min–max
  into 0..1, as the dashboard does.

Needs ``tensorboardX`` (the ``tensorboard`` extra: :func:`glassnet.extras.install_hint`); read the files with
``tensorboard --logdir DIR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..extras import install_hint
from ..nn.model import Sequential
from ..training.trainer import BatchMetrics, EpochMetrics

__all__ = ["TensorBoardWriter", "require_tensorboard"]


def require_tensorboard() -> Any:
    """The ``tensorboardX.SummaryWriter`` class, or a ``ValueError`` saying what to install."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ValueError(f"TensorBoard files need tensorboardX: {install_hint('tensorboard')}") from None
    return SummaryWriter


def _kernel_images(w: np.ndarray) -> np.ndarray:
    """Conv weights (F, C, k, k) -> (F, 1, k, k) float32 images in [0, 1], min–max per kernel."""
    first = w[:, :1].astype(np.float32)
    low = first.min(axis=(1, 2, 3), keepdims=True)
    span = first.max(axis=(1, 2, 3), keepdims=True) - low
    return np.where(span > 0, (first - low) / np.where(span > 0, span, 1), 0.5).astype(np.float32)


class TensorBoardWriter:
    """Trainer events -> event files in ``logdir`` (created if needed)."""

    def __init__(self, logdir: str | Path, model: Sequential) -> None:
        summary_writer = require_tensorboard()
        self.logdir = Path(logdir)
        self.model = model
        self.writer = summary_writer(logdir=str(self.logdir), flush_secs=5)

    def on_event(self, event: str, payload: Any) -> None:
        """The trainer callback: ``("batch", BatchMetrics)`` or ``("epoch", (EpochMetrics, _))``."""
        if event == "batch":
            self.batch(payload)
        elif event == "epoch":
            self.epoch(payload[0])

    def batch(self, m: BatchMetrics) -> None:
        for name, value in (("loss", m.loss), ("accuracy", m.accuracy), ("lr", m.lr)):
            if np.isfinite(value):
                self.writer.add_scalar(f"train/{name}", value, m.step)

    def epoch(self, m: EpochMetrics) -> None:
        for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            value = getattr(m, name)
            if value is not None and np.isfinite(value):
                self.writer.add_scalar(f"epoch/{name}", value, m.step)
        for i, layer in enumerate(self.model.layers):
            for param, value in layer.params.items():
                tag = f"{i}.{layer.kind}.{param}"
                if np.all(np.isfinite(value)):
                    self.writer.add_histogram(f"weights/{tag}", value.astype(np.float32), m.step)
                grad = layer.grads.get(param)
                if grad is not None and np.all(np.isfinite(grad)):
                    self.writer.add_histogram(f"gradients/{tag}", grad.astype(np.float32), m.step)
            if layer.kind == "conv2d":
                images = _kernel_images(layer.params["W"])
                self.writer.add_images(f"kernels/{i}.conv2d", images, m.step, dataformats="NCHW")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
