"""Teach it your handwriting: what a fine-tuning run adds to ordinary training.

A "teach it" run starts from a chosen network's weights and trains on MNIST mixed with *my
digits* — each of mine repeated so that a few dozen drawings weigh against thousands of MNIST
digits, and (when the run augments) transformed afresh every time they come round. Some of my
digits are held out: the run reports how many of those it reads right before it starts (epoch 0)
and after every epoch, beside MNIST test accuracy, so a learner sees it learn *their* writing
without forgetting everyone else's.

Everything the run needs is written into its folder when it is created, so it can be resumed
(or re-run) exactly: ``teach.json`` (the settings), ``mine-{train,holdout}-{images,labels}``
(IDX files) and ``init.npz`` (the starting weights).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..data.mnist import Split, Splits, idx_bytes, read_idx

__all__ = ["TEACH_FILE", "Teach", "mix", "split_holdout"]

TEACH_FILE = "teach.json"
INIT_FILE = "init.npz"


@dataclass(frozen=True)
class Teach:
    """``repeat``: times each of my training digits appears per epoch; ``train_subset``: MNIST
    training digits used (the first N), None for all; ``init``: the starting checkpoint's file in
    the run folder, None to start from scratch; ``origin``: the model id it came from."""

    repeat: int = 20
    train_subset: int | None = 12000
    init: str | None = INIT_FILE
    origin: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.repeat, int) or not 1 <= self.repeat <= 500:
            raise ValueError(f"repeat must be an integer in [1, 500], got {self.repeat!r}")
        if self.train_subset is not None and (
            not isinstance(self.train_subset, int) or self.train_subset < 0
        ):
            raise ValueError(
                f"train_subset must be a non-negative integer or null, got {self.train_subset!r}"
            )

    # -- the run folder -------------------------------------------------------------------------
    def save(
        self,
        folder: Path,
        train: tuple[np.ndarray, np.ndarray],
        holdout: tuple[np.ndarray, np.ndarray],
        init_bytes: bytes | None,
    ) -> None:
        """Write everything the run needs into ``folder`` (images (N, 28, 28) uint8, labels (N,))."""
        folder.mkdir(parents=True, exist_ok=True)
        for part, (images, labels) in (("train", train), ("holdout", holdout)):
            (folder / f"mine-{part}-images").write_bytes(idx_bytes(images))
            (folder / f"mine-{part}-labels").write_bytes(idx_bytes(labels))
        if init_bytes is not None:
            (folder / INIT_FILE).write_bytes(init_bytes)
        (folder / TEACH_FILE).write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, folder: Path) -> Teach | None:
        """The settings of a teach run's folder, or None for an ordinary run."""
        path = folder / TEACH_FILE
        if not path.is_file():
            return None
        return cls(**json.loads(path.read_text()))

    @staticmethod
    def mine(folder: Path, part: str) -> Split:
        """My digits of one part ("train" or "holdout") as a split of activations."""
        images = read_idx(folder / f"mine-{part}-images")
        labels = read_idx(folder / f"mine-{part}-labels")
        x = (images.astype(np.float32) / np.float32(255))[:, None]
        return Split(x=x, y=labels.astype(np.int64))


def split_holdout(
    labels: np.ndarray, fraction: float, seed: int, images: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): about ``fraction`` of each digit's examples held out
    (at least one when a digit has two or more), chosen by ``seed``.

    With ``images`` (N, ...), identical images are one digit: every copy of it (labelled twice,
    imported twice) goes to the same side, so no digit kept aside has a twin that trains and the
    held-out figure measures digits the run never saw. A digit's label is its first copy's.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"holdout must be in [0, 1), got {fraction}")
    n = len(labels)
    if images is None or n == 0:
        group = np.arange(n)
    else:
        flat = np.ascontiguousarray(images).reshape(n, -1)
        _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
        group = first[inverse.reshape(-1)]  # each example's digit, named by its first copy
    firsts = np.unique(group)
    rng = np.random.default_rng(seed)
    hold: list[int] = []
    for d in np.unique(labels[firsts]):
        idx = firsts[labels[firsts] == d]
        k = round(fraction * len(idx))
        if fraction > 0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        hold.extend(rng.permutation(idx)[:k].tolist())
    held = np.flatnonzero(np.isin(group, hold)).astype(np.int64)
    train = np.setdiff1d(np.arange(n), held)
    return train, held


def mix(splits: Splits, mine: Split, repeat: int, train_subset: int | None) -> Splits:
    """MNIST's training digits (the first ``train_subset``) with ``mine`` repeated ``repeat``
    times; validation and test unchanged."""
    base = splits.train
    if train_subset is not None:
        base = Split(x=base.x[:train_subset], y=base.y[:train_subset])
    x = np.concatenate([base.x, *([mine.x] * repeat)])
    y = np.concatenate([base.y, *([mine.y] * repeat)])
    return dataclasses.replace(splits, train=Split(x=x, y=y))
