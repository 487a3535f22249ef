"""Every error carries a stable machine-readable ``code`` next to its English ``detail`` (issue 13):
the page words the code in the reader's language. Codes come from one enum (protocol.ErrorCode),
are in the OpenAPI schema and the protocol schema, and each has a message in both catalogues."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glassnet.service.protocol import ErrorCode, code_for_status, protocol_schema

ROOT = Path(__file__).resolve().parents[2]
CODES = {c.value for c in ErrorCode}


def coded(response, status: int, code: str) -> dict:
    """The answer has the status, the code and a non-empty English sentence."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def test_each_kind_of_error_has_its_code(client: TestClient) -> None:
    coded(client.get("/api/runs/no-such-run"), 404, "not_found")
    coded(client.post("/api/runs", json={"preset": "mlp", "lr": -1}), 422, "invalid")
    coded(
        client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"}),
        422,
        "invalid_json",
    )
    coded(client.put("/api/runs"), 405, "method_not_allowed")
    big = b"[" + b"0," * (3 * 2**20) + b"0]"
    coded(
        client.post("/api/architecture", content=big, headers={"content-type": "application/json"}),
        413,
        "too_large",
    )
    # the detail sentence is unchanged by the code beside it
    body = coded(client.post("/api/architecture", json={"layers": []}), 422, "invalid")
    assert "layers" in body["detail"]


def test_codes_by_status() -> None:
    assert code_for_status(404) is ErrorCode.NOT_FOUND
    assert code_for_status(409) is ErrorCode.CONFLICT
    assert code_for_status(418) is ErrorCode.BAD_REQUEST
    assert code_for_status(502) is ErrorCode.INTERNAL


def test_codes_are_in_the_openapi_and_protocol_schemas(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["ErrorBody"]
    assert "code" in body["required"]
    enum = schema["components"]["schemas"].get("ErrorCode", {}).get("enum") or body["properties"]["code"].get(
        "enum"
    )
    assert set(enum) == CODES
    assert protocol_schema()["error_codes"] == [c.value for c in ErrorCode]
    assert "code" in protocol_schema()["events"]["error"]["required"]


def test_every_code_has_a_message_in_both_catalogues() -> None:
    for lang in ("en", "zh-CN"):
        catalogue = json.loads((ROOT / "frontend" / "i18n" / f"{lang}.json").read_text("utf-8"))
        missing = sorted(c for c in CODES if not catalogue.get(f"error.code.{c}", "").strip())
        assert missing == [], f"{lang}.json lacks error.code.<code> for {missing}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/nonexistent"),
        ("GET", "/api/nonexistent"),
        ("DELETE", "/api/mydigits/abc"),
        ("PUT", "/api/runs/abc/pause/more"),
        ("POST", "/api"),
    ],
)
def test_unknown_api_paths_are_404_for_every_method(client: TestClient, method: str, path: str) -> None:
    """QA #7: a path no API route fits is a 404, not the static files' 405 ("only the verb is
    wrong"); a known path with a wrong verb stays 405."""
    body = coded(client.request(method, path), 404, "not_found")
    assert "no API path" in body["detail"]
    coded(client.put("/api/runs"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "forged",
    [
        '[NaN, "x"]',
        '[1e999, "x"]',
        '[99999999999999999999999999999, "x"]',
        '[true, "x"]',
        '[-1, "x"]',
        "[1" + "0" * 100 + ', "x"]',
    ],
)
def test_forged_cursors_with_odd_numbers_are_422(client: TestClient, forged: str) -> None:
    """QA #14: a cursor is base64 JSON [created, id] that this server gave out; one with a
    number no run was created at (NaN, Infinity, beyond any Unix time, a boolean) is refused
    like any other forged cursor."""
    cursor = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    body = coded(client.get("/api/runs", params={"limit": 1, "cursor": cursor}), 422, "invalid")
    assert "is not one this server gave out" in body["detail"]


def test_the_protocol_documents_the_model_ids_the_server_takes(client: TestClient) -> None:
    """QA #10: PredictMessage's ``model`` is documented as the ids predictions accept."""
    text = json.dumps(client.get("/api/protocol").json()["client"]["predict"])
    assert "<run id>:<checkpoint>" in text and "<run id>/<checkpoint>" not in text


def test_validation_names_the_union_member_the_client_meant(client: TestClient) -> None:
    """QA #8: an object for ``augment`` (a boolean or settings) that breaks a setting names that
    setting, not "augment.bool: should be a boolean"; no pydantic member names in the location."""
    r = client.post("/api/runs", json={"preset": "mlp", "augment": {"rotation": 1e9}})
    body = coded(r, 422, "invalid")
    assert body["detail"].startswith("augment.rotation: Input should be less than or equal to 45"), body
    assert all("[" not in e["loc"] and ".bool" not in e["loc"] for e in body["errors"]), body["errors"]
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        # 784 pixels: a digit's pixels are named first, as REST names them (QA4 API-10)
        ws.send_text(json.dumps({"type": "predict", "pixels": [0.5] * 784, "id": {"a": 1}}))
        while (frame := ws.receive_json())["type"] != "error":
            pass
        assert frame["data"]["message"].startswith("predict.id: Input should be a valid"), frame
