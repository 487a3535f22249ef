"""'Teach it' runs through real HTTP: a network fine-tuned on MNIST mixed with my digits, judged on
my held-out digits and MNIST test before (epoch 0) and after; refusals that name the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_status

from glassnet.data.mnist import load_splits
from glassnet.nn.checkpoint import read_checkpoint
from glassnet.service.schemas import TeachRequest
from glassnet.service.teaching import plan_teach
from glassnet.training.trainer import evaluate

BUNDLED = Path(__file__).resolve().parents[2] / "models"


def label_some(client: TestClient, n: int) -> None:
    for k in range(n):
        g = np.zeros((56, 56))
        g[8 + k % 12 : 48, 24 + k % 4 : 30 + k % 4] = 1.0  # a stroke: a "1", each of its own length
        assert client.post("/api/mydigits", json={"label": 1, "pixels": g.tolist()}).status_code == 201


def test_refusals_name_the_problem(client: TestClient) -> None:
    label_some(client, 3)
    r = client.post("/api/runs", json={"teach": {"from_model": "cnn"}})
    assert r.status_code == 422 and "at least 10" in r.json()["detail"]
    label_some(client, 8)
    r = client.post("/api/runs", json={"teach": {"from_model": "no-such-model"}})
    assert r.status_code == 404
    r = client.post("/api/runs", json={"teach": {"from_model": "cnn"}, "preset": "mlp"})
    assert r.status_code == 422 and "leave out" in r.json()["detail"]
    r = client.post("/api/runs", json={"teach": {"from_model": "cnn", "repeat": 0}})
    assert r.status_code == 422
    assert client.get("/api/runs").json() == []  # a refused run stores nothing


def test_fine_tune_reports_before_and_after(client: TestClient) -> None:
    label_some(client, 12)
    r = client.post(
        "/api/runs", json={"teach": {"from_model": "cnn", "train_subset": 300, "repeat": 5}, "epochs": 2}
    )
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["name"].startswith("teach cnn")
    assert run["config"]["optimizer"] == "adam" and run["config"]["augment"]["elastic"] is True
    wait_status(client, run["id"], "finished", timeout=120)
    epochs = client.get(f"/api/runs/{run['id']}/metrics").json()["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert all(set(e["extra"]) == {"mine", "test"} for e in epochs)
    # epoch 0 is the bundled cnn itself, before a step: its own accuracy on the validation split
    settings = client.app.state.settings
    splits = load_splits(settings.dataset, validation=settings.validation)
    cnn = read_checkpoint(BUNDLED / "cnn.npz").model
    assert epochs[0]["val_accuracy"] == pytest.approx(evaluate(cnn, splits.val).accuracy)
    assert epochs[0]["extra"]["test"] == pytest.approx(evaluate(cnn, splits.test).accuracy)
    folder = Path(settings.data_dir) / run["id"]
    assert (folder / "init.npz").read_bytes() == (BUNDLED / "cnn.npz").read_bytes()
    assert (folder / "mine-holdout-labels").is_file()


def test_from_scratch_with_my_digits(client: TestClient) -> None:
    label_some(client, 10)
    body = {"spec": TINY_MLP, "teach": {"train_subset": 200, "repeat": 3}, "epochs": 1, "augment": False}
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    assert "augment" not in r.json()["config"]
    wait_status(client, r.json()["id"], "finished", timeout=120)
    epochs = client.get(f"/api/runs/{r.json()['id']}/metrics").json()["epochs"]
    assert epochs[0]["epoch"] == 0 and set(epochs[-1]["extra"]) == {"mine", "test"}


def test_augment_preview_shows_varied_versions(client: TestClient) -> None:
    r = client.post("/api/augment", json={"probe": 2, "count": 6, "seed": 4})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["source"]["label"] == 2 and len(a["variants"]) == 6
    again = client.post("/api/augment", json={"probe": 2, "count": 6, "seed": 4}).json()
    assert again["variants"] == a["variants"]  # seeded
    assert len({v["data"] for v in a["variants"]}) == 6  # each one different
    assert a["original"]["data"] not in {v["data"] for v in a["variants"]}
    only_stroke = {"affine": False, "elastic": False, "stroke": True, "stroke_rate": 1.0}
    assert client.post("/api/augment", json={"test_index": 5, "settings": only_stroke}).status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"probe": 1, "settings": {"scale": [1.4, 1.2]}}, "lo <= hi"),
        ({"probe": 1, "settings": {"rotation": 90}}, "rotation"),
        ({"probe": 1, "count": 99}, "count"),
        ({"probe": 1, "target": 1}, "target"),
        ({"count": 3}, "exactly one of"),
    ],
)
def test_augment_preview_bad_input(client: TestClient, body: dict, words: str) -> None:
    r = client.post("/api/augment", json=body)
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_kept_aside_digits_have_no_twin_in_training(client: TestClient) -> None:
    """QA3 hand #2: each digit there three times (the same drawing labelled again), a teach run's
    held-out digits were byte-identical to training ones, so "kept aside" measured memory. The
    split keeps every copy of a drawing on one side."""
    for _ in range(3):  # 8 distinct drawings, each labelled 3 times: 24 digits
        for k in range(8):
            g = np.zeros((56, 56))
            g[8:48, 24:30] = 1.0
            g[10 + 4 * k : 14 + 4 * k, 18:36] = 1.0  # a bar at a different height: another digit
            r = client.post("/api/mydigits", json={"label": 7 if k % 2 else 4, "pixels": g.tolist()})
            assert r.status_code == 201
    assert len({d["image"] for d in client.get("/api/mydigits").json()["digits"]}) == 8
    plan = plan_teach(client.app.state, TeachRequest(from_model="cnn", holdout=0.25))
    trained = {x.tobytes() for x in plan.train[0]}
    assert len(plan.holdout[1]) > 0 and len(plan.train[1]) + len(plan.holdout[1]) == 24
    assert not [x for x in plan.holdout[0] if x.tobytes() in trained]
