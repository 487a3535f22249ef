"""QA observation (pickle): a run's process and the server talk in JSON bytes only. The pipes'
own ``send``/``recv`` pickle; :class:`JsonPipe` uses ``send_bytes``/``recv_bytes`` of JSON and
refuses (never unpickles) anything else. A real run trains, pauses, resumes, finishes and sends
its epoch answers with the parent's pickling pipe methods made to fail."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import pickle
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_for

from glassnet.service.executors.messages import JsonPipe


class Marker:
    """Unpickling this writes a file: proof that something was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path(self.path).write_text, ("unpickled",))


def test_messages_cross_as_json_bytes(tmp_path: Path) -> None:
    receiving, sending = mp.Pipe(duplex=False)
    message = {
        "kind": "epoch",
        "data": {"epoch": 1, "loss": float("nan"), "confusion": [[1, 2], [3, 4]]},
        "predicted": bytes(range(10)),
        "step": np.int64(7),
        "lr": np.float32(0.5),
        "grid": np.arange(3),
    }
    JsonPipe(sending).send(message)
    raw = receiving.recv_bytes()  # what crossed: JSON text, not a pickle
    assert raw.startswith(b"{") and json.loads(raw)["predicted"] == {"$b64": "AAECAwQFBgcICQ=="}
    JsonPipe(sending).send(message)
    got = JsonPipe(receiving).recv()
    assert got["predicted"] == bytes(range(10)) and got["step"] == 7 and got["grid"] == [0, 1, 2]
    assert math.isnan(got["data"]["loss"]) and got["data"]["confusion"] == [[1, 2], [3, 4]]


def test_a_pickle_is_refused_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    receiving, sending = mp.Pipe(duplex=False)
    sending.send_bytes(pickle.dumps(Marker(str(marker))))
    with pytest.raises(ValueError, match="not a run message"):
        JsonPipe(receiving).recv()
    assert not marker.exists()
    with pytest.raises(TypeError, match="cannot carry"):
        JsonPipe(sending).send({"kind": "x", "value": Marker(str(marker))})


def test_a_run_talks_json_only(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def pickling(*args, **kwargs):
        raise AssertionError("a run message went through the pipe's pickling send/recv")

    monkeypatch.setattr(Connection, "send", pickling)
    monkeypatch.setattr(Connection, "recv", pickling)
    run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 200, "batch_size": 20}).json()
    wait_for(lambda: client.get(f"/api/runs/{run['id']}").json()["epoch"] >= 1, what="an epoch")
    paused = client.post(f"/api/runs/{run['id']}/pause")
    assert paused.json()["status"] == "paused", paused.text  # a command and its reply
    assert client.post(f"/api/runs/{run['id']}/resume").json()["status"] == "running"
    assert client.post(f"/api/runs/{run['id']}/stop").json()["status"] == "stopped"
    assert client.get(f"/api/runs/{run['id']}").json()["val_accuracy"] is not None
    # The epoch's answers crossed as bytes ({"$b64": ...}): a confusion cell lists its digits.
    confusion = client.get(f"/api/runs/{run['id']}/metrics").json()["epochs"][0]["confusion"]
    label, guess = max(((i, j) for i in range(10) for j in range(10)), key=lambda c: confusion[c[0]][c[1]])
    digits = client.get(f"/api/runs/{run['id']}/epochs/1/digits?label={label}&predicted={guess}").json()
    assert digits["total"] == confusion[label][guess] > 0
