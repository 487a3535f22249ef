"""QA4 DUR-6: a new learning rate's mark on the loss chart was put at the run's stored step,
which lags the training process by a metrics frame (25 steps in QA; here the frames are 3 s
apart, so hundreds). It is now the step the process applied the rate at: the last step trained
with the old rate, the next one with the new."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_dataset, make_settings, wait_for, wait_status

from glassnet.service.app import create_app


def test_the_lr_mark_is_where_the_rate_changed(tmp_path: Path) -> None:
    # Long epochs (an epoch's end sends a frame too): 4000 steps of one image each.
    dataset = make_dataset(tmp_path / "mnist", n_train=4000)
    settings = make_settings(tmp_path / "runs", dataset, metrics_interval_s=3.0)
    with TestClient(create_app(settings)) as client:
        body = {"spec": TINY_MLP, "epochs": 100, "batch_size": 1, "optimizer": "sgd", "lr": 0.05}
        rid = client.post("/api/runs", json=body).json()["id"]
        wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 0, 60, what="a first frame")
        time.sleep(1.0)  # the process trains on; the stored step waits for the next frame
        assert client.patch(f"/api/runs/{rid}", json={"lr": 0.01}).status_code == 200
        client.post(f"/api/runs/{rid}/stop")
        wait_status(client, rid, "stopped")
        history = client.get(f"/api/runs/{rid}/metrics").json()
    (mark,) = [m for m in history["marks"] if m["kind"] == "lr"]
    lr = dict(zip(history["batches"]["step"], history["batches"]["lr"], strict=True))
    assert lr[mark["step"]] == 0.05 and lr[mark["step"] + 1] == 0.01, (mark, lr.get(mark["step"]))
