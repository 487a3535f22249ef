"""Bar 4, a full disk: a 64 MiB tmpfs as the data dir, filled by another file while a run trains.
The server stays up, refuses what would write with 507 and a message (never a 500), no run is
left ``running`` without a process, and the run resumes once space is freed. Needs root (mount)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from service_helpers import TINY_MLP, Server, tmpfs, wait_for

from glassnet.nn.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path):
    with tmpfs(tmp_path / "disk", "64m") as mount:
        yield mount


def fill(path: Path) -> None:
    """Write zeros until the filesystem says ENOSPC (unbuffered: nothing left to flush)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, bytes(size)):
                    pass
            except OSError:
                continue
    finally:
        os.close(fd)


ENV = {"GLASSNET_CHECKPOINT_INTERVAL_S": "0.2", "GLASSNET_MIN_FREE_BYTES": str(2 << 20)}
BODY = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 10}


def fill_while_training(http, filler: Path) -> tuple[str, dict]:
    """A run that trains until ``filler`` takes the disk's last byte: its id and how it ended."""
    rid = http.post("/api/runs", json=BODY).json()["id"]
    wait_for(lambda: (http.get(f"/api/runs/{rid}").json()["checkpoint_step"] or 0) > 20, 60)
    fill(filler)
    ended = wait_for(lambda: (r := http.get(f"/api/runs/{rid}").json())["status"] != "running" and r, 60, 0.1)
    return rid, ended


def test_a_full_disk_is_a_507_and_the_run_resumes_after(small_disk: Path, tiny_dataset: Path) -> None:
    server = Server(small_disk / "runs", tiny_dataset, env=ENV)
    filler = small_disk / "another-writer.bin"
    try:
        with server.http() as http:
            rid, ended = fill_while_training(http, filler)
            assert ended["status"] == "interrupted", ended
            assert "disk is full" in ended["message"] and "resume" in ended["message"]
            assert http.get("/healthz").json() == {"status": "ok", "viewers": 0, "active_runs": 0}
            for method, path, kwargs in (
                ("POST", "/api/runs", {"json": BODY}),
                ("POST", f"/api/runs/{rid}/resume", {}),
                (
                    "POST",
                    "/api/models",
                    {"files": {"file": ("m.npz", (Path("models") / "mlp.npz").read_bytes())}},
                ),
            ):
                r = http.request(method, path, **kwargs)
                assert r.status_code == 507, (path, r.status_code, r.text)
                assert "free" in r.json()["detail"]
            assert [r["id"] for r in http.get("/api/runs").json()] == [rid]  # nothing half-made
            kept = read_checkpoint(small_disk / "runs" / rid / "last.npz").meta["trainer"]["step"]
            assert not list((small_disk / "runs" / rid).glob(".*.tmp"))
            # Space again: the run resumes from its last good checkpoint.
            filler.unlink()
            resumed = http.post(f"/api/runs/{rid}/resume")
            assert resumed.status_code == 200 and resumed.json()["status"] == "running"
            wait_for(lambda: http.get(f"/api/runs/{rid}").json()["step"] > kept + 20, 60)
            assert http.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
        log = server.log_tail(10**7)
        assert '" 500' not in log and "Traceback" not in log
    finally:
        server.stop()
        filler.unlink(missing_ok=True)
        os.sync()


def test_a_new_rate_on_a_full_disk_is_kept_with_its_mark(small_disk: Path, tiny_dataset: Path) -> None:
    """QA4 DUR-2: PATCH lr on a full disk answered 507 "retry" although the rate was applied (the
    run's row changed in memory, then its chart mark could not be written). Now one answer for
    one outcome: 200, the rate and its mark kept in memory and written once there is room."""
    server = Server(small_disk / "runs", tiny_dataset, env=ENV)
    filler = small_disk / "another-writer.bin"
    try:
        with server.http() as http:
            rid, _ = fill_while_training(http, filler)
            changed = http.patch(f"/api/runs/{rid}", json={"lr": 0.0005})
            assert changed.status_code == 200, changed.text
            assert changed.json()["config"]["lr"] == 0.0005
            assert http.get(f"/api/runs/{rid}").json()["config"]["lr"] == 0.0005
            marks = http.get(f"/api/runs/{rid}/metrics").json()["marks"]
            assert {"kind": "lr", "value": 0.0005} in [
                {"kind": m["kind"], "value": m["value"]} for m in marks
            ]
            filler.unlink()
            assert http.post(f"/api/runs/{rid}/resume").status_code == 200
            assert http.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
        server.stop()
        with sqlite3.connect(small_disk / "runs" / "runs.sqlite3") as db:  # written, not only shown
            kinds = [k for (k,) in db.execute("SELECT kind FROM marks WHERE run_id = ? ORDER BY at", (rid,))]
            (config,) = db.execute("SELECT config FROM runs WHERE id = ?", (rid,)).fetchone()
        assert "lr" in kinds and json.loads(config)["lr"] == 0.0005, (kinds, config)
    finally:
        server.stop()
        filler.unlink(missing_ok=True)
        os.sync()
