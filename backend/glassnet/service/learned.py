"""What a run has learned, read back from its checkpoints after it trained (finished, stopped,
interrupted, diverged): the same kernels, probe activations and gradients the live stream sends
(:mod:`.frames`), for any checkpoint the run kept — the timeline of a run nobody watched live —
and every validation digit of a confusion-matrix cell, from the answers stored per epoch.

Shapes: frames as in :mod:`.protocol` (``KernelsData``, ``GradientsData``, ``ActivationsData``);
digit images (28, 28) encoded like the epoch's misclassified digits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..nn.checkpoint import MAX_RUN_CHECKPOINT_BYTES, read_checkpoint, read_checkpoint_info
from ..training.probes import PROBE_DIGITS, probe_indices
from .encoding import encode_array
from .explain import DigitBank
from .frames import heavy_frames, probe_gradients

CHECKPOINT_NAME = re.compile(r"(epoch-\d{3,6}|last)\.npz")
MAX_PAGE = 200


class NoCheckpointError(LookupError):
    """The run has no such checkpoint (-> 404)."""


def checkpoints(folder: Path) -> list[dict[str, Any]]:
    """The run's checkpoints, oldest first: ``{"name", "step", "epoch"}`` (``last`` only when it is
    newer than the last epoch's copy). Reads each file's spec and meta, never its weights."""
    out: list[dict[str, Any]] = []
    if not folder.is_dir():
        return out
    names = sorted(p.name for p in folder.glob("epoch-*.npz") if CHECKPOINT_NAME.fullmatch(p.name))
    if (folder / "last.npz").is_file():
        names.append("last.npz")
    for name in names:
        try:
            _, meta, _ = read_checkpoint_info(folder / name, name=name, max_bytes=MAX_RUN_CHECKPOINT_BYTES)
        except (OSError, ValueError):
            continue  # half-written or unreadable: not on the timeline
        item = {
            "name": name.removesuffix(".npz"),
            "step": int(meta.get("step", 0)),
            "epoch": int(meta.get("epoch", 0)),
        }
        if out and item["name"] == "last" and item["step"] <= out[-1]["step"]:
            continue
        out.append(item)
    return out


def probe_set(bank: DigitBank) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The probe digits: x (P, 1, 28, 28) float32, labels (P,), their test-set indices."""
    images, labels = bank.file_split("test")
    idx = probe_indices(labels.astype(np.int64), PROBE_DIGITS)
    x = (images[idx].astype(np.float32) / np.float32(255))[:, None]
    return x, labels[idx].astype(np.int64), [int(i) for i in idx]


def learned_frames(folder: Path, name: str, bank: DigitBank) -> dict[str, Any]:
    """Kernels, probe activations and the probe batch's gradients of checkpoint ``name``."""
    if not CHECKPOINT_NAME.fullmatch(f"{name}.npz") or not (folder / f"{name}.npz").is_file():
        raise NoCheckpointError(f"the run has no checkpoint {name!r}")
    ckpt = read_checkpoint(
        folder / f"{name}.npz", name=name, max_bytes=MAX_RUN_CHECKPOINT_BYTES, optimizer=False
    )
    model = ckpt.model
    step = int(ckpt.meta.get("step", 0))
    x, y, _ = probe_set(bank)
    probe_gradients(model, x, y)
    frames = heavy_frames(model, x, y, step)
    return {"checkpoint": name, "step": step, "epoch": int(ckpt.meta.get("epoch", 0)), **frames}


def cell_digits(
    predicted: bytes,
    bank: DigitBank,
    validation: int,
    label: int | None,
    guess: int | None,
    offset: int,
    limit: int,
) -> dict[str, Any]:
    """The validation digits with true ``label`` read as ``guess`` (either may be None: any), a
    page of them from ``offset``: ``{"total", "offset", "items": [{index, label, predicted, image}]}``."""
    images, labels = bank.validation_split(validation)
    answers = np.frombuffer(predicted, dtype=np.uint8)
    if answers.size != labels.size:
        raise ValueError(
            f"the stored answers ({answers.size}) do not match the {labels.size} validation digits"
        )
    keep = np.ones(labels.size, dtype=bool)
    if label is not None:
        keep &= labels == label
    if guess is not None:
        keep &= answers == guess
    hits = np.flatnonzero(keep)
    page = hits[offset : offset + limit]
    items = [
        {
            "index": int(i),
            "label": int(labels[i]),
            "predicted": int(answers[i]),
            "image": encode_array(images[i].astype(np.float32) / np.float32(255), per_map_axes=2),
        }
        for i in page
    ]
    return {"total": int(hits.size), "offset": offset, "items": items}
