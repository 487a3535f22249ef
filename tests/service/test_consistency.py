"""State stays consistent: a refused creation stores nothing, concurrent PATCHes are all applied,
optimizer settings are named per optimizer, and a killed training process loses at most the time
since its last checkpoint — resumed mid-epoch, it ends with the weights of a run never killed."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_settings, wait_for, wait_status

from glassnet.nn.checkpoint import read_checkpoint
from glassnet.service.app import create_app


def start(client: TestClient, **body) -> dict:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def at_once(calls: list) -> list:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def go(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_a_refused_creation_stores_nothing(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_queued_runs=1)
    with TestClient(create_app(settings)) as client:
        body = {"spec": TINY_MLP, "epochs": 500, "batch_size": 20}
        answers = at_once([lambda: client.post("/api/runs", json=body) for _ in range(8)])
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 201] + [409] * 6, codes
        runs = client.get("/api/runs").json()
        assert len(runs) == 2 and {r["status"] for r in runs} <= {"running", "queued"}
        assert sorted(p.name for p in settings.data_dir.iterdir() if p.is_dir()) <= sorted(
            r["id"] for r in runs
        )
        for r in runs:
            client.post(f"/api/runs/{r['id']}/stop")


def test_concurrent_patches_are_all_applied(client: TestClient) -> None:
    run = start(client, spec=TINY_MLP, epochs=500, batch_size=20, optimizer="momentum", lr=0.05)
    rid = run["id"]
    client.post(f"/api/runs/{rid}/pause")
    for i in range(5):
        lr, momentum = 0.01 + i / 1000, 0.5 + i / 100
        a, b = at_once(
            [
                lambda lr=lr: client.patch(f"/api/runs/{rid}", json={"lr": lr}),
                lambda m=momentum: client.patch(f"/api/runs/{rid}", json={"momentum": m}),
            ]
        )
        assert a.status_code == b.status_code == 200
        now = client.get(f"/api/runs/{rid}").json()
        assert (now["lr"], now["momentum"]) == (lr, momentum), i
    # The training process got both too: its checkpoint on stop records what it used.
    client.post(f"/api/runs/{rid}/stop")
    hyper = read_checkpoint(client.app.state.settings.data_dir / rid / "last.npz").meta["trainer"]
    assert hyper["hyperparameters"] == {"lr": lr, "momentum": momentum, "weight_decay": 0.0}


def test_adam_has_beta1_and_beta2_never_momentum(client: TestClient) -> None:
    r = client.post("/api/runs", json={"spec": TINY_MLP, "optimizer": "adam", "momentum": 0.5})
    assert r.status_code == 422 and "adam optimizer has no 'momentum'" in r.json()["detail"]
    assert client.get("/api/runs").json() == []
    run = start(client, spec=TINY_MLP, epochs=500, batch_size=20, optimizer="adam", beta1=0.8)
    assert (run["optimizer"], run["beta1"], run["beta2"], run["momentum"]) == ("adam", 0.8, 0.999, None)
    rid = run["id"]
    client.post(f"/api/runs/{rid}/pause")
    r = client.patch(f"/api/runs/{rid}", json={"momentum": 0.5})
    assert r.status_code == 409 and "beta1" in r.json()["detail"]
    assert client.patch(f"/api/runs/{rid}", json={"beta1": 0.7, "beta2": 0.99}).status_code == 200
    client.post(f"/api/runs/{rid}/stop")
    meta = read_checkpoint(client.app.state.settings.data_dir / rid / "last.npz").meta["trainer"]
    assert meta["hyperparameters"] == {"lr": 0.001, "beta1": 0.7, "beta2": 0.99, "weight_decay": 0.0}
    preset = start(client, preset="mlp", epochs=1)
    assert (preset["beta1"], preset["beta2"], preset["momentum"]) == (0.9, 0.999, None)
    client.post(f"/api/runs/{preset['id']}/stop")


def test_a_killed_worker_resumes_mid_epoch_to_the_weights_of_a_run_never_killed(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """500 training images at batch 2: 250 steps an epoch; checkpoints every 5 ms (several an
    epoch, however fast the machine trains: at 0.05 s a fast one checkpointed only at epoch ends)."""
    settings = make_settings(tmp_path / "runs", tiny_dataset, checkpoint_interval_s=0.005)
    epochs = 12
    body = {"spec": TINY_MLP, "epochs": epochs, "batch_size": 2, "optimizer": "adam", "lr": 0.002, "seed": 7}
    with TestClient(create_app(settings)) as client:
        straight = start(client, **body)["id"]
        wait_status(client, straight, "finished", 120)
        killed = start(client, **body)["id"]

        def mid_epoch_checkpoint() -> dict | None:
            r = client.get(f"/api/runs/{killed}").json()
            step = r["checkpoint_step"]
            return r if step and step % 250 and r["step"] > step and r["status"] == "running" else None

        seen = wait_for(mid_epoch_checkpoint, 60, 0.01, "a mid-epoch checkpoint")
        pid = client.app.state.manager.workers[killed].process.pid
        os.kill(pid, signal.SIGKILL)  # what the OOM killer does
        ended = wait_status(client, killed, {"interrupted", "failed"}, 30)
        assert ended["status"] == "interrupted" and "killed by signal 9" in ended["message"]
        assert ended["resumable"] is True
        kept = read_checkpoint(settings.data_dir / killed / "last.npz").meta["trainer"]["step"]
        assert kept >= seen["checkpoint_step"]
        assert client.post(f"/api/runs/{killed}/resume").json()["status"] in ("running", "queued")
        wait_status(client, killed, "finished", 120)
        history = client.get(f"/api/runs/{killed}/metrics").json()["batches"]["step"]
        assert history == list(range(1, epochs * 250 + 1))
    a = read_checkpoint(settings.data_dir / straight / "last.npz").model.state_dict()
    b = read_checkpoint(settings.data_dir / killed / "last.npz").model.state_dict()
    for name, p in a.items():
        np.testing.assert_allclose(b[name], p, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("payload", [{"lr": 0.002}, {"beta1": 0.5}])
def test_a_refused_patch_changes_nothing(client: TestClient, payload: dict) -> None:
    run = start(client, spec=TINY_MLP, epochs=500, batch_size=20, optimizer="sgd", lr=0.05)
    rid = run["id"]
    client.post(f"/api/runs/{rid}/pause")
    before = client.get(f"/api/runs/{rid}").json()
    r = client.patch(f"/api/runs/{rid}", json={**payload, "momentum": 0.5})
    assert r.status_code == 409
    after = client.get(f"/api/runs/{rid}").json()
    assert after["config"] == before["config"] and after["lr"] == 0.05
    client.post(f"/api/runs/{rid}/stop")
