"""Arrays on the wire: activations and images as per-map uint8 with their range, base64-encoded.

A feature map is drawn the convnetjs way: its smallest value black, its largest white. So each
map is normalised on its own to 0..255 and sent as bytes, with the two numbers needed to read
the true values back. This is 4x smaller than float32 and 10x smaller than JSON numbers, and no
NaN or Infinity can ever reach the browser (NaN is not valid JSON).

Format (one JSON object, :class:`EncodedArray`)::

    {"shape": [C, H, W],          # the array's shape, row-major (C order)
     "min":   [m_0, ..., m_{M-1}], # one entry per map: the value drawn as 0
     "max":   [x_0, ..., x_{M-1}], # one entry per map: the value drawn as 255
     "data":  "<base64>"}         # prod(shape) bytes, uint8, row-major

* A *map* is the last ``per_map_axes`` axes: a (C, H, W) conv output has C maps of H x W, a
  dense layer's (K,) vector is one map. ``M = len(min) = len(max)`` is the number of maps (the
  leading axes flattened), every map has ``S = prod(shape) / M`` elements, and byte ``i``
  belongs to map ``i // S``. A decoder needs nothing but these four fields.
* Decoding: ``value[i] ≈ min[m] + data[i] / 255 * (max[m] - min[m])`` with ``m = i // S``
  (exact to half a step, ``(max - min) / 510``).
* A constant map (``min[m] == max[m]``) is all zero bytes; its value is ``min[m]``.
* Non-finite input never leaves the server: NaN counts as 0, +Infinity as the map's largest
  finite value, -Infinity as its smallest (so a map that is all NaN is a constant 0 map).
* ``min`` and ``max`` are finite JSON numbers rounded to 6 significant digits (display only;
  the bytes are quantised from the exact values).
* An image with a fixed meaning (:func:`encode_image28`: activations 0..1) is sent with
  ``min = [0]``, ``max = [1]`` instead of its own range, so its brightness is the true one.

:func:`encode_activations` adds, per layer, ``index``, ``type``, ``kind`` (``"maps"`` for
(C, H, W) or (H, W) outputs, ``"vector"`` for (K,) outputs) to the same four fields, where
``shape`` is the per-sample shape (no batch axis).

``frontend/js`` mirrors the decoder; a JS test checks it against this description.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from glassnet.nn.backend import to_host

from .wire import EncodedArray, LayerActivation

if TYPE_CHECKING:
    from glassnet.nn.model import Sequential

__all__ = [
    "EncodedArray",
    "LayerActivation",
    "encode_activations",
    "encode_all_activations",
    "encode_array",
    "encode_image28",
    "encode_samples",
]

# Finite values are clipped to float32's range before the arithmetic below, so that
# max - min cannot overflow float64 (activations are float32 anyway).
_LIMIT = float(np.finfo(np.float32).max)
_DIGITS = 6  # significant digits kept in min/max


def _round(value: float) -> float:
    """A finite float rounded to a few significant digits (shorter JSON, same picture)."""
    if value == 0.0 or not math.isfinite(value):
        return 0.0
    return float(f"{value:.{_DIGITS}g}")


def _rounded(values: np.ndarray) -> list[float]:
    """:func:`_round` of every value of a float64 vector, as array arithmetic.

    ``round(v · 10^d) / 10^d`` with ``d`` the decimals that keep ``_DIGITS`` significant ones:
    an integer divided (or multiplied) by an exact power of ten is the double nearest to the
    decimal, which is what formatting with ``%.6g`` gives — without a Python call per value (a
    network's activations have hundreds of maps, each with a min and a max). Powers of ten are
    exact only up to 10^22, so values that would need more take the formatting route.
    """
    out = np.zeros_like(values)
    nonzero = np.flatnonzero(values)
    if nonzero.size:
        v = values[nonzero]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            decimals = _DIGITS - 1 - np.floor(np.log10(np.abs(v)))
            scale = 10.0 ** np.abs(decimals)
            r = np.where(decimals >= 0, np.round(v * scale) / scale, np.round(v / scale) * scale)
        bad = ~np.isfinite(r) | (np.abs(decimals) > 22)
        for i in np.flatnonzero(bad):
            r[i] = _round(float(v[i]))
        out[nonzero] = r
    return out.tolist()


def _b64(q: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(q, dtype=np.uint8).tobytes()).decode("ascii")


def _checked(a: Any, per_map_axes: int, name: str = "encode_array") -> np.ndarray:
    arr = to_host(a)  # a CuPy array (a GPU run's kernels) comes to the host here
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if not 0 <= per_map_axes <= arr.ndim:
        raise ValueError(f"{name}: per_map_axes must lie in 0..{arr.ndim}, got {per_map_axes}")
    return arr


def _quantized(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(min, max, uint8 bytes) of every row of ``maps`` (M, S) float64, M·S > 0: the format's
    quantisation, non-finite values handled as the module docstring says."""
    finite = np.isfinite(maps)
    if not finite.all():
        # NaN -> 0; +/-Inf -> the map's largest / smallest finite value (0 when it has none).
        big = np.where(finite, maps, -np.inf).max(axis=1, keepdims=True)
        small = np.where(finite, maps, np.inf).min(axis=1, keepdims=True)
        big = np.where(np.isfinite(big), big, 0.0)
        small = np.where(np.isfinite(small), small, 0.0)
        maps = np.where(np.isnan(maps), 0.0, maps)
        maps = np.where(np.isposinf(maps), big, maps)
        maps = np.where(np.isneginf(maps), small, maps)
    maps = np.clip(maps, -_LIMIT, _LIMIT)

    lo = maps.min(axis=1, keepdims=True)
    hi = maps.max(axis=1, keepdims=True)
    span = hi - lo
    # Constant maps: divide by 1 instead of 0, which leaves (x - lo) = 0 -> all zero bytes.
    scale = np.where(span > 0, 255.0 / np.where(span > 0, span, 1.0), 0.0)
    q = np.rint((maps - lo) * scale)
    np.clip(q, 0, 255, out=q)
    return lo[:, 0], hi[:, 0], q.astype(np.uint8)


def encode_array(a: np.ndarray, per_map_axes: int = 2) -> dict[str, Any]:
    """Normalise each map of ``a`` to uint8 0..255 and encode it (format in the module docstring).

    Args:
        a: any real array, e.g. (C, H, W) feature maps or a (K,) vector.
        per_map_axes: how many trailing axes form one map: 2 for images and feature maps,
            1 for a vector (0 makes every element its own, constant, map).

    Returns:
        ``{"shape": list[int], "min": list[float], "max": list[float], "data": str}`` with
        ``len(min) == len(max) == prod(shape[:ndim - per_map_axes])``. Always JSON-safe.

    Raises:
        ValueError: ``per_map_axes`` outside 0..a.ndim, or a non-numeric array.
    """
    arr = _checked(a, per_map_axes)
    n_maps = math.prod(arr.shape[: arr.ndim - per_map_axes])
    if n_maps == 0 or arr.size == 0:
        zeros = [0.0] * n_maps
        return {"shape": list(arr.shape), "min": zeros, "max": list(zeros), "data": ""}
    lo, hi, q = _quantized(arr.astype(np.float64).reshape(n_maps, -1))
    return {"shape": list(arr.shape), "min": _rounded(lo), "max": _rounded(hi), "data": _b64(q)}


def encode_samples(batch: np.ndarray, per_map_axes: int = 2) -> list[dict[str, Any]]:
    """``encode_array(batch[i], per_map_axes)`` for every sample ``i`` of a (N, ...) batch, the
    same dicts byte for byte, from one pass over the whole batch (every map is normalised on
    its own either way; one pass saves ~25 NumPy calls per sample: a heavy frame encodes 10
    probe digits × every layer)."""
    if np.ndim(batch) == 0:
        raise ValueError("encode_samples: expected a batch (N, ...), got a scalar")
    arr = _checked(batch, per_map_axes + 1, "encode_samples")  # + 1: the batch axis
    n, shape = arr.shape[0], arr.shape[1:]
    per = math.prod(shape[: len(shape) - per_map_axes])  # maps per sample
    if n == 0 or per == 0 or arr.size == 0:
        return [encode_array(arr[i], per_map_axes) for i in range(n)]
    lo, hi, q = _quantized(arr.astype(np.float64).reshape(n * per, -1))
    mins, maxs = _rounded(lo), _rounded(hi)
    return [
        {
            "shape": list(shape),
            "min": mins[i * per : (i + 1) * per],
            "max": maxs[i * per : (i + 1) * per],
            "data": _b64(q[i * per : (i + 1) * per]),
        }
        for i in range(n)
    ]


def encode_image28(x: np.ndarray) -> dict[str, Any]:
    """A prepared digit (28, 28) of activations in [0, 1] with the fixed range 0..1.

    Unlike a feature map it is not stretched: a faint digit stays faint, as the network sees it.
    Values outside [0, 1] are clipped, NaN counts as 0.

    Returns:
        ``{"shape": [28, 28], "min": [0.0], "max": [1.0], "data": <784 bytes, base64>}``.
    """
    if np.ndim(x) != 2:
        raise ValueError(f"encode_image28: expected a 2-D image (28, 28), got shape {np.shape(x)}")
    # In float64, scaled first (the same as clipping first: 255 · [0, 1] is [0, 255]); fmax(NaN,
    # 0) = 0 and fmax(-inf, 0) = 0, then +inf -> 255; rounded straight into the bytes.
    img = np.multiply(x, 255.0, dtype=np.float64)
    np.fmax(img, 0.0, out=img)
    np.minimum(img, 255.0, out=img)
    q = np.rint(img, out=np.empty(img.shape, dtype=np.uint8), casting="unsafe")
    return {"shape": list(img.shape), "min": [0.0], "max": [1.0], "data": _b64(q)}


def encode_activations(model: Sequential, acts: list[np.ndarray], sample: int = 0) -> list[dict[str, Any]]:
    """Every layer's activation for one sample of a recorded forward pass.

    Args:
        model: the network that produced ``acts`` (for the layer types).
        acts: ``model.forward_record(x)[1]``: one (N, *out_shape) array per layer.
        sample: which of the N samples to encode.

    Returns:
        One :class:`LayerActivation` dict per layer, in order: ``{"index", "type", "kind",
        "shape", "min", "max", "data"}``. (C, H, W) and (H, W) outputs are ``"maps"`` (one
        min/max per 2-D map), (K,) outputs are a ``"vector"`` (one min/max).
    """
    _check_layers(model, acts)
    for batch in acts:
        if not 0 <= sample < batch.shape[0]:
            raise ValueError(f"encode_activations: sample {sample} outside the batch of {batch.shape[0]}")
    return encode_all_activations(model, [batch[sample : sample + 1] for batch in acts])[0]


def encode_all_activations(model: Sequential, acts: list[np.ndarray]) -> list[list[dict[str, Any]]]:
    """:func:`encode_activations` of every sample of the recorded batch: ``out[i]`` is sample
    ``i``'s list of layers. Each layer is encoded for all samples in one pass
    (:func:`encode_samples`)."""
    _check_layers(model, acts)
    n = acts[0].shape[0] if acts else 0
    out: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for index, (layer, batch) in enumerate(zip(model.layers, acts, strict=True)):
        ndim = batch.ndim - 1  # a sample's
        kind = "vector" if ndim <= 1 else "maps"
        encoded = encode_samples(batch, per_map_axes=min(ndim, 1 if kind == "vector" else 2))
        for i, sample in enumerate(encoded):
            out[i].append({"index": index, "type": layer.kind, "kind": kind, **sample})
    return out


def _check_layers(model: Sequential, acts: list[np.ndarray]) -> None:
    if len(acts) != len(model.layers):
        raise ValueError(f"encode_activations: {len(model.layers)} layers but {len(acts)} activations")
