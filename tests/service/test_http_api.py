"""HTTP surface without training: health, readiness, docs, protocol schema, static files, the
architecture check, and every kind of bad input -> a 4xx naming the problem, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, make_settings

from glassnet.presets import load_preset
from glassnet.service.app import create_app
from glassnet.service.protocol import PROTOCOL_VERSION, EventType


def no_server_error(response) -> None:
    assert response.status_code < 500, response.text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "viewers": 0, "active_runs": 0}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["default_model"] == "cnn" and body["image_shape"] == [1, 28, 28]


def test_not_ready_without_dataset(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "runs", tmp_path / "nowhere")
    with TestClient(create_app(settings)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert "dataset" in r.json()["problems"][0]
        assert c.get("/healthz").status_code == 200
        r = c.post("/api/runs", json={"preset": "mlp"})
        assert r.status_code == 503 and "cannot train now" in r.json()["detail"]


def test_docs_openapi_and_protocol(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/metrics",
        "/api/runs/{run_id}/pause",  # pause, resume, step, stop: one handler
        "/api/runs/{run_id}/resume",
        "/api/runs/{run_id}/step",
        "/api/runs/{run_id}/stop",
        "/api/runs/{run_id}/learned",
        "/api/runs/{run_id}/epochs/{epoch}/digits",
        "/api/presets",
        "/api/layers",
        "/api/probes",
        "/api/architecture",
        "/api/predict",
        "/api/models",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    schema = client.get("/api/protocol").json()
    assert schema["version"] == PROTOCOL_VERSION
    assert schema["event_types"] == [e.value for e in EventType]
    assert set(schema["events"]) == {e.value for e in EventType}
    assert set(schema["client"]) == {"subscribe", "unsubscribe", "predict", "panels"}
    assert schema["envelope"]["required"] == ["type", "seq", "data"]


def test_static_frontend_does_not_shadow_api(tmp_path: Path, tiny_dataset: Path) -> None:
    front = tmp_path / "front"
    front.mkdir()
    (front / "index.html").write_text("<!doctype html><title>dash</title>")
    (front / "app.js").write_text("export {}")
    settings = make_settings(tmp_path / "runs", tiny_dataset, frontend_dir=front)
    with TestClient(create_app(settings)) as c:
        assert "dash" in c.get("/").text
        assert c.get("/app.js").status_code == 200
        assert c.get("/healthz").json()["status"] == "ok"
        assert c.get("/readyz").status_code == 200
        assert c.get("/api/runs").json() == []
        assert c.get("/docs").status_code == 200
        missing = c.get("/nothing-here.js")
        assert missing.status_code == 404 and "detail" in missing.json()


def test_placeholder_page_without_frontend(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "/docs" in r.text


# -- the architecture check -------------------------------------------------------------------------
def test_architecture_summary(client: TestClient) -> None:
    r = client.post("/api/architecture", json=load_preset("cnn"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["output_shape"] == [10]
    assert body["layers"][0]["output_shape"] == [16, 24, 24]
    assert body["layers"][0]["params"] == 16 * 25 + 16
    assert body["layers"][0]["formula"]
    assert body["total_params"] == sum(layer["params"] for layer in body["layers"])


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"layers": [{"type": "flatten"}, {"type": "wobble"}]}, "layer 1"),
        ({"layers": [{"type": "conv2d", "filters": 4, "kernel": 30}, {"type": "flatten"}]}, "layer 0"),
        ({"layers": [{"type": "flatten"}, {"type": "dense", "units": 7}]}, "10 class scores"),
        ({"layers": [{"type": "flatten"}, {"type": "dense", "units": "10"}]}, "layer 1"),
        (
            {"input_shape": [1, 32, 32], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]},
            "data",
        ),
        ({"layers": []}, "layers"),
        ({"layers": [{"type": "flatten"}, {"type": "dense", "units": 10}], "loss": "hinge"}, "loss"),
    ],
)
def test_architecture_refuses_bad_specs(client: TestClient, spec: dict, needle: str) -> None:
    r = client.post("/api/architecture", json=spec)
    assert r.status_code == 422, r.text
    assert needle in r.json()["detail"], r.json()


# -- bad input everywhere -------------------------------------------------------------------------------
BAD_RUN_BODIES = [
    ({"preset": "mlp", "lr": -0.1}, "lr"),
    ({"preset": "mlp", "lr": 0}, "lr"),
    ({"preset": "mlp", "lr": "0.1"}, "lr"),
    ({"preset": "mlp", "momentum": 1.5}, "momentum"),
    ({"preset": "mlp", "batch_size": 0}, "batch_size"),
    ({"preset": "mlp", "batch_size": 2.5}, "batch_size"),
    ({"preset": "mlp", "epochs": True}, "epochs"),
    ({"preset": "mlp", "optimizer": "rmsprop"}, "optimizer"),
    ({"preset": "resnet"}, "preset"),
    ({"preset": "mlp", "colour": "blue"}, "colour"),
    ({"preset": "mlp", "spec": TINY_MLP}, "either"),
    ({"spec": {"layers": [{"type": "flatten"}, {"type": "sparkle"}]}}, "layer 1"),
    ({"spec": {"layers": [{"type": "conv2d", "filters": 4, "kernel": 29}]}}, "layer 0"),
    ({"spec": {"layers": "dense"}}, "spec.layers"),
    ({"name": ""}, "name"),
    ([1, 2, 3], "body"),
    ("a string", "body"),
]


@pytest.mark.parametrize(("body", "needle"), BAD_RUN_BODIES)
def test_run_creation_refuses_bad_bodies(client: TestClient, body: object, needle: str) -> None:
    r = client.post("/api/runs", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and needle in detail, detail
    assert client.get("/api/runs").json() == []  # nothing was created


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"preset": "mlp", "lr": NaN}', "lr"),
        (b'{"preset": "mlp", "lr": Infinity}', "lr"),
        (b'{"preset": "mlp", "lr": -Infinity}', "lr"),
        (b"null", "body"),
        (b"\xff\xfe", "JSON"),
    ],
)
def test_raw_bad_bodies(client: TestClient, raw: bytes, needle: str) -> None:
    paths = ("/api/runs",) if b"lr" in raw else ("/api/runs", "/api/architecture")
    for path in paths:
        r = client.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, (path, r.text)
        assert needle in r.json()["detail"], (path, r.json())
    assert client.get("/api/runs").json() == []


def test_non_finite_numbers_inside_a_spec(client: TestClient) -> None:
    raw = (
        b'{"layers": [{"type": "flatten"}, {"type": "dropout", "rate": NaN}, {"type": "dense", "units": 10}]}'
    )
    for path, body in (("/api/architecture", raw), ("/api/runs", b'{"spec": ' + raw + b"}")):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert "layer 1" in r.json()["detail"] or "finite" in r.json()["detail"], r.json()


def test_body_over_the_cap_is_413_everywhere(client: TestClient) -> None:
    cap = client.app.state.settings.max_body_bytes
    big = b'{"x": "' + b"a" * (cap + 10) + b'"}'
    for method, path in (
        ("POST", "/api/runs"),
        ("POST", "/api/architecture"),  # /api/predict and /api/models have caps of their own:
        ("PATCH", "/api/runs/abc"),  # tests/service/test_body_caps.py
        ("POST", "/api/runs/abc/pause"),
    ):
        r = client.request(method, path, content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413, (path, r.status_code)
        assert "limit" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(cap // 65536 + 2):
            yield b"a" * 65536

    r = client.post("/api/runs", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_ids_are_404(client: TestClient) -> None:
    for method, path in (
        ("GET", "/api/runs/nope"),
        ("GET", "/api/runs/nope/metrics"),
        ("POST", "/api/runs/nope/pause"),
        ("POST", "/api/runs/nope/resume"),
        ("POST", "/api/runs/nope/step"),
        ("POST", "/api/runs/nope/stop"),
    ):
        r = client.request(method, path)
        assert r.status_code == 404, (path, r.text)
        assert "nope" in r.json()["detail"]
    r = client.patch("/api/runs/nope", json={"lr": 0.01})
    assert r.status_code == 404
    r = client.get("/api/runs/" + "x" * 65)
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)


def test_patch_bodies_are_validated(client: TestClient) -> None:
    for body, needle in (
        ({}, "nothing to change"),
        ({"lr": -1}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"momentum": 1}, "momentum"),
        ({"epochs": 3}, "epochs"),
    ):
        r = client.patch("/api/runs/nope", json=body)
        assert r.status_code == 422, (body, r.text)
        assert needle in r.json()["detail"]


def test_method_not_allowed_and_unknown_api_paths(client: TestClient) -> None:
    r = client.delete("/api/runs")
    assert r.status_code == 405 and "detail" in r.json()
    r = client.get("/api/nothing")
    assert r.status_code == 404
