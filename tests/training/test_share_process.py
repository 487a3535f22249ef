"""Helper processes for the shares of a batch: the same numbers as threads, and nothing lost
or left behind when a helper or its trainer dies."""

from __future__ import annotations

import logging
import os
import signal
import time

import numpy as np
import pytest

from glassnet.nn import Sequential, make_optimizer
from glassnet.presets import load_preset
from glassnet.training import share_process
from glassnet.training.step import PROCESSES_ENV, TrainStep
from processes import gone, helpers_of_a_killed_trainer


def _batches(count: int, n: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(4)
    return [
        (
            rng.random((n, 1, 28, 28), dtype=np.float32) * (rng.random((n, 1, 28, 28)) > 0.6),
            rng.integers(0, 10, n),
        )
        for _ in range(count)
    ]


def _train(
    processes: bool, batches: list, kill_after: int | None = None
) -> tuple[np.ndarray, list, TrainStep]:
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(3))
    opt = make_optimizer("adam", 0.002)
    step = TrainStep(model, threads=2, processes=processes)
    results = []
    for i, (x, y) in enumerate(batches):
        results.append(step(x, y))
        opt.step(model.pack())
        if i == kill_after:
            for pid in step.helper_pids():
                os.kill(pid, signal.SIGKILL)
    return model.pack().data.copy(), results, step


def test_processes_give_the_threads_numbers_bit_for_bit() -> None:
    batches = _batches(6)
    with_processes, results_p, step_p = _train(True, batches)
    with_threads, results_t, step_t = _train(False, batches)
    assert step_p.describe(64) == "fused, 2 processes" and step_p.process_error == ""
    assert len(step_p.helper_pids()) == 1 and step_t.helper_pids() == []
    assert np.array_equal(with_processes, with_threads)
    assert [r.loss for r in results_p] == [r.loss for r in results_t]
    assert [r.correct for r in results_p] == [r.correct for r in results_t]
    step_p.close()
    step_t.close()


def test_each_hand_over_rings_a_doorbell_and_the_pipe_alone_works(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command and every answer counts up the helper's doorbell in the shared block (the
    other side watches it instead of sleeping in the pipe's read). With no watching on the
    trainer's side (SPIN_S 0: every read sleeps in the pipe) the steps give the same numbers."""
    batches = _batches(4)
    expected, _, reference = _train(False, batches)
    got, _, step = _train(True, batches)
    assert step._pool is not None
    # 4 commands sent, 4 answers. A helper counts its answer up just after writing it to the pipe,
    # so the trainer may have read the last answer a moment before its count: wait for it.
    bell = step._pool.views[0]["bell"]
    deadline = time.monotonic() + 10
    while bell.tolist() != [4, 4] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert bell.tolist() == [4, 4]
    assert np.array_equal(got, expected)
    step.close()
    monkeypatch.setattr(share_process, "SPIN_S", 0.0)
    got, _, step = _train(True, batches)
    assert np.array_equal(got, expected) and step.process_error == ""
    step.close()
    reference.close()


def test_wait_for_bell_watches_for_so_long_and_no_longer() -> None:
    bell = np.zeros(2, dtype=np.int64)
    started = time.perf_counter()
    assert not share_process.wait_for_bell(bell, share_process.ANSWERS, 1, spin=0.02)
    assert time.perf_counter() - started >= 0.02
    bell[share_process.ANSWERS] = 1
    assert share_process.wait_for_bell(bell, share_process.ANSWERS, 1, spin=0.0)
    assert not share_process.wait_for_bell(bell, share_process.COMMANDS, 1, spin=0.0)


def test_a_killed_helper_loses_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL the helper after the second step: the third step runs its share in a thread and
    the weights come out as if nothing had happened; the log says why."""
    batches = _batches(5)
    expected, _, reference = _train(False, batches)
    with caplog.at_level(logging.WARNING):
        got, results, step = _train(True, batches, kill_after=1)
    assert np.array_equal(got, expected)
    assert all(r.finite for r in results)
    assert "helper process" in step.process_error
    assert step.describe(64) == "fused, 2 threads"
    assert any("threads instead of helper processes" in r.message for r in caplog.records)
    step.close()
    reference.close()


def test_a_helper_that_stops_answering_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper frozen mid-run (SIGSTOP) holds the step up for STEP_TIMEOUT_S, no longer; its
    share is then run here and the weights are those of an undisturbed run."""
    monkeypatch.setattr(share_process, "STEP_TIMEOUT_S", 1.0)
    batches = _batches(3)
    expected, _, reference = _train(False, batches)
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(3))
    opt = make_optimizer("adam", 0.002)
    step = TrainStep(model, threads=2, processes=True)
    for i, (x, y) in enumerate(batches):
        if i == 1:
            frozen = step.helper_pids()
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            started = time.monotonic()
        step(x, y)
        opt.step(model.pack())
        if i == 1:
            assert time.monotonic() - started < 20
    assert np.array_equal(model.pack().data, expected)
    assert "stopped answering" in step.process_error and step.helper_pids() == []
    assert all(gone(pid) for pid in frozen)
    step.close()
    reference.close()


def test_helpers_end_with_close_and_with_their_trainer() -> None:
    _, _, step = _train(True, _batches(1))
    pids = step.helper_pids()
    assert pids
    step.close()
    assert all(gone(pid) for pid in pids)
    # A trainer killed outright: its helpers see their pipe close and exit.
    orphans = helpers_of_a_killed_trainer("cnn", "step = TrainStep(model, threads=2)", 32)
    assert orphans
    assert all(gone(pid) for pid in orphans)


def test_without_memfd_the_shares_run_in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(share_process.os, "memfd_create")
    batches = _batches(2)
    got, _, step = _train(True, batches)
    expected, _, reference = _train(False, batches)
    assert np.array_equal(got, expected)
    assert "memfd_create" in step.process_error and step.helper_pids() == []
    step.close()
    reference.close()


def test_the_environment_can_turn_processes_off(monkeypatch: pytest.MonkeyPatch) -> None:
    model = Sequential.from_spec(load_preset("cnn"))
    monkeypatch.setenv(PROCESSES_ENV, "0")
    assert TrainStep(model, threads=2).describe(64) == "fused, 2 threads"
    monkeypatch.setenv(PROCESSES_ENV, "1")
    assert TrainStep(model, threads=2).describe(64) == "fused, 2 processes"


def test_a_helper_refuses_a_share_larger_than_its_block() -> None:
    """The trainer restarts its helpers for larger shares; a helper asked for more than its
    shared block holds answers with an error instead of reading past it."""
    model = Sequential.from_spec(load_preset("mlp"))
    pool = share_process.SharePool(model, helpers=1, share=8)
    try:
        pool.load_params(model.pack().data)
        proc = pool.procs[0]
        assert proc.stdin is not None
        proc.stdin.write(share_process.COMMAND.pack(9, 1 / 18))
        proc.stdin.flush()
        with pytest.raises(ValueError, match="holds 8"):
            pool.finish(0)
        pool.start(0, np.zeros((8, 1, 28, 28), np.float32), np.arange(8) % 10, 1 / 8)
        assert pool.finish(0).finite
    finally:
        pool.close()


def test_an_interrupt_while_answers_are_pending_costs_the_helpers_not_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C arriving while the trainer waits for a helper: the helpers are let go (their pipes
    are out of step) and the next step starts new ones; the weights are an undisturbed run's."""
    batches = _batches(3)
    expected, _, reference = _train(False, batches)
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(3))
    opt = make_optimizer("adam", 0.002)
    step = TrainStep(model, threads=2, processes=True)
    step(*batches[0])
    opt.step(model.pack())
    first = step.helper_pids()
    real_finish = share_process.SharePool.finish

    def interrupted(self: share_process.SharePool, index: int) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(share_process.SharePool, "finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        step(*batches[1])
    assert step.helper_pids() == [] and all(gone(pid) for pid in first)
    monkeypatch.setattr(share_process.SharePool, "finish", real_finish)
    for x, y in batches[1:]:  # the interrupted step again, then the next
        step(x, y)
        opt.step(model.pack())
    assert step.helper_pids() and step.helper_pids() != first and step.process_error == ""
    assert np.array_equal(model.pack().data, expected)
    step.close()
    reference.close()
