"""Creating a "teach it" run: which network, which of my digits train and which are held out.

``POST /api/runs`` with ``teach`` asks :func:`plan_teach` for a :class:`TeachPlan` (the starting
network's spec and weights, my digits split into training and held-out ones) and, once the run
exists, writes it into the run's folder (:meth:`TeachPlan.write`), where the training process
finds it (``glassnet.training.teach``). My digits are copied at that moment, so the run stays the
same whatever is labelled, relabelled or deleted later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import HTTPException

from ..nn.checkpoint import MAX_CHECKPOINT_BYTES, CheckpointError, read_checkpoint_info
from ..training.teach import Teach, split_holdout
from .inference import UnknownModelError
from .schemas import TeachRequest

__all__ = ["FINE_TUNE", "MIN_DIGITS", "TeachPlan", "plan_teach", "teach_name"]

MIN_DIGITS = 10
#: How a network is fine-tuned unless the request says otherwise: gently (a small Adam step, one
#: pass), on varied versions of the digits, so it learns the new style without forgetting MNIST.
FINE_TUNE: dict[str, Any] = {"optimizer": "adam", "lr": 0.0005, "batch_size": 64, "epochs": 1, "augment": {}}


@dataclass
class TeachPlan:
    teach: Teach
    spec: dict[str, Any]  # the network (the starting checkpoint's, or the run's own)
    init: bytes | None  # the starting checkpoint's bytes, None from scratch
    train: tuple[np.ndarray, np.ndarray]  # my digits that train: images (N, 28, 28) uint8, labels
    holdout: tuple[np.ndarray, np.ndarray]  # my digits kept aside to measure

    def train_size(self, mnist: int) -> int:
        """Training digits per epoch, given the MNIST training digits available."""
        subset = mnist if self.teach.train_subset is None else min(mnist, self.teach.train_subset)
        return subset + self.teach.repeat * len(self.train[1])

    def write(self, folder: Path) -> None:
        self.teach.save(folder, self.train, self.holdout, self.init)


def teach_name(plan: TeachPlan | None, preset: str | None = None) -> str | None:
    """How a teach run is named: "teach cnn" (fine-tuned), "mlp with my digits" (from scratch);
    None for other runs."""
    if plan is None:
        return None
    if plan.teach.origin:
        return f"teach {plan.teach.origin}"
    return f"{preset} with my digits" if preset else "with my digits"


def plan_teach(state: Any, req: TeachRequest, owner: str = "") -> TeachPlan:
    """The plan for a teach run, from the app's state (its registry and ``owner``'s digits).

    Raises HTTPException: 404 for an unknown model, 422 for too few digits or a model that
    cannot be taught digits.
    """
    _, images, labels = state.digits.arrays(owner)
    if len(labels) < MIN_DIGITS:
        raise HTTPException(
            422, f"teaching needs at least {MIN_DIGITS} of your digits; you have labelled {len(labels)}"
        )
    # Twins (the same image twice) stay on one side: nothing kept aside is also trained on.
    train_idx, hold_idx = split_holdout(labels, req.holdout, seed=0, images=images)
    spec: dict[str, Any] = {}
    init = None
    if req.from_model is not None:
        try:
            path = state.registry.path_of(req.from_model)
            init = path.read_bytes()
            spec, _, model = read_checkpoint_info(init, name=req.from_model, max_bytes=MAX_CHECKPOINT_BYTES)
        except UnknownModelError as exc:
            raise HTTPException(404, str(exc)) from None
        except (CheckpointError, OSError) as exc:
            raise HTTPException(422, f"model cannot be taught: {exc}") from None
        if model.output_shape != (10,) or int(np.prod(model.input_shape)) != 28 * 28:
            raise HTTPException(422, f"model {req.from_model} does not read 28x28 digits into 10 classes")
        spec = {k: v for k, v in spec.items() if k != "train"}
    teach = Teach(
        repeat=req.repeat,
        train_subset=req.train_subset,
        init="init.npz" if init is not None else None,
        origin=req.from_model,
    )
    return TeachPlan(
        teach=teach,
        spec=spec,
        init=init,
        train=(images[train_idx], labels[train_idx]),
        holdout=(images[hold_idx], labels[hold_idx]),
    )
