"""Runs through the HTTP API with real training processes: the lifecycle (start, pause, step,
change the learning rate, resume, stop, finish), the queue, divergence, and the checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_CNN, TINY_MLP, make_settings, wait_for, wait_status

from glassnet.nn.checkpoint import read_checkpoint
from glassnet.service.app import create_app

LINEAR_MSE = {  # no activation: a high learning rate makes it blow up within two steps
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "flatten"},
        {"type": "dense", "units": 32},
        {"type": "dense", "units": 32},
        {"type": "dense", "units": 10},
    ],
    "loss": "mse",
}


def start(client: TestClient, **body: object) -> dict:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_run_trains_to_the_end_with_history_and_checkpoints(client: TestClient, settings) -> None:
    run = start(client, spec=TINY_CNN, epochs=2, batch_size=50, name="tiny")
    assert run["status"] in ("running", "queued") and run["name"] == "tiny"
    assert run["total_steps"] == 2 * 10  # (600 - 100) / 50 per epoch
    done = wait_status(client, run["id"], "finished")
    assert done["step"] == 20 and done["epoch"] == 2 and 0 <= done["val_accuracy"] <= 1
    history = client.get(f"/api/runs/{run['id']}/metrics").json()
    assert history["batches"]["step"] == list(range(1, 21))  # every step's loss, for the chart
    assert all(isinstance(v, float) for v in history["batches"]["loss"])
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    assert len(history["epochs"][0]["confusion"]) == 10
    assert done["checkpoints"] == ["epoch-001.npz", "epoch-002.npz", "last.npz", "live.npz"]
    ckpt = read_checkpoint(settings.data_dir / run["id"] / "last.npz")
    assert ckpt.meta["trainer"]["step"] == 20 and ckpt.optimizer_state
    listed = client.get("/api/runs").json()
    assert [r["id"] for r in listed] == [run["id"]]
    # A finished run cannot be paused, stepped or resumed.
    for action in ("pause", "step", "resume"):
        r = client.post(f"/api/runs/{run['id']}/{action}")
        assert r.status_code == 409 and "finished" in r.json()["detail"]
    r = client.patch(f"/api/runs/{run['id']}", json={"lr": 0.1})
    assert r.status_code == 409


def test_pause_step_patch_resume_stop(client: TestClient, settings) -> None:
    run = start(client, spec=TINY_MLP, epochs=200, batch_size=20, optimizer="sgd", lr=0.05)
    rid = run["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 3, what="some steps")
    r = client.post(f"/api/runs/{rid}/step")
    assert r.status_code == 409 and "pause it first" in r.json()["detail"]
    paused = client.post(f"/api/runs/{rid}/pause").json()
    assert paused["status"] == "paused" and paused["checkpoint"] == "last.npz"
    ckpt = read_checkpoint(settings.data_dir / rid / "last.npz")
    assert ckpt.meta["trainer"]["step"] == paused["step"]
    # Exactly one mini-batch per step.
    s0 = paused["step"]
    assert client.post(f"/api/runs/{rid}/step").json()["step"] == s0 + 1
    assert client.post(f"/api/runs/{rid}/step").json()["step"] == s0 + 2
    assert client.get(f"/api/runs/{rid}").json()["status"] == "paused"
    history = client.get(f"/api/runs/{rid}/metrics").json()["batches"]
    assert history["step"][-1] == s0 + 2
    # Change the learning rate while paused; the next steps use it.
    refused = client.patch(f"/api/runs/{rid}", json={"lr": 0.01, "momentum": 0.5})
    assert refused.status_code == 409 and "sgd optimizer has no 'momentum'" in refused.json()["detail"]
    assert client.get(f"/api/runs/{rid}").json()["lr"] == 0.05  # refused: nothing changed
    patched = client.patch(f"/api/runs/{rid}", json={"lr": 0.01})
    assert patched.status_code == 200 and patched.json()["lr"] == 0.01
    client.post(f"/api/runs/{rid}/step")
    lrs = client.get(f"/api/runs/{rid}/metrics").json()["batches"]["lr"]
    assert lrs[-1] == 0.01 and lrs[-2] == 0.05
    assert client.post(f"/api/runs/{rid}/pause").json()["status"] == "paused"  # idempotent
    resumed = client.post(f"/api/runs/{rid}/resume").json()
    assert resumed["status"] == "running"
    again = client.post(f"/api/runs/{rid}/resume")  # a repeated click: 200, nothing changes
    assert again.status_code == 200 and again.json()["status"] == "running"
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > s0 + 5, what="training again")
    client.patch(f"/api/runs/{rid}", json={"lr": 0.02})  # while it runs
    wait_for(
        lambda: client.get(f"/api/runs/{rid}/metrics").json()["batches"]["lr"][-1] == 0.02, what="new lr"
    )
    stopped = client.post(f"/api/runs/{rid}/stop").json()
    assert stopped["status"] == "stopped"
    ckpt = read_checkpoint(settings.data_dir / rid / "last.npz")
    assert ckpt.meta["trainer"]["step"] == stopped["step"]
    assert ckpt.meta["trainer"]["hyperparameters"] == {"lr": 0.02, "weight_decay": 0.0}
    assert client.post(f"/api/runs/{rid}/stop").status_code == 409
    step = client.post(f"/api/runs/{rid}/step")  # a stopped run is not told to pause first
    assert step.status_code == 409 and step.json()["detail"].endswith("it is stopped"), step.text
    assert client.get("/healthz").json()["active_runs"] == 0


def test_second_run_is_queued_until_the_first_ends(client: TestClient) -> None:
    first = start(client, spec=TINY_MLP, epochs=500, batch_size=20)
    second = start(client, spec=TINY_MLP, epochs=1, batch_size=50)
    assert second["status"] == "queued" and second["queue_position"] == 1
    third = start(client, preset="mlp", epochs=1)
    assert third["queue_position"] == 2
    assert client.post(f"/api/runs/{second['id']}/pause").status_code == 409
    stopped = client.post(f"/api/runs/{third['id']}/stop").json()
    assert stopped["status"] == "stopped" and stopped["step"] == 0
    assert client.get(f"/api/runs/{first['id']}").json()["status"] == "running"
    client.post(f"/api/runs/{first['id']}/stop")
    wait_status(client, second["id"], "finished")
    assert client.get(f"/api/runs/{third['id']}").json()["status"] == "stopped"


def test_queue_limit_is_409(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_queued_runs=1)
    with TestClient(create_app(settings)) as client:
        first = start(client, spec=TINY_MLP, epochs=500, batch_size=20)
        start(client, spec=TINY_MLP, epochs=1)
        r = client.post("/api/runs", json={"spec": TINY_MLP})
        assert r.status_code == 409 and "waiting" in r.json()["detail"]
        client.post(f"/api/runs/{first['id']}/stop")


def test_divergence_keeps_the_last_good_checkpoint(client: TestClient, settings) -> None:
    run = start(client, spec=LINEAR_MSE, epochs=100, batch_size=50, optimizer="sgd", lr=0.001)
    rid = run["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["epoch"] >= 1, what="a first epoch")
    assert client.post(f"/api/runs/{rid}/pause").status_code == 200
    # Step (still at the good rate) to the start of an epoch: its checkpoint is the last good one,
    # and a whole epoch lies before the next, whenever the pause landed on a loaded machine.
    per_epoch = client.get(f"/api/runs/{rid}/metrics").json()["epochs"][0]["step"]
    while client.get(f"/api/runs/{rid}").json()["step"] % per_epoch:
        assert client.post(f"/api/runs/{rid}/step").status_code == 200
    good = read_checkpoint(settings.data_dir / rid / "last.npz")
    assert good.meta["trainer"]["step"] == client.get(f"/api/runs/{rid}").json()["step"]
    client.patch(f"/api/runs/{rid}", json={"lr": 10.0})
    client.post(f"/api/runs/{rid}/resume")
    ended = wait_status(client, rid, {"diverged", "failed"})
    assert ended["status"] == "diverged" and "lower the learning rate" in ended["message"]
    after = read_checkpoint(settings.data_dir / rid / "last.npz")
    assert after.meta["trainer"]["step"] == good.meta["trainer"]["step"]
    for name, p in after.model.state_dict().items():
        assert (p == good.model.state_dict()[name]).all()
    assert ended["resumable"] is True
    # Predictions of the diverged run come from its last good checkpoint (never live.npz).
    registry = client.app.state.registry
    assert client.app.state.manager.checkpoint_for(rid) == settings.data_dir / rid / "last.npz"
    answer = client.post(f"/api/predict?model={rid}", json={"pixels": [[0.0] * 28] * 10 + [[1.0] * 28] * 18})
    assert answer.status_code == 200 and answer.json()["model"] == rid
    assert registry.path_of(rid).name == "last.npz"
    # A lower learning rate, then resume: it continues from the good checkpoint.
    assert client.patch(f"/api/runs/{rid}", json={"lr": 0.001}).json()["lr"] == 0.001
    resumed = client.post(f"/api/runs/{rid}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] in ("running", "queued")
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > good.meta["trainer"]["step"] + 3)
    client.post(f"/api/runs/{rid}/stop")


def test_bad_requests_do_not_change_a_run(client: TestClient) -> None:
    run = start(client, spec=TINY_MLP, epochs=300, batch_size=20)
    rid = run["id"]
    client.post(f"/api/runs/{rid}/pause")
    before = client.get(f"/api/runs/{rid}").json()
    for body in ({"lr": -1}, {"lr": "x"}, {"momentum": 2}, {}, {"weight_decay": None, "extra": 1}):
        assert client.patch(f"/api/runs/{rid}", json=body).status_code == 422
    r = client.patch(f"/api/runs/{rid}", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 422
    after = client.get(f"/api/runs/{rid}").json()
    assert {k: after[k] for k in ("lr", "momentum", "weight_decay", "step", "status", "config")} == {
        k: before[k] for k in ("lr", "momentum", "weight_decay", "step", "status", "config")
    }
    client.post(f"/api/runs/{rid}/stop")


def test_names_and_rates_that_cannot_work_are_refused_by_name(client: TestClient) -> None:
    """A run's name with a control or invisible character (NUL, a newline, a right-to-left
    override, a zero-width space) and a learning rate too small to move a float32 weight (a
    subnormal one included) are 422s that say which; the run keeps its name and rate."""
    run = start(client, spec=TINY_MLP, epochs=300, batch_size=20, name="kept")
    rid = run["id"]
    client.post(f"/api/runs/{rid}/pause")
    for name, code in (
        ("a\u0000b", "U+0000"),
        ("x\ny", "U+000A"),
        ("\u202emlp", "U+202E"),
        ("a\u200bb", "U+200B"),
    ):
        for r in (
            client.post("/api/runs", json={"spec": TINY_MLP, "name": name}),
            client.patch(f"/api/runs/{rid}", json={"name": name}),
        ):
            assert r.status_code == 422 and code in r.text and "name" in r.text, r.text
    for name in ("   ", "\u200d", " \u200c "):  # blank: on create too, as on rename
        for r in (
            client.post("/api/runs", json={"spec": TINY_MLP, "name": name}),
            client.patch(f"/api/runs/{rid}", json={"name": name}),
        ):
            assert r.status_code == 422 and "blank" in r.text, r.text
    for lr in (1e-320, 1e-9):
        for r in (
            client.post("/api/runs", json={"spec": TINY_MLP, "lr": lr}),
            client.patch(f"/api/runs/{rid}", json={"lr": lr}),
        ):
            assert r.status_code == 422 and "lr" in r.text, r.text
    after = client.get(f"/api/runs/{rid}").json()
    assert (after["name"], after["lr"]) == ("kept", run["lr"])
    # What stays allowed: letters of any script, emoji joined by a zero-width joiner, the smallest rate.
    family = "👩\u200d👩\u200d👧"
    assert client.patch(f"/api/runs/{rid}", json={"name": f"学习 {family}", "lr": 1e-8}).status_code == 200
    after = client.get(f"/api/runs/{rid}").json()
    assert (after["name"], after["lr"]) == (f"学习 {family}", 1e-8)
    assert len(client.get("/api/runs").json()) == 1  # no refused create made a run
    padded = start(client, spec=TINY_MLP, epochs=1, name="  padded  ")  # trimmed, as a rename is
    assert padded["name"] == "padded"
    # 1-100 characters as sent, on create and rename alike (spaces count before the trim).
    for name, words in ((" " * 3 + "a" * 100, "at most 100"), ("", "at least 1")):
        for r in (
            client.post("/api/runs", json={"spec": TINY_MLP, "name": name}),
            client.patch(f"/api/runs/{rid}", json={"name": name}),
        ):
            assert r.status_code == 422 and words in r.text, r.text
    client.post(f"/api/runs/{padded['id']}/stop")
    client.post(f"/api/runs/{rid}/stop")


def test_a_spec_trains_with_its_own_settings_and_refuses_keys_nothing_reads(client: TestClient) -> None:
    """A preset copied and edited is a spec: its "train" settings are the run's, the request's own
    override them, its name names the run; "lr" beside "layers" or "learning_rate" inside
    "train" is a 422 naming the key (as ``glassnet train --spec`` says), and makes no run."""
    spec = {
        **TINY_MLP,
        "name": "my net",
        "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 20, "epochs": 300, "weight_decay": 0.01},
    }
    run = start(client, spec=spec, epochs=200)
    assert run["name"].startswith("my net")
    config = client.get(f"/api/runs/{run['id']}").json()["config"]
    assert (config["optimizer"], config["lr"], config["batch_size"], config["weight_decay"]) == (
        "sgd",
        0.05,
        20,
        0.01,
    )
    assert config["epochs"] == 200  # the request's own setting wins
    client.post(f"/api/runs/{run['id']}/stop")
    for bad, words in (
        ({**spec, "lr": 0.5}, ["'lr'", 'inside "train"']),
        ({**spec, "train": {"learning_rate": 0.5}}, ["'learning_rate'", "the settings are"]),
        ({**spec, "train": {"lr": "fast"}}, ["learning rate", "'fast'"]),
        ({**spec, "train": ["sgd"]}, ['"train" must be an object']),
    ):
        r = client.post("/api/runs", json={"spec": bad})
        assert r.status_code == 422 and all(w in r.json()["detail"] for w in words), r.text
        assert r.json()["detail"].startswith("spec"), r.text
    assert [r["id"] for r in client.get("/api/runs").json()] == [run["id"]]


def test_two_runs_at_once_when_the_setting_allows(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_active_runs=2)
    with TestClient(create_app(settings)) as client:
        a = start(client, spec=TINY_MLP, epochs=300, batch_size=20)
        b = start(client, spec=TINY_MLP, epochs=300, batch_size=20)
        assert a["status"] == "running" and b["status"] == "running"
        assert client.get("/healthz").json()["active_runs"] == 2
        for run in (a, b):
            wait_for(lambda r=run: client.get(f"/api/runs/{r['id']}").json()["step"] > 0, what="both train")
            assert client.post(f"/api/runs/{run['id']}/stop").json()["status"] == "stopped"


def test_resume_after_a_restart_is_exact(tmp_path: Path, tiny_dataset: Path) -> None:
    """Interrupted mid-epoch by a shutdown, resumed by a new process from its checkpoint: the
    final weights equal those of the same run trained without a break."""
    body = {"spec": TINY_MLP, "epochs": 40, "batch_size": 20, "optimizer": "adam", "lr": 0.01}
    straight = make_settings(tmp_path / "straight", tiny_dataset)
    with TestClient(create_app(straight)) as client:
        reference = start(client, **body)
        wait_status(client, reference["id"], "finished")
    broken = make_settings(tmp_path / "broken", tiny_dataset)
    with TestClient(create_app(broken)) as client:
        run = start(client, **body)
        wait_for(lambda: client.get(f"/api/runs/{run['id']}").json()["step"] >= 30, what="step 30")
        paused = client.post(f"/api/runs/{run['id']}/pause").json()
        assert paused["status"] == "paused"
        while paused["step"] % 25 == 0:  # mid-epoch (25 steps per epoch)
            paused = client.post(f"/api/runs/{run['id']}/step").json()
    # The shutdown wrote a final checkpoint and left the run interrupted.
    with TestClient(create_app(broken)) as client:
        interrupted = client.get(f"/api/runs/{run['id']}").json()
        assert interrupted["status"] == "interrupted" and interrupted["step"] % 25 != 0
        assert client.post(f"/api/runs/{run['id']}/resume").json()["status"] == "running"
        done = wait_status(client, run["id"], "finished")
        assert done["step"] == 1000
        history = client.get(f"/api/runs/{run['id']}/metrics").json()["batches"]["step"]
        assert history == list(range(1, 1001))
    a = read_checkpoint(tmp_path / "straight" / reference["id"] / "last.npz").model.state_dict()
    b = read_checkpoint(tmp_path / "broken" / run["id"] / "last.npz").model.state_dict()
    for name in a:
        assert (a[name] == b[name]).all(), name


def test_run_checkpoints_list_their_epochs_and_accuracy(client: TestClient) -> None:
    """QA #9: /api/models shows a run checkpoint's epochs and, where the weights are the ones the
    epoch was judged with (epoch-NNN, last at the end), that epoch's validation accuracy."""
    run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1, "batch_size": 20}).json()
    done = wait_status(client, run["id"], "finished")
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    for name in ("epoch-001", "last"):
        model = models[f"{run['id']}:{name}"]
        assert model["epochs"] == 1, model
        assert model["val_accuracy"] == pytest.approx(done["val_accuracy"]), (model, done)
