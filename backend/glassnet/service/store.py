"""Runs in SQLite: one file (``<data dir>/runs.sqlite3``), stdlib ``sqlite3``, WAL mode.

Tables: ``runs`` (one row per run: config, spec, status, progress, last checkpoint),
``batch_metrics`` (one row per mini-batch: step, epoch, loss, accuracy, learning rate) and
``epoch_metrics`` (one JSON row per epoch: its figures, confusion matrix and the few
misclassified validation digits shown for it, ~1 KB each), ``epoch_predictions`` (each epoch's
answer for every validation digit, one byte each: any confusion-matrix cell's digits can be
listed later) and ``marks`` (what the loss chart marks on its step axis: pauses, resumes,
learning-rate changes). Checkpoints live beside it as ``.npz`` files in
``<data dir>/<run id>/``. Only the service's main process writes here (the training process
sends its figures over a pipe), always from the event-loop thread, so one connection suffices.

A full disk: a status change the database cannot take is kept in memory (:attr:`RunStore.unsaved`,
shown by every read) and written as soon as it can be, so no run is shown ``running`` without a
process just because the disk filled up; lost metric points are replayed from the checkpoint on
resume. ``uploads`` records who uploaded which model: the client address (``owner``, per-client
quotas) and the person (``uploader``, the identity's owner name: who may delete it).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from ..training.config import TrainConfig
from .disk import disk_full
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


def _row_to_run(row: sqlite3.Row) -> dict[str, Any]:
    run = dict(row)
    run["spec"] = json.loads(run["spec"])
    # Rows written before each optimizer named its settings (Adam's beta1 stored as momentum).
    run["config"] = TrainConfig.from_dict(json.loads(run["config"]), legacy=True).as_dict()
    return run


def _epoch_row(text: str) -> dict[str, Any]:
    data = json.loads(text)
    data.setdefault("misclassified", [])  # rows replayed from a checkpoint have none
    return data


class RunStore:
    """CRUD for runs and their metric history."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # WAL + NORMAL: a commit is an append to the log, no fsync per metrics frame; a crash
        # loses at most the last frames, never the database.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(runs)")}
        if "owner" not in columns:  # a database from before per-client quotas
            self.db.execute("ALTER TABLE runs ADD COLUMN owner TEXT")
        columns = {r["name"] for r in self.db.execute("PRAGMA table_info(uploads)")}
        if "uploader" not in columns:  # a database from before uploads had owners: NULL, teacher only
            self.db.execute("ALTER TABLE uploads ADD COLUMN uploader TEXT")
        self.unsaved: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
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
        pending = self.unsaved.get(run["id"])
        if pending:
            run.update({k: json.loads(v) if k == "config" else v for k, v in pending.items()})
        return run

    def get(self, run_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._overlay(_row_to_run(row)) if row else None

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
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._overlay(_row_to_run(r)) for r in self.db.execute(sql, args).fetchall()]

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Set columns (``config``/``spec`` given as dicts); returns the updated run. On a full
        disk the change is kept in memory (and shown) until :meth:`flush_unsaved` can write it."""
        if "config" in fields:
            fields["config"] = json.dumps(fields["config"])
        if "status" in fields:
            fields["status"] = RunStatus(fields["status"]).value
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
        """Write the changes a full disk held back (raises while it is still full)."""
        for run_id in list(self.unsaved):
            self._write(run_id, self.unsaved[run_id])
            del self.unsaved[run_id]

    def delete(self, run_id: str) -> None:
        """Forget a run and its history."""
        for table, key in (
            ("runs", "id"),
            ("batch_metrics", "run_id"),
            ("epoch_metrics", "run_id"),
            ("epoch_predictions", "run_id"),
            ("marks", "run_id"),
        ):
            self.db.execute(f"DELETE FROM {table} WHERE {key} = ?", (run_id,))
        self.unsaved.pop(run_id, None)

    # -- uploads ------------------------------------------------------------------------------
    def add_upload(self, model_id: str, owner: str, size: int, uploader: str | None = None) -> None:
        """Record an upload: ``owner`` is the client address its quota counts against,
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

    def mark_interrupted(self) -> list[str]:
        """On start-up: runs that were active when the last process ended are ``interrupted``."""
        active = sorted(s.value for s in LIVE_STATUSES)
        ids = [
            r["id"]
            for r in self.db.execute(
                f"SELECT id FROM runs WHERE status IN ({', '.join('?' * len(active))})", active
            )
        ]
        for run_id in ids:
            self.update(
                run_id,
                status=RunStatus.INTERRUPTED,
                message="the server stopped while this run was active; resume continues "
                "from its last checkpoint",
            )
        return ids

    # -- metrics ------------------------------------------------------------------------------
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
        """Something the loss chart marks at ``step``: ``pause``, ``resume`` or ``lr`` (a new rate)."""
        self.db.execute("INSERT INTO marks VALUES (?, ?, ?, ?, ?)", (run_id, step, kind, value, time.time()))

    def marks(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, kind, value FROM marks WHERE run_id = ? ORDER BY step, at", (run_id,)
        ).fetchall()
        return [dict(r) for r in rows]

    def history(self, run_id: str) -> dict[str, Any]:
        """The full history for charts: columnar batch points and the epoch rows."""
        rows = self.db.execute(
            "SELECT step, epoch, loss, accuracy, lr FROM batch_metrics WHERE run_id = ? ORDER BY step",
            (run_id,),
        ).fetchall()
        columns: dict[str, list[Any]] = {"step": [], "epoch": [], "loss": [], "accuracy": [], "lr": []}
        for row in rows:
            for key in columns:
                columns[key].append(row[key])
        epochs = [
            _epoch_row(r["data"])
            for r in self.db.execute(
                "SELECT data FROM epoch_metrics WHERE run_id = ? ORDER BY epoch", (run_id,)
            )
        ]
        return {"batches": columns, "epochs": epochs, "marks": self.marks(run_id)}
