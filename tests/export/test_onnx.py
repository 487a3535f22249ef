"""ONNX export: the exported graph, run by ONNX Runtime, reads 1,000 MNIST test digits as glassnet does
(>= 99.9% the same answers, probabilities within 1e-4) for the bundled cnn, mlp and notes; every layer
type maps (random weights, 'same' padding and stride included); the CLI and the API export it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from glassnet.cli import main
from glassnet.data.mnist import load_splits
from glassnet.export.onnx import onnx_model
from glassnet.nn import load_checkpoint
from glassnet.nn.model import Sequential
from glassnet.paths import resolve_model
from glassnet.service.app import create_app
from glassnet.service.settings import Settings
from glassnet.training.trainer import predict_probabilities

N_DIGITS = 1000


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    test = load_splits(validation=0).test
    return test.x[:N_DIGITS], test.y[:N_DIGITS]


def _run_onnx(path_or_bytes: Path | bytes, x: np.ndarray) -> np.ndarray:
    source = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels"]
    return session.run(["probabilities"], {"pixels": x})[0]


@pytest.mark.parametrize("name", ["cnn", "mlp", "notes"])
def test_bundled_models_agree_with_onnx_runtime(name: str, digits, tmp_path: Path, capsys) -> None:
    x, y = digits
    out = tmp_path / f"{name}.onnx"
    assert main(["export", name, "--onnx", str(out)]) == 0
    ours = predict_probabilities(load_checkpoint(resolve_model(name)).model.astype(np.float32), x)
    theirs = _run_onnx(out, x)
    agreement = float((ours.argmax(1) == theirs.argmax(1)).mean())
    max_diff = float(np.abs(ours - theirs).max())
    print(
        f"{name}: agreement {agreement:.4f} on {N_DIGITS} digits, max probability difference {max_diff:.2e}"
    )
    assert agreement >= 0.999 and max_diff <= 1e-4
    assert (theirs.argmax(1) == y).mean() > 0.9  # and they are real readings, not all zeros
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["preset"] == name and float(meta["test_accuracy"]) > 0.9


def test_every_layer_type_maps(digits) -> None:
    spec = {
        "input_shape": [1, 28, 28],
        "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2, "padding": "same"},
            {"type": "leaky_relu", "alpha": 0.1},
            {"type": "conv2d", "filters": 4, "kernel": 3},
            {"type": "tanh"},
            {"type": "avgpool2d", "size": 3, "stride": 2},
            {"type": "maxpool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.5},
            {"type": "dense", "units": 12},
            {"type": "sigmoid"},
            {"type": "dense", "units": 10},
            {"type": "softmax"},
        ],
        "loss": "mse",
    }
    model = Sequential.from_spec(spec, np.random.default_rng(3)).astype(np.float32)
    x = digits[0][:200]
    theirs = _run_onnx(onnx_model(model).SerializeToString(), x)
    np.testing.assert_allclose(theirs, predict_probabilities(model, x), atol=1e-5)


def test_api_offers_the_onnx_download(small_mnist: Path, tmp_path: Path, digits) -> None:
    settings = Settings(
        data_dir=tmp_path / "runs", dataset=small_mnist, validation=100, allowed_hosts=["testserver"]
    )
    with TestClient(create_app(settings)) as client:
        r = client.get("/api/models/mlp/onnx")
        assert client.get("/api/models/nope/onnx").status_code == 404
    assert r.status_code == 200 and 'filename="mlp.onnx"' in r.headers["content-disposition"]
    x = digits[0][:50]
    ours = predict_probabilities(load_checkpoint(resolve_model("mlp")).model.astype(np.float32), x)
    np.testing.assert_allclose(_run_onnx(r.content, x), ours, atol=1e-4)


def test_onnx_file_is_a_valid_model(tmp_path: Path) -> None:
    out = tmp_path / "cnn.onnx"
    assert main(["export", "cnn", "--onnx", str(out)]) == 0
    onnx.checker.check_model(onnx.load(io.BytesIO(out.read_bytes())), full_check=True)
