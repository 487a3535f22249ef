"""The run store's busiest writes — each metrics frame's points and the run's new step and epoch,
~10 a second per training run — on a thread and SQLite connection of their own, so a disk that
stops answering (a snapshot's ``fsfreeze``, a hung network mount) or another writer holding the
database stalls these writes, not the event loop: ``/healthz``, predictions and the sockets go
on (QA4 DUR-3).

Until a frame is committed the store shows it from memory (:meth:`FrameWriter.progress`,
:meth:`FrameWriter.points`), so a read never goes back in time. Frames are written in the order
they came; a frame only moves a run's step forward (a step the loop stored — an epoch's end —
wins over a frame of the same step; a resume from an older checkpoint first waits for the run's
frames, :meth:`FrameWriter.forget`). A full disk drops the frame (logged; the
figures come back from the checkpoint's history on resume), as before. At most ``MAX_QUEUED``
frames wait; past that the oldest are dropped, logged, rather than memory grown without end.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from .disk import disk_full

log = logging.getLogger("glassnet.store")

MAX_QUEUED = 20_000  # frames (≈ 30 min of one run at 10 frames/s)
POINT_KEYS = ("step", "epoch", "loss", "accuracy", "lr")  # a point's fields, in the table's order


class FrameWriter:
    """One thread writing metrics frames ``(run id, points)`` in order."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=3600)
        self.cond = threading.Condition()
        self.queue: deque[tuple[str, dict[str, list[Any]]]] = deque()
        self.writing: list[tuple[str, dict[str, list[Any]]]] = []  # taken, not committed yet
        self.latest: dict[str, tuple[int, int]] = {}  # run id -> (step, epoch) of its newest frame
        self.closed = False
        self.thread = threading.Thread(target=self._run, name="glassnet-store-writer", daemon=True)
        self.thread.start()

    def put(self, run_id: str, points: dict[str, list[Any]]) -> None:
        with self.cond:
            if len(self.queue) >= MAX_QUEUED:
                dropped = self.queue.popleft()
                log.warning(
                    "run %s: the store is %d frames behind; a frame was dropped", dropped[0], MAX_QUEUED
                )
            self.queue.append((run_id, points))
            self.latest[run_id] = (points["step"][-1], points["epoch"][-1])
            self.cond.notify_all()

    def _waiting(self, run_id: str) -> list[dict[str, list[Any]]]:
        return [p for r, p in (*self.writing, *self.queue) if r == run_id]

    def progress(self, run_id: str) -> tuple[int, int] | None:
        """(step, epoch) of the run's newest frame, written or not (kept, so that a read racing a
        commit never goes back), or None; :meth:`forget` clears it."""
        with self.cond:
            return self.latest.get(run_id)

    def points(self, run_id: str) -> list[tuple[Any, ...]]:
        """The run's points not written yet, as (step, epoch, loss, accuracy, lr) rows."""
        with self.cond:
            waiting = self._waiting(run_id)
        return [row for p in waiting for row in zip(*(p[k] for k in POINT_KEYS), strict=True)]

    def drain(self) -> None:
        """Wait until every frame put so far is written (or dropped)."""
        with self.cond:
            self.cond.wait_for(lambda: not self.queue and not self.writing)

    def forget(self, run_id: str, drop: bool = True) -> None:
        """Wait until the run's frames are written (``drop``: drop those not taken yet), then
        forget its progress (a delete; a resume from an earlier checkpoint sets it anew)."""
        with self.cond:
            if drop:
                self.queue = deque(item for item in self.queue if item[0] != run_id)
            self.cond.wait_for(lambda: not self.writing and all(r != run_id for r, _ in self.queue))
            self.latest.pop(run_id, None)

    def close(self) -> None:
        self.drain()
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        self.thread.join(10)
        self.db.close()

    def _run(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.queue or self.closed)
                if not self.queue:
                    return
                self.writing = list(self.queue)
                self.queue.clear()
            try:
                self._write(self.writing)
            except sqlite3.Error as exc:
                with_rollback(self.db)
                if disk_full(exc):  # figures lost; the checkpoint's history replays them on resume
                    log.warning("the disk is full; %d metrics frames were not stored", len(self.writing))
                else:
                    log.exception("%d metrics frames could not be stored", len(self.writing))
            finally:
                with self.cond:
                    self.writing = []
                    self.cond.notify_all()

    def _write(self, frames: list[tuple[str, dict[str, list[Any]]]]) -> None:
        self.db.execute("BEGIN")
        for run_id, p in frames:
            self.db.executemany(
                "INSERT OR REPLACE INTO batch_metrics VALUES (?, ?, ?, ?, ?, ?)",
                ((run_id, *row) for row in zip(*(p[k] for k in POINT_KEYS), strict=True)),
            )
            step, epoch = p["step"][-1], p["epoch"][-1]
            self.db.execute(
                "UPDATE runs SET step = ?, epoch = ?, updated = ? WHERE id = ? AND COALESCE(step, 0) < ?",
                (step, epoch, time.time(), run_id, step),
            )
        self.db.execute("COMMIT")


def with_rollback(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        db.execute("ROLLBACK")
