"""/api/models: listing, download, upload round trip; hostile uploads refused, nothing overwritten."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from glassnet.nn import Sequential
from glassnet.nn.checkpoint import checkpoint_bytes
from glassnet.service.inference import ModelRegistry
from glassnet.service.routes import models as models_routes
from glassnet.service.routes import predict as predict_routes

REPO = Path(__file__).resolve().parents[2]
UPLOAD_LIMIT = 1024 * 1024  # small, so the oversize test stays quick


@dataclass
class ModelsEnv:
    client: TestClient
    registry: ModelRegistry
    models_dir: Path
    runs_dir: Path


@pytest.fixture
def models_api_env(tmp_path: Path) -> Iterator[ModelsEnv]:
    """A bare FastAPI app with the models and predict routers over fresh temporary folders."""
    models_dir, runs_dir = tmp_path / "models", tmp_path / "runs"
    models_dir.mkdir()
    shutil.copy(REPO / "models" / "cnn.npz", models_dir / "cnn.npz")
    (runs_dir / "run-7").mkdir(parents=True)
    shutil.copy(REPO / "models" / "cnn.npz", runs_dir / "run-7" / "epoch-1.npz")
    (runs_dir / "run-7" / "broken.npz").write_bytes(b"not a zip")  # must not break the listing
    (runs_dir / "run-7" / ".epoch-2.npz.123.tmp").write_bytes(b"half written")
    registry = ModelRegistry(models_dir, runs_dir, max_upload_bytes=UPLOAD_LIMIT)
    app = FastAPI()
    app.state.registry = registry
    app.include_router(models_routes.router)
    app.include_router(predict_routes.router)
    with TestClient(app) as client:
        yield ModelsEnv(client, registry, models_dir, runs_dir)


def tiny_checkpoint(input_shape: list[int] | None = None, units: int = 10) -> bytes:
    spec = {
        "input_shape": input_shape or [1, 28, 28],
        "layers": [{"type": "flatten"}, {"type": "dense", "units": units}],
    }
    model = Sequential.from_spec(spec, np.random.default_rng(0))
    return checkpoint_bytes(model, meta={"preset": "tiny", "test_accuracy": 0.5})


def upload(client: TestClient, data: bytes, filename: str = "mine.npz"):
    return client.post("/api/models", files={"file": (filename, data, "application/octet-stream")})


def tree(folder: Path) -> dict[str, str]:
    """Every file under folder with its SHA-256: to prove nothing was written or replaced."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_4xx(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


def test_listing_has_bundled_and_run_checkpoints(models_api_env: ModelsEnv) -> None:
    r = models_api_env.client.get("/api/models")
    assert r.status_code == 200
    body = r.json()
    assert body["default"] == "cnn"
    by_id = {m["id"]: m for m in body["models"]}
    assert set(by_id) == {"cnn", "run-7:epoch-1"}  # the broken file and the temp file are skipped
    cnn = by_id["cnn"]
    assert cnn["kind"] == "bundled" and cnn["default"] is True and cnn["preset"] == "cnn"
    assert cnn["params"] == 80202 and len(cnn["layers"]) == 10
    assert cnn["layers"][0] == {
        "index": 0,
        "type": "conv2d",
        "output_shape": [16, 24, 24],
        "params": 416,
        "formula": "1·(5·5)·16 + 16",
    }
    assert 0.98 < cnn["test_accuracy"] <= 1.0
    assert cnn["size"] == (REPO / "models" / "cnn.npz").stat().st_size
    assert by_id["run-7:epoch-1"]["kind"] == "run" and by_id["run-7:epoch-1"]["default"] is False


def test_download_is_the_checkpoint_file(models_api_env: ModelsEnv) -> None:
    r = models_api_env.client.get("/api/models/cnn")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert 'filename="cnn.npz"' in r.headers["content-disposition"]
    assert r.content == (REPO / "models" / "cnn.npz").read_bytes()
    r = models_api_env.client.get("/api/models/run-7:epoch-1")
    assert r.status_code == 200 and 'filename="run-7-epoch-1.npz"' in r.headers["content-disposition"]


@pytest.mark.parametrize(
    "bad_id", ["nope", "run-7:broken:x", "..", "..%2F..%2Fetc%2Fpasswd", "run-7:..:..:x"]
)
def test_download_unknown_is_404(models_api_env: ModelsEnv, bad_id: str) -> None:
    r = models_api_env.client.get(f"/api/models/{bad_id}")
    assert r.status_code == 404, r.text


def test_upload_round_trip(models_api_env: ModelsEnv) -> None:
    env = models_api_env
    data = tiny_checkpoint()
    r = upload(env.client, data, "My Net!.npz")
    assert r.status_code == 201, r.text
    summary = r.json()
    assert summary["id"].startswith("uploads:my-net-") and summary["kind"] == "upload"
    assert summary["preset"] == "tiny" and summary["test_accuracy"] == 0.5 and summary["params"] == 7850
    listed = {m["id"] for m in env.client.get("/api/models").json()["models"]}
    assert summary["id"] in listed
    assert env.client.get(f"/api/models/{summary['id']}").content == data
    r = env.client.post(f"/api/predict?model={summary['id']}", json={"pixels": [0.0] * 783 + [1.0]})
    assert r.status_code == 200 and r.json()["model"] == summary["id"]
    # Raw octet-stream uploads work too.
    r = env.client.post(
        "/api/models?filename=raw.npz", content=data, headers={"content-type": "application/octet-stream"}
    )
    assert r.status_code == 201 and r.json()["id"].startswith("uploads:raw-")


def test_upload_never_overwrites(models_api_env: ModelsEnv) -> None:
    env = models_api_env
    before = tree(env.models_dir)
    ids = set()
    for name in ("cnn.npz", "cnn.npz", "../models/cnn.npz", "/abs/../../run-7/epoch-1.npz", ".npz"):
        r = upload(env.client, tiny_checkpoint(), name)
        assert r.status_code == 201, r.text
        ids.add(r.json()["id"])
    assert len(ids) == 5 and all(i.startswith("uploads:") for i in ids)
    assert tree(env.models_dir) == before  # bundled models untouched
    assert env.client.get("/api/models/cnn").content == (REPO / "models" / "cnn.npz").read_bytes()
    assert (env.runs_dir / "run-7" / "epoch-1.npz").read_bytes() == (REPO / "models" / "cnn.npz").read_bytes()
    assert len(list((env.runs_dir / "uploads").iterdir())) == 5  # no temporary files left behind


def pickle_npz() -> bytes:
    buf = io.BytesIO()
    valid = dict(np.load(io.BytesIO(tiny_checkpoint()), allow_pickle=False))
    valid["1.W"] = np.array([{"evil": "object"}], dtype=object)  # np.savez pickles object arrays
    np.savez(buf, **valid)
    return buf.getvalue()


def zip_with(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def spec_only_npz(spec: dict) -> bytes:
    buf = io.BytesIO()
    as_bytes = lambda v: np.frombuffer(json.dumps(v).encode(), dtype=np.uint8)  # noqa: E731
    np.savez(buf, __spec__=as_bytes(spec), __meta__=as_bytes({}))
    return buf.getvalue()


HOSTILE = {
    "pickle object array": pickle_npz,
    "truncated zip": lambda: tiny_checkpoint()[:2000],
    "random bytes": lambda: np.random.default_rng(0).bytes(5000),
    "empty file": lambda: b"",
    "plain npy": lambda: (lambda b: (np.save(b, np.zeros(3)), b.getvalue())[1])(io.BytesIO()),
    "zip of text": lambda: zip_with({"hello.txt": b"hi"}),
    "missing weights": lambda: spec_only_npz({"input_shape": [1, 28, 28], "layers": [{"type": "flatten"}]}),
    "bad spec": lambda: spec_only_npz({"layers": [{"type": "rm -rf"}]}),
    "not 28x28": lambda: tiny_checkpoint(input_shape=[3, 32, 32]),
    "not 10 classes": lambda: tiny_checkpoint(units=4),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_uploads_refused_and_nothing_stored(models_api_env: ModelsEnv, name: str) -> None:
    env = models_api_env
    before = tree(env.runs_dir)
    assert_4xx(upload(env.client, HOSTILE[name]()), 422)
    assert tree(env.runs_dir) == before


def test_oversize_upload_is_413(models_api_env: ModelsEnv) -> None:
    env = models_api_env
    before = tree(env.runs_dir)
    huge = b"PK" + b"\0" * (UPLOAD_LIMIT + 10)
    assert_4xx(upload(env.client, huge), 413)
    r = env.client.post("/api/models", content=huge, headers={"content-type": "application/octet-stream"})
    assert_4xx(r, 413)
    assert tree(env.runs_dir) == before


def test_a_refused_upload_is_named_as_it_was_sent(models_api_env: ModelsEnv) -> None:
    client = models_api_env.client
    r = client.post("/api/models", files={"file": ("d0_7.png", b"\x89PNG\r\n\x1a\n" + bytes(64))})
    assert assert_4xx(r, 422).startswith("d0_7.png: "), r.text
    r = client.post("/api/models", content=b"junk", headers={"content-type": "application/octet-stream"})
    assert assert_4xx(r, 422).startswith("upload: "), r.text


def test_upload_wrong_shape_of_request(models_api_env: ModelsEnv) -> None:
    client = models_api_env.client
    assert_4xx(client.post("/api/models", content=b"{}", headers={"content-type": "application/json"}), 415)
    r = client.post("/api/models", files={"checkpoint": ("a.npz", tiny_checkpoint(), "application/x")})
    assert "file" in assert_4xx(r, 422)


def test_extra_form_fields_are_refused(models_api_env: ModelsEnv) -> None:
    """QA #6: the upload's schema says additionalProperties: false; a stray field is a 400 naming
    it (the prediction's form too), and nothing is stored."""
    env = models_api_env
    files = {"file": ("m.npz", tiny_checkpoint(), "application/octet-stream")}
    r = env.client.post("/api/models", files=files, data={"extra": "hello"})
    assert "unexpected field(s) 'extra'" in assert_4xx(r, 400)
    assert not (env.runs_dir / "uploads").exists() or not list((env.runs_dir / "uploads").iterdir())
    png = io.BytesIO()
    Image.new("L", (28, 28)).save(png, format="PNG")
    r = env.client.post(
        "/api/predict", files={"image": ("d.png", png.getvalue(), "image/png")}, data={"x": "1"}
    )
    assert "unexpected field(s) 'x'" in assert_4xx(r, 400)
