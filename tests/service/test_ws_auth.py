"""QA4 API-6: a WebSocket without a valid token is refused the way REST refuses it — HTTP 401 with
``WWW-Authenticate: Bearer`` and an ``ErrorBody`` coded ``unauthorized`` — so a program can tell
"log in" from "not allowed" (a foreign origin: still refused before accept, a 403 handshake).
Before, both were the same 403."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import Server, make_settings
from starlette.testclient import WebSocketDenialResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from glassnet.service.app import create_app

TOKEN = "correct-horse-battery-staple-42"


@pytest.fixture
def guarded(tmp_path: Path, tiny_dataset: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path / "runs", tiny_dataset, token=TOKEN))) as c:
        yield c


@pytest.mark.parametrize("headers", [{}, {"authorization": "Bearer wrong-token-wrong-token"}])
def test_a_socket_without_the_token_is_a_401(guarded: TestClient, headers: dict[str, str]) -> None:
    with pytest.raises(WebSocketDenialResponse) as exc, guarded.websocket_connect("/ws", headers=headers):
        pass
    denial = exc.value
    assert denial.status_code == 401
    assert denial.headers["www-authenticate"].startswith("Bearer")
    assert denial.json()["code"] == "unauthorized" and "token" in denial.json()["detail"]
    # REST says the same
    assert guarded.get("/api/runs", headers=headers).json()["code"] == "unauthorized"


def test_a_foreign_origin_with_the_token_is_still_refused_as_forbidden(guarded: TestClient) -> None:
    headers = {"authorization": f"Bearer {TOKEN}", "origin": "http://evil.example"}
    with pytest.raises(WebSocketDenialResponse) as exc, guarded.websocket_connect("/ws", headers=headers):
        pass
    assert exc.value.status_code == 403 and "evil.example" in exc.value.json()["detail"]
    with guarded.websocket_connect("/ws", headers={"authorization": f"Bearer {TOKEN}"}) as ws:
        assert ws.receive_json()["type"] == "hello"


@pytest.mark.slow
def test_the_real_server_answers_401_and_403(tmp_path: Path, tiny_dataset: Path) -> None:
    server = Server(
        tmp_path / "runs", tiny_dataset, env={"GLASSNET_TOKEN": TOKEN}, args=["--host", "0.0.0.0"]
    )
    try:
        with pytest.raises(InvalidStatus) as missing:
            connect(server.ws_url, open_timeout=10).close()
        assert missing.value.response.status_code == 401
        assert json.loads(missing.value.response.body)["code"] == "unauthorized"
        auth = {"authorization": f"Bearer {TOKEN}"}
        with pytest.raises(InvalidStatus) as foreign:
            connect(
                server.ws_url, additional_headers={**auth, "origin": "http://evil.example"}, open_timeout=10
            ).close()
        assert foreign.value.response.status_code == 403
        with connect(server.ws_url, additional_headers=auth, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
    finally:
        server.stop()
    # A refusal is the client's answer, not the server's fault: no ERROR line for either
    # (uvicorn logged "returned without completing handshake" for each; security.py quiets it).
    log = server.log_tail(10**6)
    assert '"WebSocket /ws" 403' in log and '"WebSocket /ws" 401' in log, log[-2000:]
    assert "without completing handshake" not in log and " ERROR " not in log, log[-2000:]
