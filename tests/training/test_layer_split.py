"""The first layer's helper process (training/layer_split.py): the same numbers with it and
without it, the optimizer's state where checkpoints read it, nothing lost or left behind when
the helper dies, and the faster way kept."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from glassnet.nn import Sequential, make_optimizer
from glassnet.nn.fused import plan_network, split_rows
from glassnet.presets import load_preset
from glassnet.training import layer_split
from glassnet.training import step as step_module
from glassnet.training.layer_split import FasterOfTwo
from glassnet.training.share_process import ShareProcessError
from glassnet.training.step import PROCESSES_ENV, TrainStep
from processes import gone, helpers_of_a_killed_trainer


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cores or more, where the helper is used (on a one-core machine too)."""
    real = step_module.usable_cores()
    monkeypatch.setattr(step_module, "usable_cores", lambda: max(real, 2))


class _Always:
    """A chooser that always answers the same way (the helper on, or off)."""

    def __init__(self, way: bool) -> None:
        self.way = way

    def pick(self, now: float) -> bool:
        return self.way

    def record(self, seconds: float, now: float) -> None:
        pass


def _batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Batches of 64 and 32 in turn (an epoch's last batch is smaller: both sizes share the
    helper's memory block)."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(count):
        n = 64 if i % 3 else 32
        x = rng.random((n, 1, 28, 28), dtype=np.float32) * (rng.random((n, 1, 28, 28)) > 0.7)
        out.append((x, rng.integers(0, 10, n)))
    return out


def _train(
    way: bool | None, kind: str, batches: list, processes: bool = True, kill_after: int | None = None
) -> tuple[Sequential, object, TrainStep, list[float]]:
    model = Sequential.from_spec(load_preset("mlp"), np.random.default_rng(2))
    lr = 0.002 if kind == "adam" else 0.05
    opt = make_optimizer(kind, lr, 0.9 if kind == "momentum" else None, weight_decay=0.001)
    step = TrainStep(model, processes=processes)
    if way is not None:
        step._chooser = _Always(way)  # type: ignore[assignment]
    losses = []
    for i, (x, y) in enumerate(batches):
        losses.append(step(x, y).loss)
        step.update(opt, lr * (1 - i / 100))  # a changing rate, as a schedule gives
        if i == kill_after:
            os.kill(step._split.proc.pid, signal.SIGKILL)  # type: ignore[union-attr]
    return model, opt, step, losses


def test_only_a_large_first_dense_layer_is_split() -> None:
    mlp = Sequential.from_spec(load_preset("mlp"))  # 784-128-64-10
    assert split_rows(mlp, plan_network(mlp)) == 392  # of 785 rows: 784 pixels and the bias
    for preset in ("cnn", "notes"):
        model = Sequential.from_spec(load_preset(preset))
        assert split_rows(model, plan_network(model)) is None


@pytest.mark.parametrize("kind", ["momentum", "adam", "sgd"])
def test_the_helper_gives_the_same_numbers(kind: str) -> None:
    batches = _batches(12)
    on, opt_on, step_on, loss_on = _train(True, kind, batches)
    off, opt_off, step_off, loss_off = _train(False, kind, batches)
    alone, _, step_alone, loss_alone = _train(None, kind, batches, processes=False)
    try:
        assert step_on.describe(64) == "fused, first layer in 2 processes" and step_on.helper_pids()
        assert step_off._split is not None and step_alone._split is None
        assert step_alone.describe(64) == "fused, 1 thread"
        # Bit for bit: the cut is the network's, whoever computes the second part.
        for model in (off, alone):
            assert np.array_equal(on.pack().data, model.pack().data)
            assert np.array_equal(on.pack().grad, model.pack().grad)
        assert loss_on == loss_off == loss_alone
        # The optimizer's state is what checkpoints save: the same in all three.
        state_on, state_off = opt_on.state_dict(), opt_off.state_dict()  # type: ignore[attr-defined]
        assert state_on.keys() == state_off.keys()
        for key in state_on:
            assert np.array_equal(state_on[key], state_off[key]), key
        if kind != "sgd":  # the helper's half of the state is in the memory it shares
            name = "0.velocity" if kind == "momentum" else "0.m"
            assert np.any(state_on["1.W" + name[1:]] != 0)
    finally:
        for step in (step_on, step_off, step_alone):
            step.close()


def test_a_helper_that_dies_loses_nothing() -> None:
    batches = _batches(8)
    killed, _, step, loss_killed = _train(True, "momentum", batches, kill_after=3)
    kept, _, step_kept, loss_kept = _train(True, "momentum", batches)
    try:
        assert step._split is not None and not step._split.alive
        assert "stopped" in step._split.lost or "failed" in step._split.lost
        assert step.helper_pids() == []
        assert np.array_equal(killed.pack().data, kept.pack().data) and loss_killed == loss_kept
        assert step.describe(64) == "fused, 1 thread"  # from then on, this process alone
    finally:
        step.close()
        step_kept.close()


def test_a_helper_that_cannot_start_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch larger than the shared block makes a new block (the parameters move again) and a
    new helper; when that helper cannot start, training goes on in this process, reading the
    parameters where they now are."""
    rng = np.random.default_rng(6)
    big = (rng.random((100, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 100))
    batches = [*_batches(4), big, *_batches(3)]

    def train(refuse_after: int | None) -> tuple[np.ndarray, list[float], TrainStep]:
        model = Sequential.from_spec(load_preset("mlp"), np.random.default_rng(2))
        opt = make_optimizer("adam", 0.002)
        step = TrainStep(model)
        step._chooser = _Always(True)  # type: ignore[assignment]
        losses = []
        for i, (x, y) in enumerate(batches):
            if i == refuse_after:
                monkeypatch.setattr(layer_split, "start_helper", refuse)
            losses.append(step(x, y).loss)
            step.update(opt)
        return model.pack().data.copy(), losses, step

    def refuse(*args: object) -> None:
        raise ShareProcessError("a helper process did not start (refused here)")

    kept, loss_kept, step_kept = train(None)
    refused, loss_refused, step = train(4)
    try:
        assert step_kept._split is not None and step_kept._split.n_max == 100
        assert step._split is None and not step.splits and step.describe(64) == "fused, 1 thread"
        assert np.array_equal(refused, kept) and loss_refused == loss_kept
    finally:
        step.close()
        step_kept.close()


def test_the_helper_ends_with_its_step() -> None:
    _, _, step, _ = _train(True, "momentum", _batches(2))
    pid = step._split.proc.pid  # type: ignore[union-attr]
    step.close()
    assert gone(pid)


def test_the_faster_way_is_kept_and_the_other_tried_again() -> None:
    chooser = FasterOfTwo(turn=4, keep_s=1.0)
    cost = {True: 1.0, False: 2.0}
    now, ways = 0.0, []

    def run(steps: int) -> None:
        nonlocal now
        for _ in range(steps):
            way = chooser.pick(now)
            ways.append(way)
            now += cost[way] / 100
            chooser.record(cost[way] / 100, now)

    run(10)  # a turn of each (the first step of a turn not counted), then the faster kept
    assert ways[:5] == [True] * 5 and ways[5:10] == [False] * 5
    run(20)
    assert ways[10:30] == [True] * 20  # kept: 20 steps of 0.01 s, within keep_s
    cost[True] = 5.0  # the helper's core is taken by another program
    run(300)
    # Kept without the helper now: the helper only tried for a turn (5 steps) each keep_s, that
    # is twice in the last 100 steps (2 s).
    assert ways[-100:].count(True) <= 10 and ways[-1] is False
    cost[True] = 1.0  # and given back: after its next turn the helper is used again
    run(300)
    assert ways[-100:].count(False) <= 10 and ways[-1] is True


def test_the_helper_ends_with_a_killed_trainer() -> None:
    two_cores = "import glassnet.training.step as s; s.usable_cores = lambda: 2; step = TrainStep(model)"
    orphans = helpers_of_a_killed_trainer("mlp", two_cores, 64)
    assert len(orphans) == 1 and gone(orphans[0])


def test_the_environment_keeps_the_first_layer_here(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_ENV, "0")
    step = TrainStep(Sequential.from_spec(load_preset("mlp")))
    for x, y in _batches(2):
        step(x, y)
    assert step._split is None and step.helper_pids() == [] and step.describe(64) == "fused, 1 thread"


def test_a_batch_large_enough_to_share_out_leaves_the_helper_idle() -> None:
    """A batch of 256 is split into shares across the cores (the helper's block holds 64): the
    same numbers as without the helper, and the next batch of 64 uses the helper again."""
    rng = np.random.default_rng(7)
    big = (rng.random((256, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 256))
    batches = [*_batches(2), big, *_batches(2)]

    def train(processes: bool) -> tuple[np.ndarray, list[float], list[bool], TrainStep]:
        model = Sequential.from_spec(load_preset("mlp"), np.random.default_rng(2))
        opt = make_optimizer("momentum", 0.05, 0.9)
        step = TrainStep(model, processes=processes)
        step._chooser = _Always(True)  # type: ignore[assignment]
        losses, helped = [], []
        for x, y in batches:
            losses.append(step(x, y).loss)
            helped.append(step._helped)
            step.update(opt)
        return model.pack().data.copy(), losses, helped, step

    with_helper, loss_with, helped, step = train(True)
    threads, loss_threads, _, step_threads = train(False)
    try:
        assert helped == [True, True, False, True, True]
        assert np.array_equal(with_helper, threads) and loss_with == loss_threads
    finally:
        step.close()
        step_threads.close()
