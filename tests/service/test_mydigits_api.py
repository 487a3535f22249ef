"""*My digits* through real HTTP (issue 12, bar 2): labelled drawings survive a restart, IDX
export → import round-trips byte for byte, and malformed imports are 4xx naming the problem."""

from __future__ import annotations

import base64
import gzip
import io
import json
import struct

import numpy as np
import pytest
from fastapi.testclient import TestClient

from glassnet.data.mnist import read_idx_bytes
from glassnet.service.app import create_app
from glassnet.service.settings import Settings


def drawing(digit: int) -> list[list[float]]:
    """A 56×56 grid with a simple mark that depends on the digit (enough ink to be a digit)."""
    g = np.zeros((56, 56))
    g[10:46, 20 + digit : 26 + digit] = 1.0
    g[10 + 2 * digit : 16 + 2 * digit, 14:42] = 0.8
    return g.tolist()


def add(client: TestClient, label: int, **extra) -> dict:
    r = client.post("/api/mydigits", json={"label": label, "pixels": drawing(label), **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_label_review_relabel_delete(client: TestClient) -> None:
    first = add(client, 3, strokes=[[[10, 10], [100, 120.5]], [[5, 200]]], pad=280)
    second = add(client, 7)
    assert first["label"] == 3 and first["strokes"] and not second["strokes"]
    image = np.frombuffer(base64.b64decode(first["image"]), dtype=np.uint8)
    assert image.shape == (784,) and image.max() > 200  # prepared like MNIST: ink bright
    listed = client.get("/api/mydigits").json()
    assert [d["id"] for d in listed["digits"]] == [first["id"], second["id"]]
    assert client.get("/api/mydigits?label=7").json()["count"] == 1
    assert client.patch(f"/api/mydigits/{second['id']}", json={"label": 1}).json()["label"] == 1
    assert client.delete(f"/api/mydigits/{first['id']}").status_code == 204
    assert client.delete(f"/api/mydigits/{first['id']}").status_code == 404
    assert client.patch(f"/api/mydigits/{first['id']}", json={"label": 2}).status_code == 404
    # An id that cannot be one names the problem (a negative one was a bare 405: no route took it).
    for method in ("DELETE", "PATCH"):
        r = client.request(method, "/api/mydigits/-1", json={"label": 2})
        assert r.status_code == 422 and "digit_id" in r.text, r.text
        for bad in ("abc", "1.5"):
            r = client.request(method, f"/api/mydigits/{bad}", json={"label": 2})
            assert r.status_code == 404 and "no API path" in r.text, r.text
    r = client.request("PUT", f"/api/mydigits/{second['id']}", json={"label": 2})
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"PATCH", "DELETE"}
    assert client.patch("/api/mydigits/json", json={"label": 2}).status_code == 405  # a path of its own
    assert [d["label"] for d in client.get("/api/mydigits").json()["digits"]] == [1]


def test_my_digits_survive_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        ids = [add(client, d)["id"] for d in (0, 4, 9)]
    with TestClient(create_app(settings)) as client:
        after = client.get("/api/mydigits").json()
    assert [d["id"] for d in after["digits"]] == ids
    assert [d["label"] for d in after["digits"]] == [0, 4, 9]


def test_idx_export_import_round_trip_is_byte_identical(client: TestClient) -> None:
    for d in (5, 1, 8, 8, 2):
        add(client, d)
    images = client.get("/api/mydigits/idx/images").content
    labels = client.get("/api/mydigits/idx/labels").content
    assert read_idx_bytes(images).shape == (5, 28, 28)
    assert read_idx_bytes(labels).tolist() == [5, 1, 8, 8, 2]
    for d in client.get("/api/mydigits").json()["digits"]:
        client.delete(f"/api/mydigits/{d['id']}")
    files = {"images": ("a", images), "labels": ("b", gzip.compress(labels))}  # gzip works too
    r = client.post("/api/mydigits/idx", files=files)
    assert r.status_code == 201, r.text
    assert r.json() == {"added": 5, "skipped": 0}
    assert client.get("/api/mydigits/idx/images").content == images
    assert client.get("/api/mydigits/idx/labels").content == labels


def test_json_export_import_round_trip(client: TestClient) -> None:
    add(client, 6, strokes=[[[1, 2], [3, 4]]], pad=280)
    doc = client.get("/api/mydigits/json").json()
    assert doc["digits"][0]["strokes"] == [[[1, 2], [3, 4]]]
    r = client.post(
        "/api/mydigits/json", content=json.dumps(doc), headers={"content-type": "application/json"}
    )
    assert r.status_code == 201 and r.json() == {"added": 0, "skipped": 1}  # already there
    assert client.get("/api/mydigits").json()["count"] == 1
    client.delete(f"/api/mydigits/{client.get('/api/mydigits').json()['digits'][0]['id']}")
    r = client.post("/api/mydigits/json", json=doc)
    assert r.status_code == 201 and r.json() == {"added": 1, "skipped": 0}
    assert client.get("/api/mydigits/json").json() == doc
    # The exported file as a form's file (curl -F file=@my-digits.json) is the same import.
    r = client.post("/api/mydigits/json", files={"file": ("my-digits.json", json.dumps(doc).encode())})
    assert r.status_code == 201 and r.json() == {"added": 0, "skipped": 1}, r.text
    # Any other content type is a 415 that says how to send it, and imports nothing.
    for ctype in ("text/plain", "image/png", "application/x-www-form-urlencoded"):
        r = client.post("/api/mydigits/json", content=json.dumps(doc), headers={"content-type": ctype})
        assert r.status_code == 415 and "application/json" in r.json()["detail"], r.text
        assert "'file'" in r.json()["detail"]
    r = client.post("/api/mydigits/json", files={"file": ("d0_7.png", b"\x89PNG\r\n\x1a\n\x00")})
    assert r.status_code == 422 and r.json()["detail"].startswith("the file d0_7.png is not"), r.text
    r = client.post("/api/mydigits/json", files={"doc": ("d.json", b"{}")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"], r.text
    assert client.get("/api/mydigits").json()["count"] == 1


def test_importing_again_adds_nothing_twice(client: TestClient) -> None:
    """QA3 hand #2: importing the same digits again (IDX or JSON) added every one again, silently.
    A digit already there (the same image and label) is skipped and counted; a new one, or the
    same image with another label, is added."""
    for d in (3, 5, 5):  # the two 5s are one drawing labelled twice: twins within a set are kept
        add(client, d)
    images = client.get("/api/mydigits/idx/images").content
    labels = client.get("/api/mydigits/idx/labels").content
    doc = client.get("/api/mydigits/json").json()
    r = client.post("/api/mydigits/idx", files={"images": ("i", images), "labels": ("l", labels)})
    assert r.status_code == 201 and r.json() == {"added": 0, "skipped": 3}, r.text
    r = client.post("/api/mydigits/json", json=doc)
    assert r.status_code == 201 and r.json() == {"added": 0, "skipped": 3}, r.text
    assert client.get("/api/mydigits").json()["count"] == 3
    relabelled = {**doc, "digits": [{**doc["digits"][0], "label": 8}, *doc["digits"]]}
    r = client.post("/api/mydigits/json", json=relabelled)
    assert r.status_code == 201 and r.json() == {"added": 1, "skipped": 3}, r.text
    assert [d["label"] for d in client.get("/api/mydigits").json()["digits"]] == [3, 5, 5, 8]


def idx(shape: tuple[int, ...], data: bytes | None = None, code: int = 0x08) -> bytes:
    head = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return head + (bytes(int(np.prod(shape))) if data is None else data)


GOOD_IMAGES, GOOD_LABELS = idx((2, 28, 28)), idx((2,), b"\x01\x02")
BAD_IMPORTS = {
    "not an IDX file": (b"hello, this is text", GOOD_LABELS, "bad magic number"),
    "floats, not bytes": (
        idx((2, 28, 28), bytes(2 * 784 * 4), code=0x0D),
        GOOD_LABELS,
        "unsupported element type",
    ),
    "truncated images": (GOOD_IMAGES[:-10], GOOD_LABELS, "truncated"),
    "images of 10x10": (idx((2, 10, 10)), GOOD_LABELS, "expected shape (N, 28, 28)"),
    "fewer labels than images": (GOOD_IMAGES, idx((1,), b"\x01"), "expected 2 labels"),
    "a label of 12": (GOOD_IMAGES, idx((2,), b"\x01\x0c"), "label 12 at index 1"),
    "a header claiming 2**40 bytes": (
        gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, 2**20, 2**10, 2**10)),
        GOOD_LABELS,
        "over the limit",
    ),
    "corrupt gzip": (b"\x1f\x8b" + b"\x00" * 40, GOOD_LABELS, "gzip"),
    "no digits": (idx((0, 28, 28)), idx((0,)), "no digits"),
}


@pytest.mark.parametrize("name", list(BAD_IMPORTS))
def test_malformed_imports_are_named_and_store_nothing(client: TestClient, name: str) -> None:
    images, labels, words = BAD_IMPORTS[name]
    r = client.post("/api/mydigits/idx", files={"images": ("i", images), "labels": ("l", labels)})
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    assert client.get("/api/mydigits").json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"format": "something-else"}, "not a my-digits file"),
        ({"format": "glassnet-my-digits", "version": 9, "digits": []}, "unsupported version"),
        ({"format": "glassnet-my-digits", "version": 1, "digits": []}, "non-empty list"),
        ({"format": "glassnet-my-digits", "version": 1, "digits": [{"label": 3, "image": "!!"}]}, "base64"),
        (
            {"format": "glassnet-my-digits", "version": 1, "digits": [{"label": 3, "image": "AAAA"}]},
            "784 bytes",
        ),
        ({"format": "glassnet-my-digits", "version": 1, "digits": [{"label": 11, "image": ""}]}, "label"),
    ],
)
def test_malformed_json_imports(client: TestClient, body: dict, words: str) -> None:
    r = client.post("/api/mydigits/json", json=body)
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"label": 10, "pixels": drawing(1)}, 422, "label"),
        ({"label": 3, "pixels": np.zeros((56, 56)).tolist()}, 422, "too little ink"),
        ({"label": 3, "pixels": [0.5] * 10}, 422, "784"),
        ({"label": 1, "pixels": [[0.5] * 784]}, 422, "a 1x784 grid"),
        ({"label": "3", "pixels": drawing(3)}, 422, "label"),
        ({"label": 3, "pixels": drawing(3), "strokes": [[[1, 2]]]}, 422, "pad"),
        ({"label": 3, "pixels": drawing(3), "strokes": [[[1, 9999]]], "pad": 280}, 422, "0 <= x, y <= 280"),
        ({"label": 3, "pixels": drawing(3), "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_drawings_are_named(client: TestClient, body: dict, status: int, words: str) -> None:
    r = client.post("/api/mydigits", json=body)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_nan_pixels_are_refused(client: TestClient) -> None:
    r = client.post(
        "/api/mydigits",
        content=b'{"label": 1, "pixels": [NaN, 0.5]}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422


def test_any_model_is_evaluated_on_my_digits(client: TestClient) -> None:
    assert client.post("/api/mydigits/evaluate", json={"model": "cnn"}).status_code == 422  # none yet
    for d in (0, 1, 1, 7):
        add(client, d)
    r = client.post("/api/mydigits/evaluate", json={"model": "cnn"})
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["count"] == 4 and sum(map(sum, e["confusion"])) == 4
    assert sum(e["confusion"][1]) == 2  # the two 1s, in row 1
    correct = sum(e["confusion"][d][d] for d in range(10))
    assert e["accuracy"] == pytest.approx(correct / 4)
    assert all(0 <= d["probability"] <= 1 for d in e["digits"])
    assert client.post("/api/mydigits/evaluate", json={"model": "nope"}).status_code == 404
    r = client.post("/api/mydigits/evaluate", json={"model": ""})  # empty: named, not the default
    assert r.status_code == 422 and "model" in r.json()["detail"]


def test_import_over_the_body_limit_is_413(client: TestClient) -> None:
    big = idx((4000, 28, 28))  # 3.1 MB raw: over the 2 MiB limit (gzip it to send more)
    r = client.post(
        "/api/mydigits/idx", files={"images": ("i", io.BytesIO(big)), "labels": ("l", GOOD_LABELS)}
    )
    assert r.status_code == 413
