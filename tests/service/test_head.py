"""QA4 API-3: ``HEAD`` answers like ``GET`` without the body on every GET route (RFC 9110 9.3.2):
a program that checks a model with HEAD before downloading it, or a monitor that probes
``/healthz`` with HEAD, was told 404 (FastAPI's routes have no HEAD, so it fell through to the
static files). Checked against the real server too, where uvicorn sends what the app gives."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import Server

# Headers that must be the same for HEAD and GET (the date and a generated id may differ).
SAME = ("content-type", "content-length", "content-disposition", "allow")


def same_as_get(client: TestClient | httpx.Client, path: str) -> httpx.Response:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code, (path, head.status_code, get.status_code)
    assert head.content == b"", path
    for name in SAME:
        assert head.headers.get(name) == get.headers.get(name), (path, name)
    return head


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/readyz",
        "/api/runs",
        "/api/runs?limit=1",
        "/api/models",
        "/api/models/cnn",  # the download: its Content-Length is the file's size
        "/api/presets",
        "/api/protocol",
        "/openapi.json",
        "/docs",
        "/",  # the static files did HEAD already; still so
    ],
)
def test_head_is_get_without_the_body(client: TestClient, path: str) -> None:
    head = same_as_get(client, path)
    assert head.status_code == 200, path
    assert int(head.headers["content-length"]) > 0, path


def test_head_of_a_missing_thing_is_its_404(client: TestClient) -> None:
    head = same_as_get(client, "/api/models/nope")
    assert head.status_code == 404
    assert client.head("/api/runs/nope").status_code == 404
    assert client.head("/api/nonexistent").status_code == 404
    # a path with no GET is still a 405 naming what it has
    r = client.head("/api/predict")
    assert r.status_code == 405 and r.headers["allow"] == "POST"


@pytest.mark.slow
def test_head_on_the_real_server(tmp_path, tiny_dataset) -> None:  # type: ignore[no-untyped-def]
    server = Server(tmp_path / "runs", tiny_dataset)
    try:
        with server.http() as http:
            for path in ("/healthz", "/api/models/cnn", "/api/runs"):
                head = same_as_get(http, path)
                assert head.status_code == 200, path
            size = int(http.head("/api/models/cnn").headers["content-length"])
            assert size == len(http.get("/api/models/cnn").content)
    finally:
        server.stop()
