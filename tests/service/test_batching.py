"""Micro-batched predictions: concurrent requests share forward passes, each gets its own
answer (or its own error), and the fast JSON reading accepts exactly what the full one does."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from glassnet.data.mnist import read_idx
from glassnet.data.preprocess import pixel_grid
from glassnet.service.batching import PredictBatcher
from glassnet.service.inference import DigitQuery, ModelRegistry, UnknownModelError
from glassnet.service.routes import predict as predict_routes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("batching")
    (root / "models").mkdir()
    for name in ("cnn", "mlp"):
        shutil.copy(REPO / "models" / f"{name}.npz", root / "models" / f"{name}.npz")
    return ModelRegistry(root / "models", root / "runs")


@pytest.fixture(scope="module")
def digits() -> list[list[list[float]]]:
    images = read_idx(REPO / "data" / "mnist" / "t10k-images-idx3-ubyte.gz")[:24]
    return [(img / 255.0).round(4).tolist() for img in images]


def assert_same_activations(batched: list, single: list) -> None:
    """The layers a batch gives for a digit are the ones a prediction of it alone gives: the same
    layers and shapes, each map's range within float32 rounding and its picture within one grey
    level. Not bit for bit: a batch's matrix products sum in other blocks than a lone digit's on
    some CPUs' BLAS (seen on an AMD EPYC: a conv map's minimum -7.12858 alone, -7.12857 batched)."""
    assert [(a.index, a.type, a.kind, a.shape) for a in batched] == [
        (a.index, a.type, a.kind, a.shape) for a in single
    ]
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a.min, b.min, rtol=1e-5, atol=1e-6, err_msg=f"layer {a.index}")
        np.testing.assert_allclose(a.max, b.max, rtol=1e-5, atol=1e-6, err_msg=f"layer {a.index}")
        pa = np.frombuffer(base64.b64decode(a.data), np.uint8).astype(int)
        pb = np.frombuffer(base64.b64decode(b.data), np.uint8).astype(int)
        assert np.abs(pa - pb).max() <= 1, f"layer {a.index}"


def test_a_batch_answers_each_query_as_predict_would(registry: ModelRegistry, digits: list) -> None:
    queries = [DigitQuery(pixels=d, model_id="mlp" if i % 3 == 0 else None) for i, d in enumerate(digits)]
    queries += [
        DigitQuery(pixels=[[0.0] * 28] * 28),  # no ink: empty, nothing guessed
        DigitQuery(pixels=[0.5, 0.2]),  # bad shape: its own ValueError
        DigitQuery(pixels=digits[0], model_id="nope"),  # unknown model: its own error
        DigitQuery(pixels=digits[1], activations=True),
        DigitQuery(),  # neither pixels nor image
    ]
    results = registry.predict_batch(queries)
    assert len(results) == len(queries)
    for query, result in zip(queries[:24], results[:24], strict=True):
        single = registry.predict(pixels=query.pixels, model_id=query.model_id)
        assert result.model == single.model and result.digit == single.digit
        np.testing.assert_allclose(result.probabilities, single.probabilities, atol=1e-5)
        assert result.prepared == single.prepared
    assert results[24].empty and results[24].digit is None
    assert isinstance(results[25], ValueError) and "got shape (2,)" in str(results[25])
    assert isinstance(results[26], UnknownModelError)
    with_acts = results[27]
    assert with_acts.activations is not None and len(with_acts.activations) == 10
    assert_same_activations(
        with_acts.activations, registry.predict(pixels=digits[1], activations=True).activations
    )
    assert isinstance(results[28], ValueError) and "either pixels or an image" in str(results[28])


def test_concurrent_predictions_share_forward_passes(registry: ModelRegistry, digits: list) -> None:
    async def main() -> tuple[list, PredictBatcher]:
        batcher = PredictBatcher(registry)
        try:
            answers = await asyncio.gather(
                *(batcher.predict(pixels=digits[i % len(digits)]) for i in range(48)),
                batcher.predict(pixels=[1.0]),
                return_exceptions=True,
            )
        finally:
            batcher.close()
        return answers, batcher

    answers, batcher = asyncio.run(main())
    assert batcher.answered == 48 and batcher.batches < 10  # 49 requests, a few forward passes
    for i, answer in enumerate(answers[:48]):
        assert answer.digit == registry.predict(pixels=digits[i % len(digits)]).digit
    assert isinstance(answers[48], ValueError)  # one bad request fails alone


@pytest.fixture(scope="module")
def client(registry: ModelRegistry) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.registry = registry
    app.include_router(predict_routes.router)
    with TestClient(app) as c:
        yield c


def test_http_predictions_in_parallel(client: TestClient, digits: list) -> None:
    def post(i: int) -> dict:
        r = client.post("/api/predict", json={"pixels": digits[i % len(digits)]})
        assert r.status_code == 200, r.text
        return r.json()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(40)))
    expected = [client.post("/api/predict", json={"pixels": d}).json()["digit"] for d in digits]
    assert [a["digit"] for a in answers] == [expected[i % len(digits)] for i in range(40)]
    assert client.app.state.predict_batcher.batches >= 1


@pytest.mark.parametrize(
    "body",
    [
        '{"pixels": [[0, 1, 0.5], [0.25, 0, 1]]}',  # a small integer/float grid: read fast
        '{"pixels": [[0, true, 0.5]]}',
        '{"pixels": [[0, null, 0.5]]}',
        '{"pixels": [[0, "1", 0.5]]}',
        '{"pixels": [[0, 99999999999999999999999, 0.5]]}',  # beyond int64: no numeric array
        '{"pixels": [[0, 1], [0.5, 1e999]]}',
        '{"pixels": [[0, 1], [0.5]]}',
        '{"pixels": [[[0.5]]]}',
        '{"pixels": [0.5, 0.5]}',
        '{"pixels": []}',
        '{"pixels": [[]]}',
        '{"pixels": [[0, 2]]}',
        '{"pixels": [[0, 1e999]]}',
        '{"pixels": [[0, NaN]]}',
        '{"pixels": 5}',
        '{"pixels": [[0, 1]], "extra": 1}',
        '{"pixels": [[0, 1]],}',
        '{"pixels": [[0, 1], [01, 1]]}',  # not JSON: a leading zero
        '{"pixels": [[0, 1.], [1, 1]]}',  # not JSON: no digit after the point
        '{"pixels": [[0, 1], [1, 1],]}',  # not JSON: a trailing comma
        '{"pixels": [[0, -Infinity]]}',
    ],
)
def test_fast_json_reading_agrees_with_the_full_validation(client: TestClient, body: str) -> None:
    """Every body gets the same status as before the fast path, and the fast path only takes
    bodies that the full validation accepts."""
    fast = predict_routes.plain_grid(body.encode())
    r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
    try:
        full = predict_routes.PredictRequest.model_validate(json.loads(body))
    except Exception:
        full = None
    if fast is not None:
        assert full is not None, "the fast path took a body the full validation refuses"
        np.testing.assert_array_equal(fast, np.asarray(full.pixels, dtype=np.float64))
    if full is None:
        assert r.status_code == 422, r.text
    else:
        try:
            pixel_grid(full.pixels)
            ok = True
        except ValueError:
            ok = False
        assert r.status_code == (200 if ok else 422), r.text


def test_fast_json_reading_gives_the_numbers_json_loads_gives(digits: list) -> None:
    """The fast path's parser (pydantic-core's) reads every number to the same float as
    ``json.loads``: digits with up to 17 significant figures, exponents, negative zero."""
    rng = np.random.default_rng(11)
    grids = [
        rng.random((28, 28)).tolist(),  # 16-17 significant figures
        (rng.random((28, 28)) * 1e-7).tolist(),  # exponents
        [[-0.0, 1e-300, 5e-324, 0.1, 1, 0, 1.0, 0.30000000000000004] * 3],
        digits[0],
    ]
    for grid in grids:
        body = json.dumps({"pixels": grid})
        fast = predict_routes.plain_grid(body.encode())
        assert fast is not None
        expected = np.asarray(json.loads(body)["pixels"], dtype=np.float64)
        assert fast.tobytes() == expected.tobytes()  # bit for bit, the sign of zero too
