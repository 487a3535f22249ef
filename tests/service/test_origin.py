"""QA #2: the CSRF check compares the whole origin — scheme, host and port — with the origin the
server is served at. A page on another port of the same host (a dev server on localhost:3000, a
notebook, another service on the teacher's machine) is another site: a browser still sends it
the SameSite cookie, so its state-changing requests and sockets must be refused. Requests
without Origin or Referer (curl, scripts) pass as before."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service_helpers import Server, make_settings
from starlette.testclient import WebSocketDenialResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from glassnet.service.app import create_app
from glassnet.service.security import origin_allowed, origin_parts

PIXELS = {"pixels": [0.0] * 392 + [1.0] * 392}

FOREIGN = [
    "http://localhost:3000",
    "http://127.0.0.1:5173",
    "http://testserver:8080",
    "https://testserver",  # another scheme is another origin
    "http://testserver.evil.com",
    "http://testserver:80.evil.com",  # not a port: no origin at all
    "http://user@testserver",
    "http://testserver/path",
    "null",
    "file://",
]


@pytest.mark.parametrize("origin", FOREIGN)
def test_other_origins_are_refused(client: TestClient, origin: str) -> None:
    r = client.post("/api/predict", json=PIXELS, headers={"origin": origin, "sec-fetch-site": "same-site"})
    assert r.status_code == 403, (origin, r.text)
    assert "is not this server" in r.json()["detail"]


@pytest.mark.parametrize("origin", ["http://testserver", "http://testserver:80", "HTTP://TestServer"])
def test_the_served_origin_and_no_origin_pass(client: TestClient, origin: str) -> None:
    assert client.post("/api/predict", json=PIXELS, headers={"origin": origin}).status_code == 200
    assert client.post("/api/predict", json=PIXELS).status_code == 200  # curl, scripts


def test_a_referer_from_another_port_is_refused(client: TestClient) -> None:
    r = client.post("/api/predict", json=PIXELS, headers={"referer": "http://testserver:3000/page.html"})
    assert r.status_code == 403 and "Referer" in r.json()["detail"]
    ok = client.post("/api/predict", json=PIXELS, headers={"referer": "http://testserver/index.html"})
    assert ok.status_code == 200


def test_a_socket_from_another_port_is_refused(client: TestClient) -> None:
    """The handshake is answered with REST's 403 and its ErrorBody naming the origin."""
    with (
        pytest.raises(WebSocketDenialResponse) as exc,
        client.websocket_connect("/ws", headers={"origin": "http://localhost:5173"}),
    ):
        pass
    assert exc.value.status_code == 403
    assert "http://localhost:5173" in exc.value.json()["detail"], exc.value.json()


def test_allowed_origins_are_exact(tmp_path: Path, tiny_dataset: Path) -> None:
    settings = make_settings(
        tmp_path / "runs", tiny_dataset, allowed_origins=["https://glassnet.example.org"]
    )
    with TestClient(create_app(settings)) as c:
        for origin, status in (
            ("https://glassnet.example.org", 200),
            ("https://glassnet.example.org:443", 200),
            ("https://glassnet.example.org:8443", 403),
            ("http://glassnet.example.org", 403),
        ):
            assert c.post("/api/predict", json=PIXELS, headers={"origin": origin}).status_code == status, (
                origin
            )


def test_origin_parts() -> None:
    assert origin_parts("http://Example.org") == ("http", "example.org", 80)
    assert origin_parts("https://[::1]:8000") == ("https", "::1", 8000)
    assert origin_parts("http://127.0.0.1:8121.evil.com") is None
    own = ("http", "127.0.0.1", 8121)
    assert origin_allowed("http://localhost:8121", own, [])  # a loopback alias of the same server
    assert not origin_allowed("http://localhost:8122", own, [])
    assert not origin_allowed("http://localhost:8121", ("http", "teacher.example", 8121), [])


@pytest.mark.slow
def test_a_real_server_refuses_other_ports_and_serves_its_own_page(
    tmp_path: Path, tiny_dataset: Path
) -> None:
    """Against ``glassnet serve`` (uvicorn): the dashboard's own origin works for POST and the
    socket, under either loopback name; a page on another local port gets 403 and a refused
    socket."""
    server = Server(tmp_path / "runs", tiny_dataset)
    port = server.url.rsplit(":", 1)[1]
    try:
        with server.http() as http:
            for origin in (server.url, f"http://localhost:{port}"):
                assert http.post("/api/predict", json=PIXELS, headers={"origin": origin}).status_code == 200
                with connect(server.ws_url, origin=origin, open_timeout=10) as ws:
                    assert json.loads(ws.recv(timeout=10))["type"] == "hello"
            other = f"http://localhost:{int(port) + 1}"
            r = http.post("/api/predict", json=PIXELS, headers={"origin": other})
            assert r.status_code == 403, r.text
            with (
                pytest.raises(InvalidStatus) as refused,
                connect(server.ws_url, origin=other, open_timeout=10),
            ):
                pass
            # uvicorn's real handshake answer: REST's 403, with the body naming the origin
            assert refused.value.response.status_code == 403
            assert other in json.loads(refused.value.response.body)["detail"]
            assert httpx.post(f"{server.url}/api/predict", json=PIXELS).status_code == 200
    finally:
        server.stop()
