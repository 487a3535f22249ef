"""Arrays on the wire: per-map uint8 normalisation, the decoding rule, and no NaN ever."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest

from glassnet.nn import Sequential, read_checkpoint
from glassnet.presets import load_preset
from glassnet.service.encoding import (
    EncodedArray,
    LayerActivation,
    encode_activations,
    encode_all_activations,
    encode_array,
    encode_image28,
    encode_samples,
)

REPO = Path(__file__).resolve().parents[2]


def decode(enc: dict) -> np.ndarray:
    """The decoding rule of the module docstring, written independently of the encoder."""
    shape = enc["shape"]
    data = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint8).astype(np.float64)
    assert data.size == math.prod(shape)
    n_maps = len(enc["min"])
    assert len(enc["max"]) == n_maps
    per_map = data.size // n_maps if n_maps else 0
    lo = np.repeat(np.asarray(enc["min"], dtype=np.float64), per_map)
    hi = np.repeat(np.asarray(enc["max"], dtype=np.float64), per_map)
    return (lo + data / 255.0 * (hi - lo)).reshape(shape)


def json_safe(value: object) -> str:
    return json.dumps(value, allow_nan=False)


def test_feature_maps_get_their_own_range_and_round_trip() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 5, 7)).astype(np.float32)
    a[1] *= 1000.0  # a loud map must not wash out the quiet ones
    enc = encode_array(a, per_map_axes=2)
    assert set(enc) == {"shape", "min", "max", "data"}
    assert enc["shape"] == [3, 5, 7]
    assert len(enc["min"]) == len(enc["max"]) == 3
    np.testing.assert_allclose(enc["min"], a.reshape(3, -1).min(axis=1), rtol=1e-5)
    np.testing.assert_allclose(enc["max"], a.reshape(3, -1).max(axis=1), rtol=1e-5)
    back = decode(enc)
    step = (a.reshape(3, -1).max(axis=1) - a.reshape(3, -1).min(axis=1)) / 255
    for m in range(3):
        assert np.abs(back[m] - a[m]).max() <= step[m] * 0.51 + 1e-4 * abs(a[m]).max()
    raw = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint8).reshape(3, -1)
    assert (raw.min(axis=1) == 0).all() and (raw.max(axis=1) == 255).all()
    EncodedArray(**enc)  # fits the response model


def test_vector_is_one_map() -> None:
    v = np.array([-2.0, 0.0, 2.0], dtype=np.float32)
    enc = encode_array(v, per_map_axes=1)
    assert enc["min"] == [-2.0] and enc["max"] == [2.0]
    assert list(base64.b64decode(enc["data"])) == [0, 128, 255]


def test_leading_axes_are_flattened_into_maps() -> None:
    enc = encode_array(np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5), per_map_axes=2)
    assert len(enc["min"]) == 6
    assert enc["min"][1] == 20.0 and enc["max"][1] == 39.0


def test_constant_map_is_zeros_with_equal_min_max() -> None:
    a = np.stack([np.full((4, 4), 3.5), np.eye(4)]).astype(np.float32)
    enc = encode_array(a)
    raw = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint8).reshape(2, 16)
    assert enc["min"][0] == enc["max"][0] == 3.5
    assert (raw[0] == 0).all()
    np.testing.assert_allclose(decode(enc)[0], 3.5)
    assert raw[1].max() == 255


@pytest.mark.parametrize(
    "values",
    [
        [np.nan, 1.0, 2.0],
        [np.inf, -np.inf, 1.0],
        [np.nan, np.nan, np.nan],
        [np.inf, np.inf, np.inf],
        [3e38, -3e38, 0.0],
        [1e308, -1e308, 5.0],
    ],
)
def test_non_finite_and_extreme_values_never_reach_json(values: list[float]) -> None:
    a = np.array(values, dtype=np.float64)
    for axes in (1, 0):
        enc = encode_array(a, per_map_axes=axes)
        json_safe(enc)
        assert all(math.isfinite(v) for v in enc["min"] + enc["max"])
        assert np.isfinite(decode(enc)).all()


def test_infinity_counts_as_the_maps_extreme_and_nan_as_zero() -> None:
    enc = encode_array(np.array([np.inf, -1.0, 4.0, np.nan]), per_map_axes=1)
    assert enc["min"] == [-1.0] and enc["max"] == [4.0]
    assert list(base64.b64decode(enc["data"])) == [255, 0, 255, 51]


def test_min_max_are_rounded_for_the_wire() -> None:
    enc = encode_array(np.array([0.123456789, 1 / 3]), per_map_axes=1)
    assert enc["min"] == [0.123457] and enc["max"] == [0.333333]


def test_empty_and_integer_arrays() -> None:
    assert encode_array(np.zeros((0, 3, 3)))["min"] == []
    assert encode_array(np.zeros((2, 0)), per_map_axes=1) == {
        "shape": [2, 0],
        "min": [0.0, 0.0],
        "max": [0.0, 0.0],
        "data": "",
    }
    enc = encode_array(np.array([[0, 255], [10, 20]], dtype=np.uint8))
    assert enc["min"] == [0.0] and enc["max"] == [255.0]


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="per_map_axes"):
        encode_array(np.zeros(3), per_map_axes=2)
    with pytest.raises(ValueError, match="numeric"):
        encode_array(np.array(["a", "b"]))


def test_image28_keeps_true_brightness() -> None:
    x = np.zeros((28, 28), dtype=np.float32)
    x[10:12, 10:12] = 0.5  # a faint digit stays faint
    x[0, 0] = np.nan
    x[0, 1] = 7.0
    enc = encode_image28(x)
    assert enc["shape"] == [28, 28] and enc["min"] == [0.0] and enc["max"] == [1.0]
    raw = np.frombuffer(base64.b64decode(enc["data"]), dtype=np.uint8).reshape(28, 28)
    assert raw[10, 10] == 128 and raw[0, 0] == 0 and raw[0, 1] == 255 and raw[20, 20] == 0
    json_safe(enc)
    with pytest.raises(ValueError):
        encode_image28(np.zeros(784))


@pytest.mark.parametrize("name", ["cnn", "mlp", "notes"])
def test_activations_follow_the_model_summary(name: str) -> None:
    path = REPO / "models" / f"{name}.npz"
    if not path.is_file():
        pytest.skip(f"{path} not trained yet")
    model = read_checkpoint(path).model
    x = np.random.default_rng(1).random((2, *model.input_shape), dtype=np.float32)
    _, acts = model.forward_record(x)
    layers = encode_activations(model, acts, sample=1)
    json_safe(layers)
    assert len(layers) == len(model.summary())
    for enc, info, act in zip(layers, model.summary(), acts, strict=True):
        LayerActivation(**enc)
        assert enc["index"] == info.index and enc["type"] == info.type
        assert tuple(enc["shape"]) == info.output_shape
        if len(info.output_shape) == 3:
            assert enc["kind"] == "maps" and len(enc["min"]) == info.output_shape[0]
        else:
            assert enc["kind"] == "vector" and len(enc["min"]) == 1
        span = float(act[1].max() - act[1].min())
        np.testing.assert_allclose(decode(enc), act[1], atol=span / 255 + 1e-4 * (1 + abs(act[1]).max()))
    with pytest.raises(ValueError, match="sample"):
        encode_activations(model, acts, sample=2)


@pytest.mark.parametrize(
    "shape,per_map_axes",
    [((10, 16, 12, 12), 2), ((10, 512), 1), ((3, 28, 28), 2), ((4, 2, 3, 5), 1), ((5,), 0)],
)
def test_a_batch_is_encoded_as_its_samples_one_by_one(shape: tuple[int, ...], per_map_axes: int) -> None:
    """One pass over the batch gives each sample's dict exactly, non-finite and constant maps
    included."""
    rng = np.random.default_rng(2)
    batch = rng.normal(size=shape).astype(np.float32) * 10.0 ** rng.integers(-8, 8)
    flat = batch.reshape(-1)
    flat[rng.integers(0, flat.size, 5)] = np.nan
    flat[rng.integers(0, flat.size, 3)] = np.inf
    flat[rng.integers(0, flat.size, 3)] = -np.inf
    if batch.ndim > 1:
        batch[1] = 0.25  # a sample whose maps are all constant
    got = encode_samples(batch, per_map_axes)
    assert got == [encode_array(batch[i], per_map_axes) for i in range(shape[0])]


def test_every_probe_is_encoded_as_on_its_own() -> None:
    model = Sequential.from_spec(load_preset("cnn"), np.random.default_rng(0))
    x = np.random.default_rng(1).random((6, 1, 28, 28), dtype=np.float32)
    _, acts = model.forward_record(x)
    one_by_one = [
        [
            {
                "index": index,
                "type": layer.kind,
                "kind": "maps" if a.ndim == 4 else "vector",
                **encode_array(a[i], per_map_axes=2 if a.ndim == 4 else 1),
            }
            for index, (layer, a) in enumerate(zip(model.layers, acts, strict=True))
        ]
        for i in range(6)
    ]
    assert encode_all_activations(model, acts) == one_by_one
    assert encode_activations(model, acts, sample=4) == one_by_one[4]
