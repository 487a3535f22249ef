"""Runs across a restart (service/recovery.py): the runs that trained continue by themselves from
their checkpoint, queued runs keep their place, paused ones wait for a person; no message claims
a checkpoint that does not exist; a run trained on other data than the server now serves is not
continued, and a resume by hand is a 409 naming the setting."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_settings, wait_for, wait_status

from glassnet.service.app import create_app
from glassnet.service.recovery import checkpoint_meta, data_mismatch
from glassnet.service.store import RunStore
from glassnet.training.config import TrainConfig

LONG = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 10}  # minutes of work: never ends here


def start(client: TestClient, **body: object) -> dict:
    r = client.post("/api/runs", json={**LONG, **body})
    assert r.status_code == 201, r.text
    return r.json()


def trains(client: TestClient, rid: str) -> None:
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 5, what=f"run {rid} to train")


def test_a_restart_continues_training_runs_keeps_the_queue_and_interrupts_paused_ones(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_active_runs=2)
    with TestClient(create_app(settings)) as client:
        a = start(client, name="a")
        p = start(client, name="p")
        trains(client, a["id"])
        trains(client, p["id"])
        assert client.post(f"/api/runs/{p['id']}/pause").json()["status"] == "paused"
        b, c = start(client, name="b"), start(client, name="c")
        assert [b["queue_position"], c["queue_position"]] == [1, 2]
    # The shutdown (as SIGTERM) checkpointed a and p; b and c never started: no folder at all.
    a_step = checkpoint_meta(tmp_path / "runs" / a["id"] / "last.npz")["step"]
    p_step = checkpoint_meta(tmp_path / "runs" / p["id"] / "last.npz")["step"]
    assert not (tmp_path / "runs" / c["id"]).exists()
    with TestClient(create_app(settings)) as client:
        runs = {r["name"]: r for r in client.get("/api/runs").json()}
        # a continues by itself from its checkpoint; p's slot is free, so b (first in line) starts.
        assert runs["a"]["status"] == "running"
        assert runs["p"]["status"] == "interrupted" and runs["p"]["resumable"]
        assert "resume continues from the last checkpoint" in runs["p"]["message"]
        assert client.get(f"/api/runs/{p['id']}").json()["checkpoint_step"] == p_step
        assert runs["b"]["status"] == "running"
        assert runs["c"]["status"] == "queued" and runs["c"]["queue_position"] == 1
        assert "checkpoint" not in (runs["c"]["message"] or "")  # c has none
        marks = client.get(f"/api/runs/{a['id']}/metrics").json()["marks"]
        assert {"step": a_step, "kind": "resume", "value": None} in marks
        wait_for(lambda: client.get(f"/api/runs/{a['id']}").json()["step"] > a_step + 5, what="a to go on")
        history = client.get(f"/api/runs/{a['id']}/metrics").json()["batches"]["step"]
        assert history[: a_step + 5] == list(range(1, a_step + 6))  # continued: no gap, no repeat
        # c starts when a slot frees, as before the restart.
        assert client.post(f"/api/runs/{a['id']}/stop").json()["status"] == "stopped"
        wait_status(client, c["id"], "running")
        for run in (b, c):
            client.post(f"/api/runs/{run['id']}/stop")


def test_without_auto_resume_nothing_starts_by_itself(tmp_path: Path, tiny_dataset: Path) -> None:
    """``--no-auto-resume``: the run that trained and the queued one are interrupted, each saying
    why and from where a resume continues; a resume by hand continues from the checkpoint."""
    settings = make_settings(tmp_path / "runs", tiny_dataset, max_active_runs=1)
    with TestClient(create_app(settings)) as client:
        a = start(client, name="a")
        trains(client, a["id"])
        b = start(client, name="b")
        assert b["status"] == "queued"
    a_step = checkpoint_meta(tmp_path / "runs" / a["id"] / "last.npz")["step"]
    with TestClient(create_app(settings.model_copy(update={"auto_resume": False}))) as client:
        runs = {r["name"]: r for r in client.get("/api/runs").json()}
        assert {runs[n]["status"] for n in "ab"} == {"interrupted"}
        assert runs["a"]["message"] == (
            f"not continued after the restart (the server runs with --no-auto-resume); resume continues "
            f"from its checkpoint at step {a_step}"
        )
        assert runs["b"]["message"].endswith("resume continues from its start")
        assert client.post(f"/api/runs/{a['id']}/resume").json()["status"] in ("queued", "running")
        wait_for(lambda: client.get(f"/api/runs/{a['id']}").json()["step"] > a_step, what="a to go on")
        history = client.get(f"/api/runs/{a['id']}/metrics").json()["batches"]["step"]
        assert history[: a_step + 1] == list(range(1, a_step + 2))
        assert client.get(f"/api/runs/{b['id']}").json()["status"] == "interrupted"
        client.post(f"/api/runs/{a['id']}/stop")


def test_after_a_kill_queued_runs_stay_queued_and_no_message_claims_a_checkpoint(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """The rows a SIGKILL leaves: a run 'running' that died before its first checkpoint, two
    'queued' ones that never started (no folder), and a 'paused' one. They start again in their
    order; the paused one waits for a person."""
    data_dir = tmp_path / "runs"
    store = RunStore(data_dir / "runs.sqlite3")
    config = TrainConfig(epochs=1000, batch_size=10).as_dict()
    for rid, status in (("aa", "running"), ("bb", "queued"), ("cc", "queued"), ("pp", "paused")):
        store.create({"id": rid, "name": rid, "spec": TINY_MLP, "config": config, "validation": 100})
        store.update(rid, status=status)
    store.close()
    with TestClient(create_app(make_settings(data_dir, tiny_dataset))) as client:
        runs = {r["id"]: r for r in client.get("/api/runs").json()}
        assert runs["aa"]["status"] == "running"
        assert [runs["bb"]["queue_position"], runs["cc"]["queue_position"]] == [1, 2]
        assert runs["pp"]["status"] == "interrupted"
        assert runs["pp"]["message"].endswith("was paused; resume continues from its start")
        for run in runs.values():
            assert "checkpoint" not in (run["message"] or ""), run
        trains(client, "aa")
        for rid in ("aa", "bb", "cc", "pp"):
            client.post(f"/api/runs/{rid}/stop")


def test_a_run_killed_again_where_a_restart_continued_it_waits_for_a_person(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """Perhaps it brings the server down: continued by itself once, not at every start."""
    data_dir = tmp_path / "runs"
    store = RunStore(data_dir / "runs.sqlite3")
    config = TrainConfig(epochs=1000, batch_size=10).as_dict()
    for rid in ("again", "first"):
        store.create({"id": rid, "name": rid, "spec": TINY_MLP, "config": config, "validation": 100})
        store.update(rid, status="running")
    store.update("again", restarted_from=-1)  # the last start-up continued it from its start
    store.close()
    with TestClient(create_app(make_settings(data_dir, tiny_dataset))) as client:
        runs = {r["id"]: r for r in client.get("/api/runs").json()}
        assert runs["first"]["status"] == "running"
        assert runs["again"]["status"] == "interrupted" and runs["again"]["resumable"]
        assert "stopped again before this run trained past its start" in runs["again"]["message"]
        client.post("/api/runs/first/stop")
    store = RunStore(data_dir / "runs.sqlite3")
    assert store.restarted_from("first") == -1 and store.restarted_from("again") == -1
    store.close()


def test_other_data_after_a_restart_is_not_trained_on(tmp_path: Path, tiny_dataset: Path) -> None:
    plain = make_settings(tmp_path / "runs", tiny_dataset)
    with TestClient(create_app(plain)) as client:
        run = start(client)
        trains(client, run["id"])
    rid = run["id"]
    transposed = make_settings(tmp_path / "runs", tiny_dataset, transpose=True)
    with TestClient(create_app(transposed)) as client:
        stuck = client.get(f"/api/runs/{rid}").json()
        assert stuck["status"] == "interrupted"
        assert "its images were not transposed, the server now transposes them" in stuck["message"]
        refused = client.post(f"/api/runs/{rid}/resume")
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith(f"cannot resume run {rid}: its images were not transposed")
        assert "GLASSNET_TRANSPOSE" in refused.json()["detail"]
        assert client.get(f"/api/runs/{rid}").json()["status"] == "interrupted"  # untouched
    with TestClient(create_app(plain)) as client:  # the run's own settings again: it resumes
        assert client.post(f"/api/runs/{rid}/resume").json()["status"] in ("queued", "running")
        wait_status(client, rid, "running")
        client.post(f"/api/runs/{rid}/stop")


def test_data_mismatch_names_each_setting_and_skips_what_an_old_checkpoint_lacks() -> None:
    served = {"dataset": "mnist", "classes": ["0", "1"], "transpose": False}
    assert data_mismatch({"dataset": "mnist", "classes": ["0", "1"], "transpose": False}, served) is None
    assert data_mismatch({}, served) is None  # a checkpoint from before these were recorded
    text = data_mismatch({"dataset": "emnist", "classes": ["a", "b"], "transpose": True}, served)
    assert "dataset 'emnist', the server now serves 'mnist' (--dataset" in text
    assert "classes a,b, the server now has 0,1 (--classes" in text
    assert "its images were transposed, the server now does not (--transpose" in text


def test_a_newer_checkpoint_from_an_orphan_is_the_step_named_after_a_restart(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """QA4 DUR-5: a process orphaned by a server kill writes checkpoints the row never hears of.
    Start-up read the right step from ``last.npz`` for its own message, but the row kept the old
    one, so a hand resume's chart mark (and a later death's message) named a stale step."""
    settings = make_settings(tmp_path / "runs", tiny_dataset)
    with TestClient(create_app(settings)) as client:
        rid = start(client)["id"]
        trains(client, rid)
        assert client.post(f"/api/runs/{rid}/pause").status_code == 200
    step = int(checkpoint_meta(settings.data_dir / rid / "last.npz")["step"])
    store = RunStore(settings.data_dir / "runs.sqlite3")
    store.update(rid, status="paused", checkpoint_step=step - 3)  # the row behind the file
    store.close()
    with TestClient(create_app(settings)) as client:
        run = client.get(f"/api/runs/{rid}").json()
        assert run["status"] == "interrupted" and f"checkpoint at step {step}" in run["message"]
        assert run["checkpoint_step"] == step
        assert client.post(f"/api/runs/{rid}/resume").status_code == 200
        marks = client.get(f"/api/runs/{rid}/metrics").json()["marks"]
        assert {"step": step, "kind": "resume", "value": None} in marks, marks
        client.post(f"/api/runs/{rid}/stop")
