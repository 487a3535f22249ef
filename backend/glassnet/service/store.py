"""Runs in SQLite: one file (``<data dir>/runs.sqlite3``), stdlib ``sqlite3``, WAL mode.

Tables: ``runs`` (one row per run: config, spec, status, progress, last checkpoint),
``batch_metrics`` (one row per mini-batch: step, epoch, loss, accuracy, learning rate) and
``epoch_metrics`` (one JSON row per epoch: its figures, confusion matrix and the few
misclassified validation digits shown for it, ~1 KB each), ``epoch_predictions`` (each epoch's
answer for every validation digit, one byte each: any confusion-matrix cell's digits can be
listed later) and ``marks`` (what the loss chart marks on its step axis: pauses, resumes,
learning-rate changes). Checkpoints live beside it as ``.npz`` files in
``<data dir>/<run id>/``. Only the service's main process writes here (the training process
sends its figures over a pipe), from the event-loop thread — but for the metrics frames, ~10 a
second per run, which :mod:`.framewriter` writes on a thread and connection of its own so that a
stalled disk does not stall the loop (shown from memory until written).

A full disk: a status change (or a chart mark) the database cannot take is kept in memory
(:attr:`RunStore.unsaved`, :attr:`RunStore.unsaved_marks`, shown by every read) and written as
soon as it can be, so no run is shown ``running`` without a process just because the disk filled
up, and a change that was made (a new learning rate) is never answered as refused; lost metric
points are replayed from the checkpoint on resume. ``uploads`` records who uploaded which model:
the client address (``owner``, per-client quotas) and the person (``uploader``, the identity's
owner name: who may delete it).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..training.config import TrainConfig
from .disk import disk_full
from .framewriter import POINT_KEYS, FrameWriter
from .runstate import LIVE_STATUSES, RunStatus

log = logging.getLogger("glassnet.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    preset TEXT,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    spec TEXT NOT NULL,
    config TEXT NOT NULL,
    validation INTEGER NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER,
    checkpoint TEXT,
    checkpoint_step INTEGER,
    val_accuracy REAL,
    message TEXT
);
CREATE TABLE IF NOT EXISTS batch_metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    accuracy REAL,
    lr REAL,
    PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS epoch_predictions (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    predicted BLOB NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marks (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS marks_run ON marks (run_id, step);
CREATE TABLE IF NOT EXISTS epoch_metrics (
    run_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
"""

_RUN_COLUMNS = (
    "id, name, preset, status, created, updated, spec, config, validation, epoch, step, "
    "total_steps, checkpoint, checkpoint_step, val_accuracy, message, owner"
)


class DamagedRunError(ValueError):
    """One row of the runs table cannot be read (its JSON, its settings, a status this version
    does not know — e.g. written by a newer version). The other runs are unaffected."""


def _json_object(run: dict[str, Any], column: str) -> dict[str, Any]:
    value = json.loads(run[column])
    if not isinstance(value, dict):
        raise ValueError(f"not a JSON object but {type(value).__name__}")
    return value


def _row_to_run(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    column = "status"
    try:
        run["status"] = RunStatus(run["status"]).value
        column = "spec"
        run["spec"] = _json_object(run, "spec")
        column = "config"
        # Rows written before each optimizer named its settings (Adam's beta1 stored as momentum).
        run["config"] = TrainConfig.from_dict(_json_object(run, "config"), legacy=True).as_dict()
    except (ValueError, TypeError, KeyError) as exc:
        raise DamagedRunError(f"its {column} cannot be read ({exc})") from None
    return run


def _epoch_row(text: str) -> dict[str, Any]:
    data = json.loads(text)
    data.setdefault("misclassified", [])  # rows replayed from a checkpoint have none
    return data


class DamagedStoreError(ValueError):
    """The run database cannot be opened or read (a ValueError: ``glassnet serve`` prints it as
    one line and exits 2, like its other start-up problems)."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        super().__init__(
            f"{path}: cannot be read as the run database ({exc}). Stop here and move it aside "
            f"(mv {path} {path}.damaged) or restore a backup of it, then start again: the server "
            f"makes a new, empty run list, and every run's folder in {path.parent} (its checkpoints) is kept"
        )


def check_database(path: Path) -> None:
    """Raise :class:`DamagedStoreError` when ``path`` exists but is not a readable run database
    (a bad header, a damaged table). Read-only, and cheap: every table's first page and the runs
    table's rows, not the metrics. ``create_app`` calls it, so ``glassnet serve`` says so in one
    line before the server starts instead of failing inside uvicorn's start-up.

    The server writes to it from its start on (WAL, runs left unfinished): the database and its
    ``-wal``/``-shm`` files, where they exist, must open for writing too, else a ValueError naming
    the file and why (read-only, immutable, a folder in its place)."""
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        try:
            os.close(os.open(file, os.O_RDWR))  # opens, writes nothing
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ValueError(
                f"{file}: the run database cannot be opened for writing ({exc.strerror}); make it a "
                f"file this user can write, or move it aside (mv '{file}' '{file}.old') to start a new, "
                f"empty run list (every run's folder in {path.parent} is kept)"
            ) from None
    if not path.is_file():
        return  # a new data dir: RunStore creates it
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                db.execute(f'SELECT * FROM "{table}" LIMIT 1').fetchall()
            if "runs" in tables:
                db.execute("SELECT * FROM runs").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise DamagedStoreError(path, exc) from None


class RunStore:
    """CRUD for runs and their metric history."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        try:
            # WAL + NORMAL: a commit is an append to the log, no fsync per metrics frame; a crash
            # loses at most the last frames, never the database.
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            columns = {r["name"] for r in self.db.execute("PRAGMA table_info(runs)")}
            if "owner" not in columns:  # a database from before per-client quotas
                self.db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
            # A database from before runs survived a restart: when each run last joined the
            # queue (its place after a restart), and whether a shutdown stopped it while it trained.
            if "queued_at" not in columns:
                self.db.execute("ALTER TABLE runs ADD COLUMN queued_at REAL")
            if "resume_at_start" not in columns:
                self.db.execute("ALTER TABLE runs ADD COLUMN resume_at_start INTEGER NOT NULL DEFAULT 0")
            # The checkpoint step (-1: its start) the last start-up continued the run from by
            # itself: a run found killed again at that same step is not continued a second time.
            if "restarted_from" not in columns:
                self.db.execute("ALTER TABLE runs ADD COLUMN restarted_from INTEGER")
            columns = {r["name"] for r in self.db.execute("PRAGMA table_info(uploads)")}
            if "uploader" not in columns:  # a database from before uploads had owners: NULL, teacher only
                self.db.execute("ALTER TABLE uploads ADD COLUMN uploader TEXT")
        except sqlite3.DatabaseError as exc:  # what check_database did not see: still named
            self.db.close()
            raise DamagedStoreError(path, exc) from None
        self.frames = FrameWriter(path)  # metrics frames: written on a thread of their own
        self.unsaved: dict[str, dict[str, Any]] = {}
        self.unsaved_marks: list[tuple[str, int, str, float | None, float]] = []  # rows, in order
        self.damaged: dict[str, str] = {}  # run id -> why its row cannot be read

    def close(self) -> None:
        self.frames.close()
        self.db.close()

    # -- runs ---------------------------------------------------------------------------------
    def create(self, run: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        self.db.execute(
            "INSERT INTO runs (id, name, preset, status, created, updated, spec, config, validation, "
            "total_steps, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run["id"],
                run["name"],
                run.get("preset"),
                RunStatus.QUEUED.value,
                now,
                now,
                json.dumps(run["spec"]),
                json.dumps(run["config"]),
                run["validation"],
                run.get("total_steps"),
                run.get("owner"),
            ),
        )
        return self.get(run["id"])  # type: ignore[return-value]

    def _overlay(self, run: dict[str, Any]) -> dict[str, Any]:
        progress = self.frames.progress(run["id"])  # a metrics frame not written yet
        if progress is not None and progress[0] > (run["step"] or 0):  # a stored step of the same wins
            run["step"], run["epoch"] = progress
        pending = self.unsaved.get(run["id"])
        if pending:
            run.update({k: json.loads(v) if k == "config" else v for k, v in pending.items()})
        return run

    def _readable(self, row: sqlite3.Row) -> dict[str, Any] | None:
        """The run of a row, or None for a damaged one (logged once per run; :meth:`problem`
        says why): one unreadable row must not take the run list, or any other run, with it."""
        try:
            return self._overlay(_row_to_run(row))
        except DamagedRunError as exc:
            if row["id"] not in self.damaged:
                log.warning("run %s cannot be read from %s: %s; it is left out", row["id"], self.path, exc)
            self.damaged[row["id"]] = str(exc)
            return None

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None when there is none — or it cannot be read (see :meth:`problem`)."""
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._readable(row) if row else None

    def has(self, run_id: str) -> bool:
        """Whether the run is in the table, readable or not."""
        return self.db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def problem(self, run_id: str) -> str | None:
        """Why a run that is in the table cannot be read (the sentence a 409 says), or None
        (readable, or no such row)."""
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return None
        try:
            _row_to_run(row)
        except DamagedRunError as exc:
            return (
                f"run {run_id} cannot be read from {self.path.name}: {exc}; it is left out of the run "
                "list (the other runs are unaffected)"
            )
        return None

    def damaged_runs(self) -> dict[str, str]:
        """Every run that cannot be read, with why (start-up logs them)."""
        for row in self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs").fetchall():
            self._readable(row)
        return dict(self.damaged)

    def list(
        self,
        statuses: list[str] | None = None,
        after: tuple[float, str] | None = None,
        limit: int | None = None,
        owner: str | None = None,
    ) -> list[dict[str, Any]]:
        """Runs oldest first (by creation time, then id); only ``statuses`` if given; only those
        after the (created, id) key ``after``; only ``owner``'s if given; at most ``limit``."""
        where, args = [], []
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            args += statuses
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if after is not None:
            where.append("(created, id) > (?, ?)")
            args += after
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created, id"
        # No SQL LIMIT: a damaged row is left out, and a page must still hold ``limit`` runs
        # (the caller asks for one more to know whether another page follows).
        runs = []
        for row in self.db.execute(sql, args):
            run = self._readable(row)
            if run is not None:
                runs.append(run)
                if limit is not None and len(runs) >= limit:
                    break
        return runs

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Set columns (``config``/``spec`` given as dicts); returns the updated run. On a full
        disk the change is kept in memory (and shown) until :meth:`flush_unsaved` can write it."""
        if "config" in fields:
            fields["config"] = json.dumps(fields["config"])
        if "status" in fields:
            fields["status"] = RunStatus(fields["status"]).value
            if fields["status"] == RunStatus.QUEUED:  # its place in the queue, kept over a restart
                fields.setdefault("queued_at", time.time())
        fields["updated"] = time.time()
        try:
            self.flush_unsaved()
            self._write(run_id, fields)
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            self.unsaved.setdefault(run_id, {}).update(fields)
            log.warning("run %s: the disk is full; its %s is kept in memory for now", run_id, sorted(fields))
        return self.get(run_id)  # type: ignore[return-value]

    def _write(self, run_id: str, fields: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))

    def flush_unsaved(self) -> None:
        """Write the changes and marks a full disk held back (raises while it is still full)."""
        for run_id in list(self.unsaved):
            self._write(run_id, self.unsaved[run_id])
            del self.unsaved[run_id]
        while self.unsaved_marks:
            self.db.execute("INSERT INTO marks VALUES (?, ?, ?, ?, ?)", self.unsaved_marks[0])
            del self.unsaved_marks[0]

    def delete(self, run_id: str) -> None:
        """Forget a run and its history."""
        self.frames.forget(run_id)
        for table, key in (
            ("runs", "id"),
            ("batch_metrics", "run_id"),
            ("epoch_metrics", "run_id"),
            ("epoch_predictions", "run_id"),
            ("marks", "run_id"),
        ):
            self.db.execute(f"DELETE FROM {table} WHERE {key} = ?", (run_id,))
        self.unsaved.pop(run_id, None)
        self.unsaved_marks = [m for m in self.unsaved_marks if m[0] != run_id]

    # -- uploads ------------------------------------------------------------------------------
    def add_upload(self, model_id: str, owner: str, size: int, uploader: str | None = None) -> None:
        """Record an upload: ``owner`` is whom its quota counts against (security.quota_client:
        a student by name, anyone else by address),
        ``uploader`` the person (identity) who may delete it besides the teacher."""
        self.db.execute(
            "INSERT OR REPLACE INTO uploads (id, owner, bytes, created, uploader) VALUES (?, ?, ?, ?, ?)",
            (model_id, owner, size, time.time(), uploader),
        )

    def upload_owner(self, model_id: str) -> str | None:
        """Who uploaded a model; None when unknown (an upload from before owners were recorded,
        or a file put in the folder by hand): only the teacher may delete those."""
        row = self.db.execute("SELECT uploader FROM uploads WHERE id = ?", (model_id,)).fetchone()
        return row["uploader"] if row else None

    def upload_bytes(self, owner: str) -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(bytes), 0) AS n FROM uploads WHERE owner = ?", (owner,)
        ).fetchone()
        return int(row["n"])

    def delete_upload(self, model_id: str) -> None:
        self.db.execute("DELETE FROM uploads WHERE id = ?", (model_id,))

    def restarted_from(self, run_id: str) -> int | None:
        """The checkpoint step (-1: its start) a start-up last continued the run from by itself."""
        row = self.db.execute("SELECT restarted_from FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row["restarted_from"]

    def unfinished(self) -> list[tuple[str, str, bool]]:
        """On start-up: (id, status, stopped by a shutdown while it trained) of every run the last
        server left queued, running or paused, or interrupted by its shutdown while it trained —
        in the order they joined the queue. The shutdown marks are cleared: they count once."""
        live = sorted(s.value for s in LIVE_STATUSES)
        rows = self.db.execute(
            f"SELECT id, status, resume_at_start FROM runs WHERE status IN ({', '.join('?' * len(live))}) "
            "OR resume_at_start = 1 ORDER BY COALESCE(queued_at, created), created, id",
            live,
        ).fetchall()
        self.db.execute("UPDATE runs SET resume_at_start = 0 WHERE resume_at_start = 1")
        return [(r["id"], r["status"], bool(r["resume_at_start"])) for r in rows]

    # -- metrics ------------------------------------------------------------------------------
    def add_frame(self, run_id: str, points: dict[str, list[Any]]) -> None:
        """A metrics frame (columns as :meth:`add_points`): its points and the run's new step and
        epoch, written by :class:`.framewriter.FrameWriter`'s thread, shown from memory until then."""
        self.frames.put(run_id, points)

    def add_points(self, run_id: str, points: dict[str, list[Any]]) -> None:
        """Columns step, epoch, loss, accuracy, lr of equal length."""
        rows = zip(
            [run_id] * len(points["step"]),
            points["step"],
            points["epoch"],
            points["loss"],
            points["accuracy"],
            points["lr"],
            strict=True,
        )
        self.db.executemany("INSERT OR REPLACE INTO batch_metrics VALUES (?, ?, ?, ?, ?, ?)", rows)

    def add_epoch(self, run_id: str, epoch: int, data: dict[str, Any], replace: bool = True) -> None:
        """Store an epoch's row; ``replace=False`` keeps a row already there (a resume replays
        figures without the misclassified digits the stored row may hold)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        self.db.execute(f"{verb} INTO epoch_metrics VALUES (?, ?, ?)", (run_id, epoch, json.dumps(data)))

    def last_epoch(self, run_id: str) -> dict[str, Any] | None:
        """The most recent epoch's row (``misclassified`` always present), or None."""
        row = self.db.execute(
            "SELECT data FROM epoch_metrics WHERE run_id = ? ORDER BY epoch DESC LIMIT 1", (run_id,)
        ).fetchone()
        return _epoch_row(row["data"]) if row else None

    def truncate_history(self, run_id: str, step: int, epoch: int) -> None:
        """Forget figures after a checkpoint (step, epoch) before resuming from it: the replayed
        steps will write them again."""
        self.frames.forget(run_id, drop=False)  # no older frame may land after the cut
        self.db.execute("DELETE FROM batch_metrics WHERE run_id = ? AND step > ?", (run_id, step))
        self.db.execute("DELETE FROM epoch_metrics WHERE run_id = ? AND epoch > ?", (run_id, epoch))
        self.db.execute("DELETE FROM epoch_predictions WHERE run_id = ? AND epoch > ?", (run_id, epoch))

    def add_predictions(self, run_id: str, epoch: int, predicted: bytes) -> None:
        """An epoch's answer for every validation digit: ``predicted[i]`` is digit ``i``'s class."""
        self.db.execute(
            "INSERT OR REPLACE INTO epoch_predictions VALUES (?, ?, ?)", (run_id, epoch, predicted)
        )

    def predictions(self, run_id: str, epoch: int) -> bytes | None:
        row = self.db.execute(
            "SELECT predicted FROM epoch_predictions WHERE run_id = ? AND epoch = ?", (run_id, epoch)
        ).fetchone()
        return None if row is None else bytes(row["predicted"])

    def add_mark(self, run_id: str, step: int, kind: str, value: float | None = None) -> None:
        """Something the loss chart marks at ``step``: ``pause``, ``resume`` or ``lr`` (a new rate).
        On a full disk it is kept in memory (and shown) like a status, written by
        :meth:`flush_unsaved`: the change it marks has happened, so the mark must not be lost."""
        row = (run_id, step, kind, value, time.time())
        try:
            self.flush_unsaved()
            self.db.execute("INSERT INTO marks VALUES (?, ?, ?, ?, ?)", row)
        except sqlite3.OperationalError as exc:
            if not disk_full(exc):
                raise
            self.unsaved_marks.append(row)
            log.warning("run %s: the disk is full; its %s mark is kept in memory for now", run_id, kind)

    def marks(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, kind, value, at FROM marks WHERE run_id = ? ORDER BY step, at", (run_id,)
        ).fetchall()
        found = [dict(r) for r in rows]
        found += [
            dict(step=m[1], kind=m[2], value=m[3], at=m[4]) for m in self.unsaved_marks if m[0] == run_id
        ]
        found.sort(key=lambda m: (m["step"], m["at"]))
        return [{k: m[k] for k in ("step", "kind", "value")} for m in found]

    def history(self, run_id: str) -> dict[str, Any]:
        """The full history for charts: columnar batch points and the epoch rows."""
        waiting = self.frames.points(run_id)  # before the query: a frame committed between is in it
        rows = self.db.execute(
            "SELECT step, epoch, loss, accuracy, lr FROM batch_metrics WHERE run_id = ? ORDER BY step",
            (run_id,),
        ).fetchall()
        points: Any = (tuple(row[k] for k in POINT_KEYS) for row in rows)  # in step order
        if waiting:  # frames not written yet: merged in by step (theirs win: they are newer)
            by_step = {point[0]: point for point in points}
            by_step.update((row[0], row) for row in waiting)
            points = (by_step[step] for step in sorted(by_step))
        columns: dict[str, list[Any]] = {key: [] for key in POINT_KEYS}
        for point in points:
            for key, value in zip(POINT_KEYS, point, strict=True):
                columns[key].append(value)
        epochs = [
            _epoch_row(r["data"])
            for r in self.db.execute(
                "SELECT data FROM epoch_metrics WHERE run_id = ? ORDER BY epoch", (run_id,)
            )
        ]
        return {"batches": columns, "epochs": epochs, "marks": self.marks(run_id)}
