"""The weights of a run at one step, kept a while so every card of the Learn view reads the same.

A training run rewrites its ``live.npz`` every second or so. The Learn view asks several questions
about one digit (``/api/explain``, then ``/api/explain/conv`` for the convolution and pooling
cards, maybe a step), seconds apart: asked for "the run's latest weights" each time, the cards
would show different steps of the run on one screen. So the first answer names the step its
weights are from, the page sends that ``step`` with every later question, and the explainer finds
those weights here (:class:`PinnedWeights`), kept by ``(model id, step)``, least recently used
first out. When they are gone (evicted, a restart) and the run has moved on, the question is
answered with :class:`WeightsMovedError` (409, code ``weights_moved``): the page then asks again
for the latest weights, and says so.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..nn.model import Sequential

__all__ = ["PinnedWeights", "WeightsMovedError"]


class WeightsMovedError(LookupError):
    """The weights of ``step`` are no longer kept and the model's weights are now of another step."""

    def __init__(self, model_id: str, step: int, now: int) -> None:
        super().__init__(model_id, step, now)

    def __str__(self) -> str:
        model_id, step, now = self.args
        return (
            f"the weights of {model_id!r} at step {step} are no longer kept; its weights are now at "
            f"step {now}: ask again without a step for the latest"
        )


class PinnedWeights:
    """Float32 snapshots of networks by ``(model id, step)``, at most ``max_items`` and
    ``max_bytes`` (4 bytes a parameter) together, least recently used dropped first. Thread-safe;
    :meth:`get` hands out the stored network itself: callers copy it before a forward pass."""

    def __init__(self, max_items: int = 64, max_bytes: int = 256 * 2**20) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, int], tuple[Sequential, int]] = OrderedDict()

    def put(self, model_id: str, step: int, model: Sequential) -> None:
        """Keep ``model`` (a snapshot nobody else changes) as ``model_id``'s weights at ``step``."""
        size = 4 * model.param_count()
        if size > self.max_bytes:
            return
        with self._lock:
            self._items[(model_id, step)] = (model, size)
            self._items.move_to_end((model_id, step))
            while len(self._items) > self.max_items or self._bytes() > self.max_bytes:
                self._items.popitem(last=False)

    def get(self, model_id: str, step: int) -> Sequential | None:
        """The snapshot of ``model_id`` at ``step``, or None when it is not kept."""
        with self._lock:
            hit = self._items.get((model_id, step))
            if hit is None:
                return None
            self._items.move_to_end((model_id, step))
            return hit[0]

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _bytes(self) -> int:
        return sum(size for _, size in self._items.values())
