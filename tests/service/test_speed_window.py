"""The training speed a page shows (QA3 dash #1): a rate over several seconds of training, not the
last 0.1 s frame alone, so one frame that paid for a checkpoint does not read as a crawl."""

from __future__ import annotations

from typing import Any

from glassnet.service import session as session_mod
from glassnet.service.session import TrainingSession


class _Trainer:
    total_steps = 1000
    step = 0
    epoch = 0
    finished = False


def _session(clock: list[float]) -> tuple[TrainingSession, list[dict[str, Any]]]:
    """A session with only what flush_metrics and the resume command touch (no process, no data)."""
    sent: list[dict[str, Any]] = []
    s = TrainingSession.__new__(TrainingSession)
    s.points = {k: [] for k in session_mod.POINT_KEYS}
    s.paused = False
    s.trainer = _Trainer()  # type: ignore[assignment]
    s.send = sent.append  # type: ignore[method-assign]
    s.frame_samples = 0
    s.frame_started = clock[0]  # what the per-frame rate used
    if hasattr(session_mod, "RateWindow"):
        s.speed = session_mod.RateWindow()
        s.speed.restart(clock[0])
    return s, sent


def _frame(s: TrainingSession, clock: list[float], seconds: float, samples: int, step: int) -> None:
    clock[0] += seconds
    s.points["step"].append(step)
    for k in ("epoch", "loss", "accuracy", "lr"):
        s.points[k].append(0)
    s.frame_samples = samples
    s.flush_metrics()


def test_one_slow_frame_does_not_swing_the_speed(monkeypatch: Any) -> None:
    clock = [100.0]
    monkeypatch.setattr(session_mod.time, "monotonic", lambda: clock[0])
    s, sent = _session(clock)
    # 3,200 samples/s steadily, and every 2 s one frame that also wrote a checkpoint (0.5 s).
    for i in range(100):
        slow = i % 20 == 19
        _frame(s, clock, 0.6 if slow else 0.1, 320, i)
    rates = [m["data"]["samples_per_s"] for m in sent][20:]
    true = 100 * 320 / (95 * 0.1 + 5 * 0.6)
    assert all(r is not None for r in rates)
    assert max(rates) / min(rates) < 1.25, (min(rates), max(rates))
    assert all(abs(r - true) / true < 0.2 for r in rates), (true, rates[-5:])


def test_no_speed_before_a_second_nor_right_after_a_resume(monkeypatch: Any) -> None:
    clock = [0.0]
    monkeypatch.setattr(session_mod.time, "monotonic", lambda: clock[0])
    s, sent = _session(clock)
    _frame(s, clock, 0.1, 320, 1)
    assert sent[-1]["data"]["samples_per_s"] is None  # one frame is not a speed
    for i in range(30):
        _frame(s, clock, 0.1, 320, 2 + i)
    assert abs(sent[-1]["data"]["samples_per_s"] - 3200) < 1
    # Paused for a minute, then resumed: the pause is not training time, and the first frame
    # after it has no honest speed yet.
    clock[0] += 60
    s.handle = TrainingSession.handle.__get__(s)  # type: ignore[method-assign]
    s.paused = True
    s.handle({"cmd": "resume", "id": 1})
    _frame(s, clock, 0.1, 320, 40)
    assert sent[-1]["data"]["samples_per_s"] is None
    for i in range(15):
        _frame(s, clock, 0.1, 320, 41 + i)
    assert abs(sent[-1]["data"]["samples_per_s"] - 3200) < 1
