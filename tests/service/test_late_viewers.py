"""What a viewer that arrives late sees, and what a run without weights answers: the latest
``epoch`` replayed on subscribe (from the hub, or from the store after a restart), the
misclassified digits in the stored history, status frames that follow the epochs, and live
predictions for a queued run answered by the bundled model (which the answer names)."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_settings, receive, receive_until, wait_for, wait_status

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.service.app import create_app
from glassnet.service.hub import Hub
from glassnet.service.protocol import EpochData, ErrorData, EventType


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.application_state = None

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))


def epoch_data(epoch: int) -> EpochData:
    return EpochData(
        epoch=epoch,
        step=10 * epoch,
        train_loss=1.0,
        train_accuracy=0.5,
        val_loss=1.0,
        val_accuracy=0.5,
        confusion=None,
        seconds=1.0,
        misclassified=[],
    )


def test_hub_replays_the_latest_epoch_to_a_new_subscriber() -> None:
    hub = Hub(queue_size=8)
    hub.publish(EventType.EPOCH, "r", epoch_data(1))
    hub.publish(EventType.ACTIVATIONS, "r", ErrorData(code="x", message="heavy"))
    hub.publish(EventType.EPOCH, "r", epoch_data(2))
    hub.publish(EventType.EPOCH, "other", epoch_data(5))
    viewer = hub.add(FakeSocket())  # type: ignore[arg-type]
    viewer.runs.add("r")
    hub.replay_latest(viewer, "r")
    types = [f.type for f in viewer.queue]
    assert types == [EventType.EPOCH, EventType.ACTIVATIONS]  # the summary first, then heavy
    assert '"epoch":2' in viewer.queue[0].text and viewer.queue[0].run == "r"
    assert hub.has_latest("r", EventType.EPOCH) and not hub.has_latest("nope", EventType.EPOCH)


def train_two_epochs(client: TestClient) -> tuple[str, list[dict[str, Any]]]:
    """A tiny run of 2 epochs x 10 steps, watched to the end: (run id, its status frames)."""
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 2, "batch_size": 50}).json()
        statuses = []
        while not statuses or statuses[-1]["status"] != "finished":
            message = receive(ws)
            if message["type"] == "status" and message["run"] == run["id"]:
                statuses.append(message["data"])
    return run["id"], statuses


def test_status_frames_follow_the_epochs(client: TestClient) -> None:
    _, statuses = train_two_epochs(client)
    # Not only on changes of state: each epoch's end is announced with its epoch and step.
    assert any(s["status"] == "running" and s["epoch"] == 1 and s["step"] == 10 for s in statuses)
    assert statuses[-1]["epoch"] == 2 and statuses[-1]["step"] == 20


def test_history_keeps_misclassified_and_late_viewers_get_the_last_epoch(
    client: TestClient, settings
) -> None:
    run_id, _ = train_two_epochs(client)
    history = client.get(f"/api/runs/{run_id}/metrics").json()
    last = history["epochs"][-1]
    assert last["epoch"] == 2 and 0 < len(last["misclassified"]) <= 8
    for wrong in last["misclassified"]:
        assert wrong["label"] != wrong["predicted"] and wrong["image"]["shape"] == [28, 28]
        assert len(base64.b64decode(wrong["image"]["data"])) == 28 * 28
    assert all("misclassified" in e for e in history["epochs"])

    # A viewer that subscribes after the last epoch gets it at once (from the hub).
    with client.websocket_connect("/ws") as late:
        receive(late)
        late.send_json({"type": "subscribe", "run": run_id})
        epoch = receive_until(late, "epoch", limit=10)
        assert epoch["run"] == run_id and epoch["data"]["epoch"] == 2
        assert epoch["data"]["misclassified"] == last["misclassified"]
        assert epoch["data"]["confusion"] == last["confusion"]

    # After a restart the hub has nothing cached: the last epoch comes from the store.
    with TestClient(create_app(settings)) as restarted, restarted.websocket_connect("/ws") as ws:
        receive(ws)
        ws.send_json({"type": "subscribe", "run": run_id})
        epoch = receive_until(ws, "epoch", limit=10)
        assert epoch["data"]["epoch"] == 2 and epoch["data"]["misclassified"] == last["misclassified"]


def test_prediction_for_a_run_without_weights_falls_back_to_the_bundled_model(tmp_path, tiny_dataset) -> None:
    image = read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[0].astype(np.float64) / 255.0
    pixels = image.ravel().tolist()
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_active_runs=1)
    with TestClient(create_app(settings)) as client:
        first = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 300, "batch_size": 20}).json()
        queued = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1}).json()
        assert client.get(f"/api/runs/{queued['id']}").json()["status"] == "queued"

        r = client.post(f"/api/predict?model={queued['id']}", json={"pixels": pixels})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["model"] == "cnn" and answer["digit"] is not None
        assert queued["id"] in answer["message"] and "no weights yet" in answer["message"]
        # Ids that are no run at all stay unknown.
        assert client.post("/api/predict?model=abc123", json={"pixels": pixels}).status_code == 404

        with client.websocket_connect("/ws") as ws:
            receive(ws)
            ws.send_json({"type": "predict", "pixels": pixels, "model": queued["id"], "id": 1})
            prediction = receive_until(ws, "prediction")["data"]
            assert prediction["model"] == "cnn" and prediction["id"] == 1
            assert "no weights yet" in prediction["message"]
            ws.send_json({"type": "predict", "pixels": pixels, "model": "abc123", "id": 2})
            error = receive_until(ws, "error")["data"]
            assert error["code"] == "not_found" and error["id"] == 2

        # The training run writes its initial weights before the first mini-batch.
        wait_status(client, first["id"], "running")
        wait_for(lambda: (settings.data_dir / first["id"] / "live.npz").is_file(), what="live.npz")
        r = client.post(f"/api/predict?model={first['id']}", json={"pixels": pixels})
        assert r.status_code == 200 and r.json()["model"] == first["id"]
        client.post(f"/api/runs/{queued['id']}/stop")
        client.post(f"/api/runs/{first['id']}/stop")
