"""One Learn screen, one set of weights (QA4 LEARN-1): a run's weights move on while a page asks
its questions one after another, so every explain answer names the step its weights are from and
takes that ``step`` back, answering from exactly those weights; when they are no longer kept and
the run has moved on, a 409 with the code ``weights_moved``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from service_helpers import TINY_CNN, wait_status

from glassnet.nn.checkpoint import read_checkpoint, save_checkpoint
from glassnet.nn.model import Sequential
from glassnet.service.pinned import PinnedWeights

DIGIT = {"test_index": 0, "target": 7}


def move_on(folder: Path, by: int) -> int:
    """Make the run's latest weights another step's, as a training run rewriting live.npz does."""
    live = folder / "live.npz"
    ckpt = read_checkpoint(live)
    for layer in ckpt.model.layers:
        for p in layer.params.values():
            p += np.float32(0.05)
    step = int(ckpt.meta["step"]) + by
    save_checkpoint(live, ckpt.model, {**ckpt.meta, "step": step}, ckpt.spec)
    later = live.stat().st_mtime + 2  # the registry reloads a file whose mtime changed
    os.utime(live, (later, later))
    return step


def test_every_answer_reads_the_step_it_is_asked_for(client: TestClient) -> None:
    run = client.post("/api/runs", json={"spec": TINY_CNN, "epochs": 1, "batch_size": 64}).json()
    wait_status(client, run["id"], "finished")
    folder = Path(client.app.state.settings.data_dir) / run["id"]

    first = client.post("/api/explain", json={"model": run["id"], **DIGIT, "layers": []}).json()
    step = first["step"]
    assert isinstance(step, int) and step > 0
    conv_then = client.post("/api/explain/conv", json={"model": run["id"], **DIGIT, "layer": 0}).json()
    assert conv_then["step"] == step and conv_then["cost"] == first["cost"]

    later = move_on(folder, 7)
    # Not pinned: the latest weights, another step and another cost.
    now = client.post("/api/explain", json={"model": run["id"], **DIGIT, "layers": []}).json()
    assert now["step"] == later and now["cost"] != first["cost"]
    # Pinned to the first answer's step: every endpoint reads those weights, not the latest.
    again = client.post("/api/explain", json={"model": run["id"], "step": step, **DIGIT, "layers": []}).json()
    assert (again["step"], again["cost"]) == (step, first["cost"])
    for body in ({"layer": 0, "kernel": 1}, {"layer": 2}):
        r = client.post("/api/explain/conv", json={"model": run["id"], "step": step, **DIGIT, **body})
        assert r.status_code == 200, r.text
        assert (r.json()["step"], r.json()["cost"]) == (step, first["cost"])
    s = client.post(
        "/api/explain/step",
        json={"model": run["id"], "step": step, "examples": [DIGIT], "lr": 0.1},
    ).json()
    assert (s["step"], s["cost_before"]) == (step, first["cost"])
    acts = client.post("/api/explain/activations", json={"model": run["id"], "step": step, **DIGIT})
    assert acts.status_code == 200, acts.text

    # The pinned weights forgotten (evicted, a restart) and the run moved on: said, not swapped.
    client.app.state.explainer.pinned = PinnedWeights()
    r = client.post("/api/explain/conv", json={"model": run["id"], "step": step, **DIGIT, "layer": 0})
    assert r.status_code == 409
    assert r.json()["code"] == "weights_moved"
    assert f"step {step}" in r.json()["detail"] and f"step {later}" in r.json()["detail"]
    # ... but the latest step is found on disk even when not kept.
    r = client.post("/api/explain", json={"model": run["id"], "step": later, **DIGIT, "layers": []})
    assert r.status_code == 200 and r.json()["cost"] == now["cost"]
    # A bundled network has no step: pinning one is named, not ignored; nor has a scratch copy.
    r = client.post("/api/explain", json={"model": "cnn", "step": 3, **DIGIT})
    assert r.status_code == 422 and "no training step" in r.json()["detail"]
    r = client.post("/api/explain", json={"model": "scratch:feedface", "step": 3, **DIGIT})
    assert r.status_code == 422 and "scratch" in r.json()["detail"]


def test_kept_weights_are_bounded() -> None:
    net = Sequential.from_spec({"input_shape": [4], "layers": [{"type": "dense", "units": 3}], "loss": "mse"})
    kept = PinnedWeights(max_items=3, max_bytes=10**6)
    for step in range(5):
        kept.put("run", step, net)
    assert len(kept) == 3 and kept.get("run", 1) is None and kept.get("run", 4) is net
    small = PinnedWeights(max_items=10, max_bytes=4 * net.param_count() * 2)
    for step in range(4):
        small.put("run", step, net)
    assert len(small) == 2
