"""QA4 API-10: a WebSocket ``predict`` that REST would refuse is refused in REST's words (one
home: routes/predict.check_predict and errors.strict_loads), not pydantic's ("Input should be a
finite number (and 1 more)", "Extra inputs are not permitted")."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from service_helpers import receive, receive_until

CASES = [
    ('"pixels": [NaN]', "NaN is not a number in JSON; pixels must be finite numbers in [0, 1]"),
    (
        '"pixels": [Infinity, 0.5]',
        "Infinity is not a number in JSON; pixels must be finite numbers in [0, 1]",
    ),
    ('"pixels": "abc"', "pixels must be a list of numbers or of rows, got a string"),
    ('"pixels": [0.5, "x"]', None),
    ('"pixels": [[0.5], [0.1, 0.1]]', None),
    ('"pixels": []', "pixels is empty: send 784 numbers or a 28x28 grid"),
]


@pytest.mark.parametrize(("fields", "expected"), CASES)
def test_socket_and_rest_word_a_bad_digit_alike(
    client: TestClient, fields: str, expected: str | None
) -> None:
    rest = client.post("/api/predict", content=f"{{{fields}}}", headers={"content-type": "application/json"})
    assert rest.status_code == 422, rest.text
    with client.websocket_connect("/ws") as ws:
        receive(ws)  # hello
        ws.send_text(f'{{"type": "predict", {fields}, "id": "x"}}')
        error = receive_until(ws, "error")["data"]
    assert error["code"] == "bad_message" and error["id"] == "x"
    assert error["message"] == rest.json()["detail"], (error, rest.json())
    if expected is not None:
        assert error["message"] == expected
    assert "Input should" not in error["message"] and "(and " not in error["message"]


def test_an_extra_field_is_named_in_the_same_words(client: TestClient) -> None:
    rest = client.post("/api/predict", json={"pixels": [0.0] * 784, "foo": 1})
    assert rest.json()["detail"] == "unexpected field(s) 'foo'; the body is {\"pixels\": [...]}"
    with client.websocket_connect("/ws") as ws:
        receive(ws)
        ws.send_text(json.dumps({"type": "predict", "pixels": [0.0] * 784, "foo": 1, "id": 3}))
        error = receive_until(ws, "error")["data"]
    assert error["id"] == 3
    assert error["message"].startswith("unexpected field(s) 'foo'; the message is {")
    assert '"pixels": [...]' in error["message"] and "Extra inputs" not in error["message"]
