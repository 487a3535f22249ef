"""QA4 API-8: ``GET /api/models`` names a run's checkpoints by the run's name (all were named by
their preset, "mlp", so a program had to look each id up in /api/runs), and a run checkpoint
downloaded and uploaded again keeps the epochs and validation accuracy its file records (they
were null)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_status


def test_run_checkpoints_carry_the_run_name_and_uploads_keep_their_figures(client: TestClient) -> None:
    r = client.post(
        "/api/runs",
        json={"spec": {**TINY_MLP, "name": "mlp"}, "epochs": 1, "batch_size": 50, "name": "page1"},
    )
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    wait_status(client, run_id, "finished")
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    mine = {i: m for i, m in models.items() if i.startswith(f"{run_id}:")}
    assert {f"{run_id}:epoch-001", f"{run_id}:last"} <= set(mine)
    assert {m["name"] for m in mine.values()} == {"page1"}
    assert models["cnn"]["name"] != "page1"  # bundled ones keep their own
    epoch = mine[f"{run_id}:epoch-001"]
    assert epoch["epochs"] == 1 and epoch["val_accuracy"] is not None
    # The same file, downloaded and uploaded again
    data = client.get(f"/api/models/{run_id}:epoch-001").content
    up = client.post(
        "/api/models?filename=myrun.npz", content=data, headers={"content-type": "application/octet-stream"}
    )
    assert up.status_code == 201, up.text
    assert (up.json()["epochs"], up.json()["val_accuracy"]) == (1, epoch["val_accuracy"])
    listed = next(m for m in client.get("/api/models").json()["models"] if m["id"] == up.json()["id"])
    assert (listed["epochs"], listed["val_accuracy"]) == (1, epoch["val_accuracy"])
    # A rename shows at once
    assert client.patch(f"/api/runs/{run_id}", json={"name": "page one"}).status_code == 200
    again = [
        m["name"] for m in client.get("/api/models").json()["models"] if m["id"].startswith(f"{run_id}:")
    ]
    assert set(again) == {"page one"}
