"""The fair queue: FIFO per owner, round-robin across owners; start estimates from slot times."""

from __future__ import annotations

import pytest

from glassnet.service.fairqueue import FairQueue, estimate_starts


def test_round_robin_across_owners_fifo_within_one() -> None:
    q = FairQueue()
    arrivals = [("a1", "ann"), ("a2", "ann"), ("a3", "ann"), ("b1", "bob"), ("c1", "cy"), ("b2", "bob")]
    for run, owner in arrivals:
        q.append(run, owner)
    assert q.order() == ["a1", "b1", "c1", "a2", "b2", "a3"]
    assert [q.position(r) for r in ("a1", "b1", "c1", "a2", "b2", "a3")] == [1, 2, 3, 4, 5, 6]
    assert q.count("ann") == 3 and q.count("dee") == 0 and len(q) == 6
    # Popping follows the announced order exactly, and the order of what is left stays true.
    popped = []
    while q:
        expected = q.order()
        popped.append(q.popleft())
        assert popped[-1] == expected[0] and q.order() == expected[1:]
    assert popped == ["a1", "b1", "c1", "a2", "b2", "a3"]
    with pytest.raises(IndexError):
        q.popleft()


def test_remove_and_late_owner() -> None:
    q = FairQueue()
    for run, owner in [("a1", "ann"), ("a2", "ann"), ("b1", "bob")]:
        q.append(run, owner)
    assert q.remove("a1") and not q.remove("a1")
    assert q.order() == ["a2", "b1"] and q.position("a1") is None
    q.append("c1", "cy")  # a new owner waits behind those already in line
    assert q.order() == ["a2", "b1", "c1"]
    q.append("a2", "ann")  # already queued: nothing changes
    assert len(q) == 3


def test_a_run_put_back_keeps_its_place() -> None:
    """A run taken to start but refused by the executor for now is first again, and the order is
    the one before the take (it was appended at the end before: a refused run lost its turn)."""
    q = FairQueue()
    for run, owner in [("a1", "ann"), ("a2", "ann"), ("b1", "bob"), ("c1", "cy")]:
        q.append(run, owner)
    before = q.order()
    for _ in range(3):  # refused three times in a row
        taken = q.popleft()
        assert taken == "a1"
        q.putback(taken, "ann")
        assert q.order() == before and q.position("a1") == 1
    q.putback("b1", "bob")  # already waiting: nothing changes
    assert q.order() == before and len(q) == 4
    q.popleft()
    taken = q.popleft()  # bob's turn, his only run: he leaves the line, and comes back first
    q.putback(taken, "bob")
    assert q.order() == ["b1", "c1", "a2"]


def test_estimated_starts() -> None:
    # Two slots, one free; the other frees in 30 s. Runs of 10 s, 20 s, unknown, 5 s, 1 s wait:
    # the unknown one holds its slot for good, so the last start is unknown too.
    assert estimate_starts(2, [30.0], [10.0, 20.0, None, 5.0, 1.0]) == [0.0, 10.0, 30.0, 30.0, 35.0]
    assert estimate_starts(1, [30.0], [10.0, None, 5.0]) == [30.0, 40.0, None]
    # A paused run (unknown) holds its slot; the other slot serves the queue.
    assert estimate_starts(2, [None, 4.0], [6.0, 6.0]) == [4.0, 10.0]
    assert estimate_starts(1, [None], [1.0]) == [None]
