"""The wait for a training slot, fair across people: first in, first out *per owner*, round-robin
across owners — so one person who queues ten runs cannot push a class of thirty back.

Service order: every owner's oldest waiting run, owners in the order they started waiting, then
every owner's second run, and so on. (Taking the first owner's oldest run and moving that owner
to the end of the line, over and over, gives exactly this order.)

:func:`estimate_starts` turns the order into start times: each slot frees when the run in it
ends (its remaining steps at its measured speed), and each waiting run takes the earliest free
slot for its own expected duration. Pure standard library; no I/O.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict, deque
from collections.abc import Iterator


class FairQueue:
    """Runs waiting to train, by owner. ``order()`` is the service order (cached until a change)."""

    def __init__(self) -> None:
        self.by_owner: OrderedDict[str, deque[str]] = OrderedDict()
        self.owner_of: dict[str, str] = {}
        self._order: list[str] | None = None
        self._position: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.owner_of)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.owner_of

    def __iter__(self) -> Iterator[str]:
        return iter(self.order())

    def append(self, run_id: str, owner: str) -> None:
        """Queue a run behind its owner's other waiting runs (an owner new to the line goes last)."""
        if run_id in self.owner_of:
            return
        self.by_owner.setdefault(owner, deque()).append(run_id)
        self.owner_of[run_id] = owner
        self._order = None

    def putback(self, run_id: str, owner: str) -> None:
        """A run taken by :meth:`popleft` but not started (the executor refused it for now) gets
        its place back: first in line, its owner's first; the order is as before the take."""
        if run_id in self.owner_of:
            return
        self.by_owner.setdefault(owner, deque()).appendleft(run_id)
        self.by_owner.move_to_end(owner, last=False)
        self.owner_of[run_id] = owner
        self._order = None

    def remove(self, run_id: str) -> bool:
        owner = self.owner_of.pop(run_id, None)
        if owner is None:
            return False
        runs = self.by_owner[owner]
        runs.remove(run_id)
        if not runs:
            del self.by_owner[owner]
        self._order = None
        return True

    def popleft(self) -> str:
        """The next run to start: the first owner's oldest; that owner moves to the end of the line."""
        if not self.by_owner:
            raise IndexError("the queue is empty")
        owner, runs = next(iter(self.by_owner.items()))
        run_id = runs.popleft()
        del self.owner_of[run_id]
        if runs:
            self.by_owner.move_to_end(owner)
        else:
            del self.by_owner[owner]
        self._order = None
        return run_id

    def clear(self) -> None:
        self.by_owner.clear()
        self.owner_of.clear()
        self._order = None

    def count(self, owner: str) -> int:
        """How many runs ``owner`` has waiting."""
        return len(self.by_owner.get(owner, ()))

    def order(self) -> list[str]:
        """Every waiting run in the order they will start."""
        if self._order is None:
            order: list[str] = []
            lines = [list(runs) for runs in self.by_owner.values()]
            for k in range(max((len(r) for r in lines), default=0)):
                order.extend(runs[k] for runs in lines if len(runs) > k)
            self._order = order
            self._position = {run_id: i + 1 for i, run_id in enumerate(order)}
        return self._order

    def position(self, run_id: str) -> int | None:
        """1 for the next run to start; None when the run does not wait."""
        self.order()
        return self._position.get(run_id)


def estimate_starts(
    slots: int, running_left_s: list[float | None], waiting_s: list[float | None]
) -> list[float | None]:
    """Seconds from now until each waiting run starts, in service order.

    ``slots``: runs that may train at once; ``running_left_s``: the seconds each training run
    still needs (None: unknown, e.g. no speed measured yet); ``waiting_s``: each waiting run's
    expected duration, in service order. A start that depends on an unknown is None.
    """
    if slots < 1:
        return [None] * len(waiting_s)
    free = [0.0] * max(0, slots - len(running_left_s))  # idle slots are free now
    free += [math.inf if s is None else max(0.0, s) for s in running_left_s]
    heapq.heapify(free)
    starts: list[float | None] = []
    for duration in waiting_s:
        at = heapq.heappop(free)
        starts.append(None if math.isinf(at) else at)
        heapq.heappush(free, math.inf if duration is None or math.isinf(at) else at + duration)
    return starts
