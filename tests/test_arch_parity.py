"""The editor's instant shape check (frontend/js/arch.js) says what the server says: the same
specs run through both — node with the catalog the API serves, and POST /api/architecture — give
the same shapes and parameter counts, or the same sentence naming the layer that does not fit.
(Options out of range — a kernel of 0 — are refused by the request schema first, before any shape
is inferred: those are the schema's messages, not shape inference's.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from glassnet.service.app import create_app
from glassnet.service.routes.catalog import all_presets, layer_catalog
from glassnet.service.settings import Settings
from test_frontend_protocol import js_module, node_json

ROOT = Path(__file__).resolve().parents[1]
FLAT = [{"type": "flatten"}, {"type": "dense", "units": 10}]
SPECS = [
    *all_presets().values(),
    {
        "input_shape": [1, 28, 28],
        "layers": [{"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"}, *FLAT],
    },
    {"input_shape": [1, 28, 28], "layers": [{"type": "conv2d", "filters": 4, "kernel": 29}, *FLAT]},
    {"input_shape": [1, 28, 28], "layers": [{"type": "dense", "units": 10}]},
    {"input_shape": [1, 28, 28], "layers": [{"type": "maxpool2d", "size": 32}, *FLAT]},
    {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 5},
            {"type": "maxpool2d", "size": 2},
            {"type": "conv2d", "filters": 8, "kernel": 13},
            *FLAT,
        ],
    },
    {"input_shape": [1, 28, 28], "layers": [*FLAT, {"type": "softmax"}], "loss": "cross_entropy"},
]


def js_infer(specs: list[dict]) -> list[dict]:
    cat = json.dumps(layer_catalog().model_dump())
    return node_json(
        f"import {{ inferShapes }} from {js_module('arch.js')};"
        f"const cat = {cat}; const specs = {json.dumps(specs)};"
        "process.stdout.write(JSON.stringify(specs.map((s) => inferShapes(s, cat))));"
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("parity"), allowed_hosts=["testserver"]))
    with TestClient(app) as c:
        yield c


def test_the_page_and_the_server_agree(client: TestClient) -> None:
    page = js_infer(SPECS)
    for spec, js in zip(SPECS, page, strict=True):
        body = {k: spec[k] for k in ("input_shape", "layers", "loss") if k in spec}
        r = client.post("/api/architecture", json=body)
        if r.status_code == 200:
            served = r.json()
            assert js["error"] is None, (spec, js["error"])
            assert [row["outShape"] for row in js["rows"]] == [
                row["output_shape"] for row in served["layers"]
            ]
            assert [row["params"] for row in js["rows"]] == [row["params"] for row in served["layers"]]
            assert [row["formula"] for row in js["rows"]] == [row["formula"] for row in served["layers"]]
        else:
            assert r.status_code == 422, r.text
            detail = r.json()["detail"].removeprefix("the architecture does not build: ")
            assert js["error"] is not None, (spec, detail)
            assert js["error"]["message"] == detail, spec
