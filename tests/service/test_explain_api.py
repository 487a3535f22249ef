"""``/api/explain…`` through real HTTP: exact numbers (bar 1), an honest step (bar 2), 4xx for bad
input (bar 4). The bundled models and the first test digits of the bundled MNIST."""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_helpers import TINY_MLP, wait_status

from glassnet.data.mnist import read_idx
from glassnet.nn.checkpoint import checkpoint_bytes, read_checkpoint
from glassnet.nn.explain import log_softmax
from glassnet.nn.gradcheck import relative_error
from glassnet.nn.losses import compute_loss
from glassnet.nn.model import Sequential
from glassnet.training.probes import probe_indices

BUNDLED = Path(__file__).resolve().parents[2] / "models"
# A small random network with every kind of layer the explain view draws (seeded, untrained).
RANDOM_CONV = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 3, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "conv2d", "filters": 4, "kernel": 3, "stride": 2, "padding": "same"},
        {"type": "tanh"},
        {"type": "avgpool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
    "loss": "cross_entropy",
}
DIGITS = range(20)


def finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_everywhere(v) for v in value)
    return True


def strict(response: Any) -> dict[str, Any]:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in an answer")

    return json.loads(response.text, parse_constant=refuse)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sequential]:
    out = {name: read_checkpoint(BUNDLED / f"{name}.npz").model for name in ("notes", "mlp", "cnn")}
    out["random"] = Sequential.from_spec(RANDOM_CONV, np.random.default_rng(7))
    for layer in out["random"].layers:  # random biases too (the built ones are zeros)
        if "b" in layer.params:
            layer.params["b"][...] = np.random.default_rng(8).normal(0, 0.1, layer.params["b"].shape)
    return out


def upload_random(client: TestClient, model: Sequential) -> str:
    data = checkpoint_bytes(model, meta={"preset": "random"}, spec=RANDOM_CONV)
    r = client.post("/api/models", files={"file": ("random-conv.npz", io.BytesIO(data))})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def copy_as(model: Sequential, dtype: type) -> Sequential:
    net = Sequential.from_spec(model.spec()).astype(dtype)
    net.load_state_dict({k: v.astype(dtype) for k, v in model.state_dict().items()})
    return net


def library_gradients(model: Sequential, x: np.ndarray, target: int) -> dict[str, np.ndarray]:
    """The library's own backward on the one-example batch, on a float64 copy."""
    net = copy_as(model, np.float64)
    _, dout = compute_loss(net.loss, net.forward(x[None]), np.array([target]))
    net.backward(dout)
    return {name: g.copy() for name, _, g in net.named_params()}


def cost_of(net: Sequential, x: np.ndarray, target: int) -> np.floating:
    """The cost without the training loss's clamp (cross-entropy by log-softmax): the function
    whose derivative the backward pass computes, in the network's own dtype."""
    out = net.forward(x[None].astype(next(iter(net.state_dict().values())).dtype))
    if net.loss == "mse":
        return ((out[0] - np.eye(out.shape[1], dtype=out.dtype)[target]) ** 2).sum()
    return -log_softmax(out)[0, target]


def central_differences(
    net: Sequential, param: np.ndarray, grad: np.ndarray, x: np.ndarray, target: int, rng: np.random.Generator
) -> tuple[list[float], list[float], int]:
    """(analytic, numeric) ∂C/∂θ for 5 random entries of ``param``; how many kinks were passed over.

    ``net`` is an 80-bit long-double copy: its rounding error in (C(θ+h) − C(θ−h))/2h, about
    1e-19·C/h, sits far below the smallest gradients (a saturated sigmoid layer's, ~1e-8), where
    float64 differences would be noise. Entries are drawn among those whose gradient is at least
    1e-3 of the array's largest (most entries of a trained network's gradient are near zero) and
    where the cost is differentiable: ReLU and max pooling have kinks, and an all-black
    background puts many pre-activations exactly on them (z = b), where the left and right
    difference quotients differ and the library takes one side (ReLU′(0) = 0, a tie's first
    winner).
    """
    h = 1e-6
    flat = np.abs(grad).ravel()
    candidates = rng.permutation(np.flatnonzero(flat >= max(1e-3 * flat.max(), 1e-15)))
    analytic, numeric, kinks = [], [], 0
    for i in candidates:
        idx = np.unravel_index(i, grad.shape)
        old = param[idx]
        here = cost_of(net, x, target)
        param[idx] = old + h
        plus = cost_of(net, x, target)
        param[idx] = old - h
        minus = cost_of(net, x, target)
        param[idx] = old
        right, left = (plus - here) / h, (here - minus) / h
        if abs(right - left) > 1e-3 * (abs(right) + abs(left)) + 1e-9:
            kinks += 1
            continue
        analytic.append(float(grad[idx]))
        numeric.append(float((plus - minus) / (2 * h)))
        if len(analytic) == 5:
            break
    return analytic, numeric, kinks


def test_explain_is_exact(client: TestClient, models: dict[str, Sequential]) -> None:
    """Bar 1: 20 test digits × 3 bundled models + a random conv net: the answer's ∂C/∂W, ∂C/∂b are
    the library's backward (≤ 1e-6) and agree with central differences on 5 random parameters
    per parameter array (relative error ≤ 1e-5; see central_differences); every number is finite."""
    ids = {"notes": "notes", "mlp": "mlp", "cnn": "cnn", "random": upload_random(client, models["random"])}
    rng = np.random.default_rng(0)
    worst_abs, worst_rel, kinks, checked = 0.0, 0.0, 0, 0
    for name, model_id in ids.items():
        model = models[name]
        params = copy_as(model, np.longdouble)
        by_name = {n: q for n, q, _ in params.named_params()}
        for i in DIGITS:
            # A target other than the label, so that every layer's gradient is large enough to see.
            label = client.post("/api/explain", json={"model": model_id, "test_index": i, "layers": []})
            target = (label.json()["source"]["label"] + 1 + i % 9) % 10
            r = client.post("/api/explain", json={"model": model_id, "test_index": i, "target": target})
            assert r.status_code == 200, r.text
            answer = strict(r)
            assert finite_everywhere(answer)
            assert answer["target"] == target and answer["target_was_given"]
            assert answer["cost"] == pytest.approx(sum(answer["terms"]), rel=1e-12)
            x = np.array(answer["input"]["values"]).reshape(answer["input"]["shape"])
            expected = library_gradients(model, x, target)
            for layer in answer["layers"]:
                for key, p in layer["params"].items():
                    name_ = f"{layer['index']}.{key}"
                    got = np.array(p["grad"]).reshape(p["shape"])
                    worst_abs = max(worst_abs, float(np.abs(got - expected[name_]).max()))
                    analytic, numeric, skipped = central_differences(
                        params, by_name[name_], got, x, target, rng
                    )
                    kinks += skipped
                    checked += len(analytic)
                    assert analytic, f"{name} digit {i}: no entry of {name_} could be checked"
                    worst_rel = max(worst_rel, relative_error(np.array(analytic), np.array(numeric)))
    print(
        f"explain exactness: max |Δ| {worst_abs:.2e}, worst relative error {worst_rel:.2e} over "
        f"{checked} central differences ({kinks} kinks passed over)"
    )
    assert worst_abs <= 1e-6, worst_abs
    assert worst_rel <= 1e-5, worst_rel
    possible = len(DIGITS) * sum(min(5, v.size) for m in models.values() for v in m.state_dict().values())
    assert checked >= 0.85 * possible, (checked, possible)


def test_conv_explain_equals_reference_and_fast_path(
    client: TestClient, models: dict[str, Sequential]
) -> None:
    """Bar 1, convolution: the input gradient by the notes' full convolution equals the fast path."""
    random_id = upload_random(client, models["random"])
    for model_id, layers in (("cnn", (0, 3)), (random_id, (0, 3))):
        for i in (0, 1, 2):
            target = (i + 5) % 10
            whole = strict(
                client.post("/api/explain", json={"model": model_id, "test_index": i, "target": target})
            )
            for layer in layers:
                w_shape = whole["layers"][layer]["params"]["W"]["shape"]
                for f, c in ((0, 0), (w_shape[0] - 1, w_shape[1] - 1)):
                    body = {
                        "model": model_id,
                        "test_index": i,
                        "target": target,
                        "layer": layer,
                        "kernel": f,
                        "channel": c,
                    }
                    r = client.post("/api/explain/conv", json=body)
                    assert r.status_code == 200, r.text
                    e = strict(r)
                    assert finite_everywhere(e)
                    assert max(e["checks"].values()) <= 1e-5, e["checks"]
                    maps = {k: np.array(v["values"]).reshape(v["shape"]) for k, v in e["maps"].items()}
                    # the same numbers as /api/explain's (the fast path's) input error and kernel gradient
                    prev = whole["layers"][layer - 1]["grad_output"] if layer else whole["input_grad"]
                    fast_dx = np.array(prev["values"]).reshape(prev["shape"])[c]
                    assert np.abs(maps["input_grad"] - fast_dx).max() <= 1e-5
                    dw = np.array(whole["layers"][layer]["params"]["W"]["grad"]).reshape(w_shape)
                    assert np.abs(maps["kernel_grad"] - dw[f, c]).max() <= 1e-5
                    np.testing.assert_array_equal(maps["rotated"], maps["kernel"][::-1, ::-1])
            for layer in (2, 5):  # pooling: where each window's error goes
                r = client.post(
                    "/api/explain/conv",
                    json={"model": model_id, "test_index": i, "target": target, "layer": layer, "channel": 1},
                )
                assert r.status_code == 200, r.text
                assert max(r.json()["checks"].values()) <= 1e-5


def sha(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_step_is_honest_and_touches_nothing(client: TestClient) -> None:
    """Bar 2: a step at the default learning rate lowers the digit's cost in ≥ 19 of 20 test
    digits for the notes model and the cnn; runs, checkpoints and bundled files are unchanged."""
    run = client.post("/api/runs", json={"spec": TINY_MLP, "epochs": 1, "batch_size": 32}).json()
    wait_status(client, run["id"], "finished")
    data_dir = Path(client.app.state.settings.data_dir)
    before_runs, before_models = sha(data_dir), sha(BUNDLED)
    run_before = client.get(f"/api/runs/{run['id']}").json()
    for model_id in ("notes", "cnn"):
        lowered = 0
        for i in DIGITS:
            lr = client.post("/api/explain", json={"model": model_id, "test_index": i, "layers": []}).json()[
                "step_lr"
            ]
            r = client.post(
                "/api/explain/step", json={"model": model_id, "examples": [{"test_index": i}], "lr": lr}
            )
            assert r.status_code == 200, r.text
            s = r.json()
            lowered += s["cost_after"] < s["cost_before"]
            assert s["curve"]["cost"][0] == pytest.approx(s["cost_before"])
        assert lowered >= 19, (model_id, lowered)
    # the run itself, and a scratch copy stepped twice
    first = client.post(
        "/api/explain/step",
        json={"model": run["id"], "examples": [{"test_index": 0}], "lr": 0.5, "keep": True},
    ).json()
    second = client.post(
        "/api/explain/step", json={"model": first["scratch"], "examples": [{"test_index": 0}], "lr": 0.5}
    ).json()
    assert second["cost_before"] == pytest.approx(first["cost_after"])
    assert second["origin"] == run["id"]
    assert sha(data_dir) == before_runs
    assert sha(BUNDLED) == before_models
    assert client.get(f"/api/runs/{run['id']}").json() == run_before


def test_mini_batch_gradient_is_the_average(client: TestClient) -> None:
    body = {"model": "notes", "examples": [{"test_index": i} for i in range(8)], "lr": 1.5}
    s = client.post("/api/explain/step", json=body).json()
    assert len(s["examples"]) == 8
    singles = np.array([e["weight_grad"]["values"] for e in s["examples"]])
    np.testing.assert_allclose(singles.mean(axis=0), s["batch_weight_grad"]["values"], rtol=1e-9, atol=1e-15)
    assert s["average_matches_batch"] < 1e-12
    assert s["cost_after"] < s["cost_before"]


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("", {"model": "notes", "pixels": [[0.5, 0.2], [0.1]]}, 422, "equal length"),
        ("", {"model": "notes", "pixels": [0.5] * 17}, 422, "784 numbers"),
        ("", {"model": "notes", "pixels": [[0.5] * 784]}, 422, "a 1x784 grid"),
        ("", {"model": "notes", "pixels": [0.0] * 784}, 422, "too little ink"),
        ("", {"model": "notes", "pixels": [2.0] * 784}, 422, "[0, 1]"),
        ("", {"model": "notes", "test_index": 0, "target": 10}, 422, "target must be in 0..9"),
        ("", {"model": "notes", "test_index": 0, "target": -1}, 422, "target"),
        ("", {"model": "notes", "test_index": 10**6}, 422, "test_index must be in"),
        ("", {"model": "notes"}, 422, "exactly one of"),
        ("", {"model": "notes", "test_index": 1, "probe": 2}, 422, "exactly one of"),
        ("", {"model": "notes", "test_index": 1, "layers": [40]}, 422, "no layer 40"),
        ("", {"model": "notes", "test_index": 1, "colour": "red"}, 422, "colour"),
        ("", {"model": "no-such-model", "test_index": 1}, 404, "unknown model"),
        ("", {"model": "", "test_index": 1}, 422, "model"),  # empty: named, not the default
        ("", {"model": "scratch:feedface", "test_index": 1}, 404, "scratch"),
        ("/conv", {"model": "cnn", "test_index": 1, "layer": 1}, 422, "relu layer"),
        ("/conv", {"model": "cnn", "test_index": 1, "layer": 40}, 422, "no layer 40"),
        (
            "/conv",
            {"model": "cnn", "test_index": 1, "layer": 0, "kernel": 16},
            422,
            "kernel must be in 0..15",
        ),
        (
            "/conv",
            {"model": "cnn", "test_index": 1, "layer": 3, "channel": 16},
            422,
            "channel must be in 0..15",
        ),
        ("/conv", {"model": "notes", "test_index": 1, "layer": 1}, 422, "has none"),
        ("/step", {"model": "cnn", "examples": [{"test_index": 0}], "lr": 0}, 422, "lr"),
        ("/step", {"model": "cnn", "examples": [{"test_index": 0}], "lr": -1}, 422, "lr"),
        ("/step", {"model": "cnn", "examples": [{"test_index": 0}] * 33, "lr": 0.1}, 422, "at most 32"),
        ("/step", {"model": "cnn", "examples": [], "lr": 0.1}, 422, "at least 1"),
        ("/step", {"model": "cnn", "examples": [{"test_index": 0, "target": 12}], "lr": 0.1}, 422, "target"),
        ("/step", {"model": "notes", "examples": [{"test_index": 0}], "lr": 100}, 200, ""),
    ],
)
def test_bad_input_is_named(client: TestClient, path: str, body: dict, status: int, words: str) -> None:
    """Bar 4: wrong shapes, unknown layer or kernel, targets outside 0–9, lr ≤ 0, batches over the
    cap → a 4xx naming the problem (never a 500)."""
    r = client.post(f"/api/explain{path}", json=body)
    assert r.status_code == status, r.text
    if status != 200:
        assert words in r.json()["detail"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("", b'{"model": "notes", "pixels": [NaN, 0.5]}'),
        ("/step", b'{"model": "notes", "examples": [{"test_index": 0}], "lr": NaN}'),
        ("/step", b'{"model": "notes", "examples": [{"test_index": 0}], "lr": Infinity}'),
        ("", b'{"model": "notes", "test_index": "3"}'),
        ("", b"[1, 2, 3]"),
        ("", b"not json"),
    ],
)
def test_nan_and_garbage_are_422(client: TestClient, path: str, raw: bytes) -> None:
    r = client.post(f"/api/explain{path}", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"]


def test_sources_agree(client: TestClient) -> None:
    """A probe is a test digit; a drawing is prepared like a prediction; labels come along."""
    probe = client.post("/api/explain", json={"model": "notes", "probe": 3}).json()
    labels = read_idx(Path(client.app.state.settings.dataset) / "t10k-labels-idx1-ubyte")
    index = int(probe_indices(labels.astype(np.int64))[3])
    test = client.post("/api/explain", json={"model": "notes", "test_index": index}).json()
    assert probe["source"]["kind"] == "probe" and probe["source"]["label"] == 3
    assert probe["target"] == 3  # the true label by default
    assert probe["input"] == test["input"] and probe["cost"] == test["cost"]
    grid = np.zeros((28, 28))
    grid[4:24, 12:15] = 1.0  # a drawn "1"
    drawn = client.post("/api/explain", json={"model": "notes", "pixels": grid.tolist(), "layers": []}).json()
    assert drawn["source"] == {"kind": "pixels", "index": None, "label": None}
    assert drawn["target"] == drawn["prediction"]  # no label: the network's own reading
    predicted = client.post("/api/predict?model=notes", json={"pixels": grid.tolist()}).json()
    assert drawn["prediction"] == predicted["digit"]
    assert np.allclose(drawn["probabilities"], predicted["probabilities"], atol=1e-6)
    val = client.post("/api/explain", json={"model": "notes", "validation_index": 5, "layers": []}).json()
    assert val["source"]["kind"] == "validation" and val["source"]["label"] in range(10)
