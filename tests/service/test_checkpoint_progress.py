"""QA4 DUR-7: a checkpoint whose step or epoch lies outside its run (edited by hand, or copied
from another run) was resumed as if true: step 10^9 "finished" at step 1,000,001,174 of 1,719,
epoch 99 "finished" at step 474. Loading it now ends the run ``failed`` naming the progress
it found and the run's bounds (the archive itself is valid, so nothing else says so)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_for, wait_status


def edit_meta(path: Path, change) -> None:
    """Rewrite a checkpoint's JSON meta in place (a valid archive, a changed meaning)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    change(meta)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.update(step=10**9) or m["trainer"].update(step=10**9),
        lambda m: m.update(epoch=1001) or m["trainer"].update(epoch=1001),  # of 1000
        lambda m: m["trainer"].update(batch_in_epoch=-5),
    ],
    ids=["step 10^9", "epoch 1001", "batch -5"],
)
def test_a_checkpoint_outside_its_run_fails_the_resume(client: TestClient, settings, change) -> None:
    body = {"spec": TINY_MLP, "epochs": 1000, "batch_size": 10}  # never done before the stop
    rid = client.post("/api/runs", json=body).json()["id"]
    wait_for(lambda: client.get(f"/api/runs/{rid}").json()["step"] > 5, 60, what="training")
    client.post(f"/api/runs/{rid}/stop")
    stopped = wait_status(client, rid, "stopped")
    edit_meta(settings.data_dir / rid / "last.npz", change)
    assert client.post(f"/api/runs/{rid}/resume").status_code == 200
    ended = wait_status(client, rid, {"failed", "finished"})
    assert ended["status"] == "failed", ended
    assert "lies outside this run" in ended["message"], ended["message"]
    assert ended["step"] == stopped["step"]  # nothing trained, no step from the edited file shown
