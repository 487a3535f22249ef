"""Queue start estimates for a class (QA3 class #3): runs of a small network are mostly start-up
and end (a process, the data, the last validation and checkpoint), so their estimates count that
apart from the steps. A deterministic lesson: 12 one-epoch runs of two kinds through 2 slots,
polled every 3 s on a fake clock, each estimate compared with when the run really started."""

from __future__ import annotations

import itertools
from typing import Any

from glassnet.service.estimates import RunSpeeds
from glassnet.service.runstate import RunStatus

BATCH = 32
KINDS = {  # seconds of start-up, steps, seconds per step, seconds at the end
    "notes": (3.0, 100, 0.05, 1.0),  # 9 s in its slot, 5 of them steps
    "mlp": (3.5, 100, 0.10, 1.5),  # 15 s
}
TICK = 0.05


class Lesson:
    def __init__(self, runs: int, slots: int) -> None:
        self.now = 0.0
        self.speeds = RunSpeeds(clock=lambda: self.now)
        self.slots = slots
        self.runs: dict[str, dict[str, Any]] = {}
        for i in range(runs):
            kind = "notes" if i % 2 == 0 else "mlp"
            self.runs[f"r{i}"] = {
                "kind": kind,
                "spec": {"name": kind},
                "config": {"batch_size": BATCH},
                "status": RunStatus.QUEUED,
                "total_steps": KINDS[kind][1],
                "step": 0,
            }
        self.queue = list(self.runs)
        self.training: dict[str, float] = {}  # run -> when it took its slot
        self.started: dict[str, float] = {}
        self.estimates: list[tuple[float, str, float | None]] = []

    def job(self, run_id: str) -> dict[str, Any]:
        return {"spec": self.runs[run_id]["spec"], "config": self.runs[run_id]["config"]}

    def step(self) -> None:
        for run_id, begun in list(self.training.items()):
            run = self.runs[run_id]
            startup, steps, per_step, end = KINDS[run["kind"]]
            trained = self.now - begun - startup
            if trained < 0:
                continue
            run["step"] = min(steps, int(trained / per_step))
            if round(trained / TICK) % 5 == 0 and trained <= steps * per_step:  # a report each 0.25 s
                # The session's window: training time alone, a figure once 1 s is measured.
                rate = BATCH / per_step if trained >= 1.0 else None
                self.speeds.measure(run_id, self.job(run_id), {"samples_per_s": rate})
            if trained >= steps * per_step + end:
                run["status"] = RunStatus.FINISHED
                del self.training[run_id]
                self.speeds.ended(run_id, self.job(run_id), run["step"], complete=True)
        while self.queue and len(self.training) < self.slots:
            run_id = self.queue.pop(0)
            self.runs[run_id]["status"] = RunStatus.RUNNING
            self.training[run_id] = self.started[run_id] = self.now
            self.speeds.started(run_id, 0)

    def play(self, poll_every: float = 3.0) -> None:
        next_poll = 0.0
        while self.queue or self.training:
            self.step()
            if self.now >= next_poll - 1e-9:
                starts = self.speeds.starts_in(
                    list(self.queue), list(self.training), self.runs.get, self.slots
                )
                self.estimates += [(self.now, r, starts[r]) for r in self.queue]
                next_poll += poll_every
            self.now = round(self.now + TICK, 6)


def test_estimates_are_close_steady_and_there_once_each_kind_has_run() -> None:
    lesson = Lesson(runs=12, slots=2)
    lesson.play()
    measured = 16.0  # by then a run of each kind has ended: its whole time in a slot is known
    checked = 0
    for at, run_id, estimate in lesson.estimates:
        if at < measured:
            continue
        real = lesson.started[run_id] - at
        assert estimate is not None, (at, run_id)
        assert abs(estimate - real) <= max(2.0, 0.2 * real), (at, run_id, estimate, real)
        checked += 1
    assert checked >= 10
    # Steady: 3 s later the same run's estimate is about 3 s smaller (no jumps).
    by_run: dict[str, list[tuple[float, float | None]]] = {}
    for at, run_id, estimate in lesson.estimates:
        if at >= measured:
            by_run.setdefault(run_id, []).append((at, estimate))
    for run_id, seen in by_run.items():
        for (t1, e1), (t2, e2) in itertools.pairwise(seen):
            assert e1 is not None and e2 is not None
            assert abs((e1 - e2) - (t2 - t1)) <= 2.0, (run_id, seen)


def test_unknown_until_a_speed_is_measured() -> None:
    lesson = Lesson(runs=4, slots=1)
    lesson.step()  # r0 takes the slot; nothing measured yet
    starts = lesson.speeds.starts_in(list(lesson.queue), list(lesson.training), lesson.runs.get, 1)
    assert set(starts.values()) == {None}  # "not known yet", never a wild number
