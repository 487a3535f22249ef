"""Where a run trains: ``device`` per run, ``GLASSNET_DEVICE`` as the default, and a clear
answer (never a failed run or a 500) when the GPU cannot be used here."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_settings, wait_status

from glassnet.nn.backend import device_problem
from glassnet.service.app import create_app

needs_no_gpu = pytest.mark.skipif(
    device_problem("cuda") is None, reason="this machine has a GPU: bench/gpu_check.py covers it"
)


def _create(client: TestClient, **body: object) -> dict:
    r = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1, "batch_size": 50, **body})
    assert r.status_code == 201, r.text
    return r.json()


@needs_no_gpu
def test_asking_for_cuda_without_a_gpu_is_a_422_naming_what_is_missing(client: TestClient) -> None:
    r = client.post("/api/runs", json={"spec": TINY_MLP, "device": "cuda"})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "device 'cuda' is not available here" in detail and "CuPy" in detail
    assert client.get("/api/runs").json() == []  # nothing was created
    assert client.post("/api/runs", json={"spec": TINY_MLP, "device": "tpu"}).status_code == 422


def test_cpu_is_the_default_and_is_recorded(client: TestClient) -> None:
    run = _create(client)
    assert run["config"]["device"] == "cpu"
    wait_status(client, run["id"], "finished")
    assert _create(client, device="cpu")["config"]["device"] == "cpu"


@needs_no_gpu
def test_glassnet_device_cuda_without_a_gpu_trains_on_the_cpu(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(tmp_path / "runs", tiny_dataset, device="cuda")
    with TestClient(create_app(settings)) as client:
        run = _create(client)
        assert run["config"]["device"] == "cpu"
        assert wait_status(client, run["id"], "finished")["status"] == "finished"
