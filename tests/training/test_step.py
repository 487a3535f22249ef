"""TrainStep: how many threads, BLAS's threads while they run, and errors from a thread."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Sequential
from glassnet.presets import load_preset
from glassnet.training import step as step_module
from glassnet.training.blas import blas_controls, blas_threads
from glassnet.training.step import (
    MIN_SHARE,
    MIN_SHARE_WORK,
    THREADS_ENV,
    TrainStep,
    thread_count,
    usable_cores,
)


def test_thread_count_follows_the_cores_and_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(step_module, "usable_cores", lambda: 8)
    assert thread_count(64) == 64 // MIN_SHARE  # 4 shares of 16, not 8 of 8
    assert thread_count(1024) == 8
    assert thread_count(10) == 1  # the notes network's batch of 10 stays on one thread
    assert thread_count(64, requested=3) == 3
    assert thread_count(2, requested=3) == 2  # never more shares than samples
    # little work per sample (the mlp's 109k multiply-adds): shares must hold MIN_SHARE_WORK
    assert thread_count(64, work=109_000) == 1
    assert thread_count(512, work=109_000) == 512 * 109_000 // MIN_SHARE_WORK  # 6
    cnn = TrainStep(Sequential.from_spec(load_preset("cnn")))
    assert cnn.work == 16 * 576 * 25 + 32 * 64 * 400 + 512 * 128 + 128 * 10
    assert thread_count(64, work=cnn.work) == 4


def test_thread_count_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "1")
    assert thread_count(256) == 1
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=THREADS_ENV):
        thread_count(64)
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(ValueError, match="at least 1"):
        thread_count(64)


def test_usable_cores_is_the_affinity() -> None:
    import os

    assert usable_cores() == len(os.sched_getaffinity(0))


def test_blas_threads_are_set_and_restored() -> None:
    controls = blas_controls()
    assert controls is not None, "NumPy's OpenBLAS was not found in this process"
    before = controls.get()
    with blas_threads(1) as ok:
        assert ok and controls.get() == 1
    assert controls.get() == before


@pytest.mark.parametrize("processes", [True, False], ids=["process", "thread"])
def test_an_error_in_another_share_reaches_the_caller(processes: bool) -> None:
    model = Sequential.from_spec(load_preset("mlp"))
    step = TrainStep(model, threads=2, processes=processes)
    x = np.zeros((32, 1, 28, 28), np.float32)
    y = np.zeros(32, np.int64)
    y[20] = 99  # only the second share (a helper's) has a label outside 0..9
    with pytest.raises(IndexError):
        step(x, y)
    y[20] = 0  # and the next step works: the helper is still in step with the trainer
    assert step(x, y).finite
    step.close()


def test_describe_names_the_path_and_threads() -> None:
    model = Sequential.from_spec(load_preset("cnn"))
    assert TrainStep(model, threads=2).describe(64) == "fused, 2 processes"
    assert TrainStep(model, threads=2, processes=False).describe(64) == "fused, 2 threads"
    assert TrainStep(model, threads=1).describe(64) == "fused, 1 thread"
    assert TrainStep(model, fused=False).describe(64).startswith("layer by layer")
