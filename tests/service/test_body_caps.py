"""One body-size mechanism, each route's cap where its docs say (issue 9): the middleware answers
413 over a route's own cap — 1 MiB of JSON for a prediction, 64 MiB (and the form around it) for
a model upload, 2 MiB for everything else — and lets a body of exactly the cap through to the
route (which may refuse it for what it holds, never for its size). Before, a 2 MiB middleware cap
answered first: a 3 MiB model upload got 413."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from glassnet.service.routes.bodies import MULTIPART_OVERHEAD
from glassnet.service.routes.predict import MAX_JSON_BYTES

MIB = 2**20


def padded_json(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (spaces before the closing brace)."""
    head = b'{"pixels": [0]'
    return head + b" " * (size - len(head) - 1) + b"}"


@pytest.mark.parametrize(
    ("path", "cap", "ctype"),
    [
        ("/api/architecture", 2 * MIB, "application/json"),
        ("/api/predict", MAX_JSON_BYTES, "application/json"),
    ],
)
def test_each_route_cap_at_its_boundary(client: TestClient, path: str, cap: int, ctype: str) -> None:
    body = padded_json(cap) if ctype == "application/json" else b"\0" * cap
    at = client.post(path, content=body, headers={"content-type": ctype})
    assert at.status_code != 413 and 400 <= at.status_code < 500, (at.status_code, at.text[:200])
    over = client.post(path, content=body + b" ", headers={"content-type": ctype})
    assert over.status_code == 413, over.text[:200]
    assert f"limit of {cap} bytes" in over.json()["detail"]


def test_a_prediction_body_is_capped_by_its_kind_whatever_its_size(client: TestClient) -> None:
    """/api/predict takes JSON (1 MiB) and images (2 MiB, and the form around one): a JSON body
    just over 1 MiB and one of 3 MiB get the same 413 naming the JSON cap (the larger one named
    the images' cap, a number a JSON client could not use), and a 1.5 MiB image body is read."""
    for size in (MAX_JSON_BYTES + 1, 3 * MIB):
        r = client.post(
            "/api/predict", content=padded_json(size), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and f"limit of {MAX_JSON_BYTES} bytes" in r.json()["detail"], r.text[:200]
        r = client.post("/api/predict", content=padded_json(size), headers={"content-type": "text/x.a+json"})
        assert r.status_code == 413 and f"limit of {MAX_JSON_BYTES} bytes" in r.json()["detail"], r.text[:200]
    image = client.post("/api/predict", content=b"\0" * (3 * MIB // 2), headers={"content-type": "image/png"})
    assert image.status_code == 422, image.text[:200]  # read, then refused for what it holds


def test_model_upload_caps(client: TestClient) -> None:
    """The file may be 64 MiB (the route says so); the body around it, 64 KiB of form more."""
    raw = {"content-type": "application/octet-stream"}
    at = client.post("/api/models", content=b"\0" * (64 * MIB), headers=raw)
    assert at.status_code == 422, at.text[:200]  # read, and refused for what it holds
    over = client.post("/api/models", content=b"\0" * (64 * MIB + 1), headers=raw)
    assert over.status_code == 413 and "upload is over the limit of 67108864 bytes" in over.json()["detail"]
    cap = 64 * MIB + MULTIPART_OVERHEAD
    body = b"\0" * (cap + 1)
    form = {"content-type": "multipart/form-data; boundary=x"}
    beyond = client.post("/api/models", content=body, headers=form)
    assert beyond.status_code == 413 and f"limit of {cap} bytes" in beyond.json()["detail"]


def test_a_3_mib_model_upload_is_read_not_refused_for_its_size(client: TestClient) -> None:
    r = client.post(
        "/api/models", content=b"PK" + b"\0" * (3 * MIB), headers={"content-type": "application/octet-stream"}
    )
    assert r.status_code == 422, r.text[:200]  # not a checkpoint: said by the route, not the cap
