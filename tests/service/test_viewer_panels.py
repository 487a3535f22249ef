"""Per-viewer panels (issue 14, many viewers): a page that shows no heavy panel gets the heavy
frames of its run at most once per ``hidden_heavy_interval_s``; one that shows a panel gets that
panel's frames live; a panel that comes on screen gets the latest frame at once; a socket that
never says gets everything, as before. Metrics always come."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient
from service_helpers import TINY_CNN, make_settings, receive, wait_for

from glassnet.service.app import create_app


def collect(ws, seconds: float) -> Counter:
    seen: Counter = Counter()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen[receive(ws)["type"]] += 1
    return seen


def test_heavy_frames_follow_the_panels_on_screen(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(
        tmp_path / "runs", tiny_dataset, heavy_interval_s=0.1, hidden_heavy_interval_s=30
    )
    with TestClient(create_app(settings)) as client:
        # Minutes of work at any speed (1,000 epochs of ~300 steps): the run must outlast the
        # test, whose reads wait for frames that a finished run no longer sends.
        body = {"spec": TINY_CNN, "epochs": 1000, "batch_size": 2}
        run = client.post("/api/runs", json=body).json()
        with (
            client.websocket_connect("/ws") as charts,
            client.websocket_connect("/ws") as learned,
            client.websocket_connect("/ws") as old,
        ):
            for ws in (charts, learned, old):
                assert receive(ws)["type"] == "hello"
            charts.send_json({"type": "panels", "live": []})
            learned.send_json({"type": "panels", "live": ["activations", "kernels", "gradients"]})
            # The panels messages are handled (a fixed 0.3 s could end first on a slow machine).
            want = {"activations": 2, "gradients": 2, "kernels": 2}  # learned and old
            wait_for(lambda: client.get("/api/stats").json()["live_heavy"] == want, 15, 0.05, "the panels")
            stats = client.get("/api/stats").json()["live_heavy"]
            assert stats == want
            seen = {
                name: collect(ws, 2.5)
                for name, ws in (("charts", charts), ("learned", learned), ("old", old))
            }
            for name in ("learned", "old"):
                assert seen[name]["activations"] >= 5 and seen[name]["kernels"] >= 5, (name, seen[name])
            # Hidden panels: at most one frame of each heavy type in 30 s (the first may have come
            # just before the panels message).
            assert seen["charts"]["activations"] <= 1 and seen["charts"]["kernels"] <= 1, seen["charts"]
            assert min(s["metrics"] for s in seen.values()) >= 10  # metrics always come
            # A panel comes on screen: its frames come live (the hub's test checks the replay).
            charts.send_json({"type": "panels", "live": ["kernels"]})
            assert collect(charts, 1.5)["kernels"] >= 3
        client.post(f"/api/runs/{run['id']}/stop")


def test_a_bad_panels_message_is_an_error_event(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        ws.send_json({"type": "panels", "live": ["metrics"]})
        error = receive(ws)
        assert error["type"] == "error" and error["data"]["code"] == "bad_message"
