"""Fan-out through a real server: several reading viewers and two that never read, while a run
trains. The readers keep receiving metrics, the stalled ones are disconnected, and training goes
on. (bench/fanout.py measures the same with 20 + 2 viewers and the cnn preset.)"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from service_helpers import TINY_CNN, Server, stalled_viewer, wait_for
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

pytestmark = pytest.mark.slow


def test_stalled_viewers_do_not_hold_back_training_or_readers(tmp_path: Path, tiny_dataset: Path) -> None:
    env = {
        "GLASSNET_VIEWER_SEND_TIMEOUT_S": "2",
        "GLASSNET_WS_PING_INTERVAL_S": "1",
        "GLASSNET_WS_PING_TIMEOUT_S": "1",
        "GLASSNET_VIEWER_QUEUE": "16",
    }
    server = Server(tmp_path / "runs", tiny_dataset, env)
    stop = threading.Event()
    received: dict[int, list[float]] = {}

    def reader(i: int) -> None:
        received[i] = []
        with connect(server.ws_url, max_size=None) as ws:
            while not stop.is_set():
                try:
                    text = ws.recv(timeout=0.5)
                except TimeoutError:  # no frame (the run has stopped): look at ``stop`` again
                    continue
                except ConnectionClosed:
                    return
                if '"type":"metrics"' in text:
                    received[i].append(time.monotonic())

    try:
        with server.http() as http:
            stalled = [stalled_viewer(server.port) for _ in range(2)]
            wait_for(lambda: http.get("/healthz").json()["viewers"] == 2, 10, 0.05, "stalled viewers")
            threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(5)]
            for t in threads:
                t.start()
            wait_for(lambda: http.get("/healthz").json()["viewers"] == 7, 10, 0.05, "all viewers")
            body = {"spec": TINY_CNN, "epochs": 1000, "batch_size": 10}
            run = http.post("/api/runs", json=body).json()
            # The stalled sockets are dropped after a timeout; the readers stay.
            wait_for(lambda: http.get("/healthz").json()["viewers"] == 5, 20, 0.1, "stalled viewers to go")
            step0 = http.get(f"/api/runs/{run['id']}").json()["step"]
            checking = time.monotonic()
            # Training goes on and every reader keeps receiving metrics frames (the throughput and
            # the longest silence are figures: bench/fanout.py prints them; no timing is asserted).
            wait_for(
                lambda: http.get(f"/api/runs/{run['id']}").json()["step"] > step0 + 100, 60, 0.1, "training"
            )
            wait_for(
                lambda: all(len([s for s in st if s > checking]) >= 10 for st in received.values()),
                60,
                0.1,
                "every reader to receive 10 more frames",
            )
            assert http.post(f"/api/runs/{run['id']}/stop").json()["status"] == "stopped"
            stop.set()
            for t in threads:
                t.join(10)
            for i, stamps in received.items():
                later = [s for s in stamps if s > checking]
                gaps = [b - a for a, b in itertools.pairwise(later)]
                print(f"reader {i}: {len(later)} frames, longest silence {max(gaps):.2f} s")
            stats = http.get("/api/stats").json()
            assert stats["viewers"] <= 5
            # Most frames went straight to idle sockets (fastsend), framed once; the readers'
            # client (websockets) checked every frame's framing as it parsed it.
            assert stats["direct_frames"] > stats["published_frames"]
            for sock in stalled:
                sock.close()
    finally:
        stop.set()
        server.stop()
