"""Issue 9, the server side of the dashboard's panels: what a run has learned read back from its
checkpoints (item 3), every digit of a confusion-matrix cell (item 2), exact values for hovering
(item 4), probes 0–9 (item 10), human names (item 6), stopped runs continued (item 8), the loss
chart's marks (item 12), presets and layer types served (one source of truth)."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from service_helpers import TINY_CNN, TINY_MLP, decode, wait_for, wait_status

from glassnet.nn.layers import LAYER_TYPES
from glassnet.presets import PRESETS, load_preset


def start(client: TestClient, **body: object) -> dict:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_finished_run_learned_frames_and_every_cell_digit(client: TestClient) -> None:
    run = start(client, spec=TINY_CNN, epochs=2, batch_size=50, name="tiny")
    rid = run["id"]
    wait_status(client, rid, "finished")
    learned = client.get(f"/api/runs/{rid}/learned")
    assert learned.status_code == 200, learned.text
    body = learned.json()
    # The timeline: one entry per epoch copy (last.npz is the same step as epoch 2: not repeated).
    assert [(c["name"], c["step"]) for c in body["checkpoints"]] == [("epoch-001", 10), ("epoch-002", 20)]
    assert body["checkpoint"] == "epoch-002" and body["step"] == 20
    assert [k["index"] for k in body["kernels"]["conv"]] == [0]
    assert decode(body["kernels"]["conv"][0]["kernels"]).shape == (2, 1, 5, 5)
    acts = body["activations"]
    assert [p["label"] for p in acts["probes"]] == list(range(10))  # one probe of each digit
    norms = {(n["index"], n["param"]): n["norm"] for n in body["gradients"]["norms"]}
    assert norms[(0, "W")] > 0  # the probe batch's gradient, not an empty panel
    # An earlier checkpoint: other kernels.
    first = client.get(f"/api/runs/{rid}/learned", params={"checkpoint": "epoch-001"}).json()
    assert first["step"] == 10
    assert first["kernels"]["conv"][0]["kernels"]["data"] != body["kernels"]["conv"][0]["kernels"]["data"]
    assert client.get(f"/api/runs/{rid}/learned", params={"checkpoint": "../x"}).status_code == 404
    # Every digit of every confusion cell of epoch 2, paged: the counts add up to the matrix.
    confusion = client.get(f"/api/runs/{rid}/metrics").json()["epochs"][1]["confusion"]
    for label in range(10):
        for guess in range(10):
            if not confusion[label][guess]:
                continue
            seen = []
            offset = 0
            while True:
                page = client.get(
                    f"/api/runs/{rid}/epochs/2/digits",
                    params={"label": label, "predicted": guess, "offset": offset, "limit": 7},
                ).json()
                assert page["total"] == confusion[label][guess]
                seen += page["items"]
                offset += 7
                if offset >= page["total"]:
                    break
            assert len(seen) == confusion[label][guess]
            assert {(d["label"], d["predicted"]) for d in seen} == {(label, guess)}
            assert decode(seen[0]["image"]).shape == (28, 28)
    assert client.get(f"/api/runs/{rid}/epochs/9/digits").status_code == 404
    assert client.get(f"/api/runs/{rid}/epochs/1/digits", params={"label": 10}).status_code == 422


def test_stopped_run_continues_names_marks(client: TestClient) -> None:
    run = start(client, spec=TINY_MLP, epochs=200, batch_size=20, optimizer="sgd", lr=0.05)
    rid = run["id"]
    assert run["name"].startswith("custom #")  # a human name from the start
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 3, what="some steps")
    paused = client.post(f"/api/runs/{rid}/pause").json()
    client.patch(f"/api/runs/{rid}", json={"lr": 0.02})
    client.post(f"/api/runs/{rid}/resume")
    stopped = client.post(f"/api/runs/{rid}/stop").json()
    assert stopped["status"] == "stopped" and stopped["resumable"] is True
    # Renamed, in any state; a blank name is refused.
    renamed = client.patch(f"/api/runs/{rid}", json={"name": "my sgd run"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "my sgd run"
    assert client.patch(f"/api/runs/{rid}", json={"name": "   "}).status_code == 422
    # A stopped run continues from its checkpoint.
    resumed = client.post(f"/api/runs/{rid}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] in ("running", "queued")
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > stopped["step"], what="steps after")
    client.post(f"/api/runs/{rid}/stop")
    marks = client.get(f"/api/runs/{rid}/metrics").json()["marks"]
    kinds = [m["kind"] for m in marks]
    assert kinds[:3] == ["pause", "lr", "resume"] and kinds[-1] == "resume"
    assert marks[0]["step"] == paused["step"] and marks[1]["value"] == 0.02
    # A queued run stopped before it started has nothing to continue from: the 409 says why.
    blocker = start(client, spec=TINY_MLP, epochs=200, batch_size=20)
    queued = start(client, spec=TINY_MLP, epochs=1, batch_size=20)
    assert queued["status"] == "queued"
    client.post(f"/api/runs/{queued['id']}/stop")
    r = client.post(f"/api/runs/{queued['id']}/resume")
    assert r.status_code == 409 and "stopped before its first checkpoint" in r.json()["detail"]
    client.post(f"/api/runs/{blocker['id']}/stop")


def test_exact_activations_for_hovering(client: TestClient) -> None:
    """The notes' sigmoid network on a test digit: the served values are the network's own
    float32 numbers, not a uint8 picture's (σ(−8.88) is 1.4e-4, not 2.7e-26)."""
    from glassnet.nn.checkpoint import load_checkpoint
    from glassnet.service.explain import DigitBank

    r = client.post("/api/explain/activations", json={"model": "notes", "test_index": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    model = load_checkpoint("models/notes.npz").model
    bank = DigitBank(client.app.state.settings.dataset, 100)
    x, _ = bank.get("test", 3)
    _, acts = model.forward_record(x.reshape(1, 1, 28, 28))
    for layer, a in zip(body["layers"], acts, strict=True):
        assert layer["shape"] == list(a.shape[1:])
        assert np.array_equal(np.array(layer["values"], dtype=np.float32), a[0].ravel())
    assert body["biases"]["1"] == model.layers[1].params["b"].astype(np.float64).tolist()
    assert body["readout"] == "normalised"  # squared error: no softmax in this network
    bad = client.post("/api/explain/activations", json={"model": "notes"})
    assert bad.status_code == 422


def test_catalog_is_the_library(client: TestClient) -> None:
    presets = client.get("/api/presets").json()
    assert presets == {name: load_preset(name) for name in PRESETS}
    layers = client.get("/api/layers").json()
    assert [t["type"] for t in layers["layers"]] == list(LAYER_TYPES)
    conv = next(t for t in layers["layers"] if t["type"] == "conv2d")
    assert conv["options"]["stride"] == 1 and conv["options"]["filters"] is None
    assert conv["new"]["filters"] == 8
    assert layers["hyperparameters"]["adam"] == ["lr", "beta1", "beta2", "weight_decay"]
    probes = client.get("/api/probes").json()
    assert [p["label"] for p in probes] == list(range(10))


def test_a_damaged_checkpoint_is_a_422_naming_it(client: TestClient, settings) -> None:
    run = start(client, spec=TINY_MLP, epochs=200, batch_size=20)
    rid = run["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 3, what="some steps")
    assert client.post(f"/api/runs/{rid}/stop").json()["status"] == "stopped"
    (settings.data_dir / rid / "last.npz").write_bytes(b"garbage\n")
    r = client.get(f"/api/runs/{rid}/learned", params={"checkpoint": "last"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"run {rid}: checkpoint last.npz cannot be read (")
    assert client.get(f"/api/runs/{rid}/learned").status_code == 200  # the readable ones still answer
