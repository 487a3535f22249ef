"""The service on another dataset: EMNIST-style letters (26 classes, labels 1..26, transposed images).
A preset run gets 26 output neurons, its checkpoints record the class names, and predictions name
the letters; the bundled digit readers keep answering with digits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import make_settings, wait_status

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from letters import write_letters

from glassnet.nn import load_checkpoint
from glassnet.service.app import create_app

LETTERS = [chr(ord("A") + i) for i in range(26)]


@pytest.fixture(scope="module")
def letters(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_letters(tmp_path_factory.mktemp("letters-api"))


def test_letters_train_and_predict_with_their_names(letters: Path, tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "runs", letters, validation=None, transpose=True, classes="emnist-letters"
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert ready["ready"], ready
        run = client.post("/api/runs", json={"preset": "mlp", "epochs": 3, "batch_size": 32}).json()
        assert run["spec"]["layers"][-1] == {**run["spec"]["layers"][-1], "units": 26}
        assert run["validation"] == 104  # a tenth of the 1,040 training images
        done = wait_status(client, run["id"], "finished", timeout=120)
        assert done["val_accuracy"] > 0.8
        meta = load_checkpoint(tmp_path / "runs" / run["id"] / "last.npz").meta
        assert meta["classes"] == LETTERS and meta["transpose"] is True

        pixels = np.zeros((28, 28))
        pixels[6:22, 12:16] = 1.0
        answer = client.post(f"/api/predict?model={run['id']}", json={"pixels": pixels.tolist()}).json()
        assert answer["classes"] == LETTERS and len(answer["probabilities"]) == 26
        assert answer["label"] == LETTERS[answer["digit"]] and answer["label"] in answer["message"]
        digits = client.post("/api/predict", json={"pixels": pixels.tolist()}).json()
        assert digits["classes"] == [str(i) for i in range(10)] and digits["label"] == str(digits["digit"])

        spec = {"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}
        r = client.post("/api/architecture", json=spec)
        assert r.status_code == 422 and "26 class scores" in r.json()["detail"]
