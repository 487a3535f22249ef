"""QA4 DUR-3: the run store wrote every metrics frame (~10 a second per run) into SQLite on the
event loop, so a disk that stopped answering (fsfreeze for a snapshot, a hung mount) stalled
the whole server — /healthz took the 8 s of the freeze. Here the stall is another SQLite
connection holding the database's write lock for 4 s (what a frozen disk does to a write, without
needing a filesystem to freeze): /healthz and a prediction must keep answering at once, the run's
step keeps moving (shown from memory), and once the lock goes every point is written, none lost."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx
from service_helpers import TINY_MLP, Server, make_dataset, wait_for, wait_status

PIXELS = [[0.0] * 28] * 28


def test_a_stalled_database_does_not_stall_the_server(tmp_path: Path) -> None:
    # One image a step, 60,000 a epoch: the lock is taken just after an epoch ends, so no epoch
    # row (written on the loop, see framewriter's docstring) falls in its 4 s.
    dataset = make_dataset(tmp_path / "mnist", n_train=60000)
    server = Server(tmp_path / "runs", dataset, env={"GLASSNET_CHECKPOINT_INTERVAL_S": "600"})
    try:
        with server.http() as http:
            body = {"spec": TINY_MLP, "epochs": 10, "batch_size": 1}
            rid = http.post("/api/runs", json=body).json()["id"]
            wait_for(lambda: http.get(f"/api/runs/{rid}").json()["epoch"] >= 1, 120, 0.02, what="an epoch")
            blocker = sqlite3.connect(server.data_dir / "runs.sqlite3", isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: every writer waits
            worst, answered, done = 0.0, [], threading.Event()

            def probe() -> None:
                nonlocal worst
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    while not done.is_set():
                        t0 = time.monotonic()
                        ok = c.get("/healthz").status_code == 200
                        ok = (
                            ok
                            and c.post("/api/predict?model=mlp", json={"pixels": PIXELS}).status_code == 200
                        )
                        worst = max(worst, time.monotonic() - t0)
                        answered.append(ok)
                        time.sleep(0.1)

            thread = threading.Thread(target=probe)
            thread.start()
            try:
                before = http.get(f"/api/runs/{rid}").json()["step"]
                time.sleep(4.0)
                during = http.get(f"/api/runs/{rid}").json()["step"]
            finally:
                done.set()
                thread.join()
                blocker.execute("ROLLBACK")
                blocker.close()
            assert answered and all(answered)
            assert worst < 2.0, f"a /healthz + prediction took {worst:.2f} s while the database was locked"
            assert during > before + 50, (before, during)
            http.post(f"/api/runs/{rid}/stop")
            stopped = wait_status(http, rid, "stopped")
            steps = http.get(f"/api/runs/{rid}/metrics").json()["batches"]["step"]
            assert steps == list(range(1, stopped["step"] + 1))  # every point, none lost or doubled
        log = server.log_tail(10**7)
        assert "Traceback" not in log and '" 500' not in log
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "runs" / "runs.sqlite3") as db:  # written, not only shown
        (count,) = db.execute("SELECT COUNT(*) FROM batch_metrics WHERE run_id = ?", (rid,)).fetchone()
    assert count == stopped["step"]
