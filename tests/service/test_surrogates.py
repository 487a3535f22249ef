"""A lone UTF-16 surrogate (JSON's ``"\\ud800"`` escape) is not text that can be stored or sent
(QA round 3, #8): a 422 naming the field over HTTP, a ``bad_message`` error naming it over the
WebSocket, and never an internal error (the ``client`` fixture fails on any)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from service_helpers import receive, receive_until

LONE = '"\\ud800"'  # as a client's JSON holds it: an escape, valid JSON, not valid text


def test_a_lone_surrogate_in_a_json_body_is_a_422_naming_the_field(client: TestClient) -> None:
    r = client.put(
        "/api/class/pinned", content='{"run": ' + LONE + "}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422, r.text
    assert "run" in r.json()["detail"] and "surrogate" in r.json()["detail"]
    paired = client.put(  # a pair is a real character: a run id it is not, so 404
        "/api/class/pinned", content='{"run": "\\ud83d\\ude00"}', headers={"content-type": "application/json"}
    )
    assert paired.status_code == 404


def test_a_lone_surrogate_in_a_socket_message_is_an_error_naming_the_field(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert receive(ws)["type"] == "hello"
        for message, field in [
            ('{"type": "predict", "pixels": [[0, 1], [1, 0]], "id": ' + LONE + "}", "id"),
            ('{"type": "subscribe", "run": "x", "id": ' + LONE + "}", "id"),
            ('{"type": "subscribe", "run": ' + LONE + "}", "run"),
            ('{"type": "panels", "live": ["kernels", ' + LONE + "]}", "live[1]"),
        ]:
            ws.send_text(message)
            error = receive_until(ws, "error")["data"]
            assert error["code"] == "bad_message", error
            assert error["message"].startswith(f"{field}: ") and "surrogate" in error["message"]
        ws.send_text(json.dumps({"type": "predict", "pixels": [[0, 1], [1, 0]], "id": "ok"}))
        assert receive_until(ws, "prediction")["data"]["id"] == "ok"  # the socket goes on
