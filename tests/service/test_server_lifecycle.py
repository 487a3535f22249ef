"""A real ``glassnet serve`` in a subprocess: SIGKILL mid-epoch and restart (the run keeps its
history and continues by itself from its last checkpoint), and SIGTERM (viewers closed with 1001,
a final checkpoint, exit within 10 seconds; after a restart the run continues from it)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from service_helpers import TINY_MLP, Server, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from glassnet.nn.checkpoint import read_checkpoint
from glassnet.service.chaos import alive

pytestmark = pytest.mark.slow


def test_sigkill_mid_epoch_then_restart_and_resume(tmp_path: Path, tiny_dataset: Path) -> None:
    data_dir = tmp_path / "runs"
    server = Server(data_dir, tiny_dataset)
    try:
        with server.http() as http:
            # 500 training images / batch 2 = 250 steps per epoch; 1000 epochs, so the run is still
            # going (minutes of work) whenever the test pauses it, however fast the machine is.
            body = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 2, "optimizer": "sgd", "lr": 0.05}
            run = http.post("/api/runs", json=body).json()
            rid = run["id"]

            def mid_epoch() -> dict | None:
                r = http.get(f"/api/runs/{rid}").json()
                return r if r["epoch"] >= 2 and 25 <= r["step"] % 250 <= 225 else None

            before = wait_for(mid_epoch, 60, 0.02, "mid-epoch of epoch 3")
            workers = server.child_pids()
            assert workers
            server.stop(signal.SIGKILL)
    finally:
        server.stop(signal.SIGKILL)
    # The orphaned training process notices and exits by itself.
    wait_for(lambda: not any(alive(p) for p in workers), 10, 0.1, "the orphaned trainer to exit")
    for path in (data_dir / rid).glob("*.npz"):  # every checkpoint readable
        read_checkpoint(path)
    ckpt_step = read_checkpoint(data_dir / rid / "last.npz").meta["trainer"]["step"]
    # The orphaned trainer saved its progress, mid-epoch, when the service vanished: nothing lost.
    assert ckpt_step >= before["step"]
    assert not list((data_dir / rid).glob(".*.tmp"))

    server = Server(data_dir, tiny_dataset)
    try:
        with server.http() as http:
            # The run continues by itself from the checkpoint its orphaned trainer wrote last.
            run = http.get(f"/api/runs/{rid}").json()
            assert run["status"] in ("queued", "running"), run

            # The points the killed server had not written yet come back with the resumed process
            # (session.py: its checkpoint keeps the last two epochs' points and replays them), so
            # the history reaches the kill once that process has started (CI: read at once, the
            # history ended at step 500, 188 steps before the kill: points not yet written).
            def caught_up() -> dict | None:
                h = http.get(f"/api/runs/{rid}/metrics").json()
                return h if h["batches"]["step"] and h["batches"]["step"][-1] >= before["step"] - 5 else None

            history = wait_for(caught_up, 60, 0.1, f"the history to reach step {before['step'] - 5}")
            assert len(history["epochs"]) >= 2 and history["batches"]["step"][0] == 1
            assert {"step": ckpt_step, "kind": "resume", "value": None} in history["marks"]
            resumed = http.post(f"/api/runs/{rid}/resume").json()  # nothing to do: it trains
            assert resumed["status"] == "running"
            # Past the last step recorded before the kill, so these steps were trained after the resume.
            past = max(before["step"], ckpt_step) + 5
            wait_for(lambda: http.get(f"/api/runs/{rid}").json()["step"] > past, 60, 0.05, "steps")
            history = http.get(f"/api/runs/{rid}/metrics").json()["batches"]["step"]
            # Continues from the checkpoint: one point per step, no gap and no duplicate.
            assert history == list(range(1, len(history) + 1))
            paused = http.post(f"/api/runs/{rid}/pause").json()
            assert paused["status"] == "paused" and paused["step"] > past
            stopped = http.post(f"/api/runs/{rid}/stop").json()
            assert stopped["status"] == "stopped"
    finally:
        server.stop()


def test_sigterm_closes_viewers_checkpoints_and_exits_quickly(tmp_path: Path, tiny_dataset: Path) -> None:
    data_dir = tmp_path / "runs"
    server = Server(data_dir, tiny_dataset)
    try:
        with server.http() as http:
            run = http.post("/api/runs", json={"spec": TINY_MLP, "epochs": 500, "batch_size": 10}).json()
            rid = run["id"]
            wait_for(lambda: http.get(f"/api/runs/{rid}").json()["step"] > 20, 60, 0.05, "training")
            with connect(server.ws_url) as ws:
                ws.recv(timeout=10)
                seconds = server.stop(signal.SIGTERM)
                with pytest.raises(ConnectionClosed):
                    for _ in range(10_000):
                        ws.recv(timeout=10)
                assert ws.close_code == 1001
            # uvicorn re-raises the signal after its graceful shutdown: -15 is a clean exit here.
            assert server.proc.returncode in (0, -signal.SIGTERM)
            assert "Application shutdown complete" in server.log.read_text()
            print(f"SIGTERM to exit: {seconds:.2f} s")  # a figure (bench/service_speed.py), not asserted
    finally:
        server.stop(signal.SIGKILL)
    last = read_checkpoint(data_dir / rid / "last.npz")
    step = last.meta["trainer"]["step"]
    assert step > 20  # the final checkpoint written at shutdown
    server = Server(data_dir, tiny_dataset)
    try:
        with server.http() as http:
            # It trained when the server stopped: it continues by itself from that checkpoint.
            history = http.get(f"/api/runs/{rid}/metrics").json()
            assert {"step": step, "kind": "resume", "value": None} in history["marks"]
            wait_for(lambda: http.get(f"/api/runs/{rid}").json()["step"] > step + 5, 60, 0.05, "steps")
            steps = http.get(f"/api/runs/{rid}/metrics").json()["batches"]["step"]
            # Nothing lost (the shutdown flushed the last points) and nothing trained twice.
            assert steps[: step + 5] == list(range(1, step + 6))
            assert http.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    finally:
        server.stop()
