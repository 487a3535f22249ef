"""QA #5 and #13: every JSON route names a body it cannot parse the same way — a number with
more digits than Python converts, nesting past the recursion limit — as a 422 ``invalid_json``
whose sentence says so, without Python's internals (FastAPI's own parse said only "There was an
error parsing the body", 400; the hand-read routes passed ``sys.set_int_max_str_digits`` on).
And a JSON body sent as ``text/plain`` is a 415 saying "send application/json" everywhere."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

HUGE = b'{"test_index": ' + b"9" * 5000 + b"}"
DEEP = b'{"preset": ' + b"[" * 5000 + b"]" * 5000 + b"}"


def json_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every operation that takes a JSON body, from the served schema."""
    paths = client.get("/openapi.json").json()["paths"]
    out = [
        (method.upper(), path.replace("{run_id}", "abc").replace("{digit_id}", "1"))
        for path, operations in paths.items()
        for method, op in operations.items()
        if "application/json" in (op.get("requestBody") or {}).get("content", {})
    ]
    assert ("POST", "/api/mydigits/json") in out  # reads its JSON by hand, documented all the same
    return out


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (HUGE, "a number in the body has too many digits (at most 4300)"),
        (DEEP, "the body is nested too deeply"),
    ],
)
def test_unparseable_json_is_one_clear_422_on_every_route(
    client: TestClient, body: bytes, needle: str
) -> None:
    routes = json_routes(client)
    assert len(routes) >= 15
    for method, path in routes:
        r = client.request(method, path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (method, path, r.status_code, r.text)
        assert r.json()["code"] == "invalid_json", (method, path, r.text)
        assert r.json()["detail"] == needle, (method, path, r.text)
        assert "sys." not in r.text and "parsing the body" not in r.text


def test_a_json_body_sent_as_text_is_415_everywhere(client: TestClient) -> None:
    for method, path in json_routes(client):
        r = client.request(method, path, content=b'{"test_index": 0}', headers={"content-type": "text/plain"})
        assert r.status_code == 415, (method, path, r.status_code, r.text)
        assert "application/json" in r.json()["detail"] and r.json()["code"] == "unsupported_media_type"
    # An empty body is still "empty", not a content-type problem.
    assert "empty" in client.post("/api/explain").json()["detail"]
