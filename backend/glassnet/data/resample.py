"""Lanczos resizing of a small float image as two matrix products, the numbers Pillow gives.

:func:`.preprocess.prepare_digits` fits every digit's crop to 20 pixels on its longer side with
Lanczos resampling, as MNIST was made. Pillow did it (``Image.resize`` on a mode "F" image), but
for a 20x20 crop the round trip through a Pillow image — ``fromarray``, ``resize``, ``asarray`` —
cost ~70 µs of Python-level overhead per digit on the AMD machine, more than a third of a
drawn digit's preparation; the resampling itself is ~3,000 multiply-adds.

Resampling along one axis is linear: output sample i is a weighted sum of the inputs near it,
so the whole pass is one (out, in) matrix, and a 2-D resize is ``Wy @ x @ Wx.T``. The weights
are Pillow's own (``precompute_coeffs`` in its ``Resample.c``), so the result is Pillow's to
float32 rounding (tests/data/test_resample.py holds it to Pillow's):

- output sample i is centred at ``(i + 0.5) * scale`` in input pixels, ``scale = in / out``;
- when shrinking, the kernel is widened by ``scale`` (so it averages, i.e. antialiases), and
  the Lanczos kernel ``sinc(t) sinc(t / 3)`` is read at ``(j + 0.5 - centre) / scale`` for
  every input pixel j within ``support = 3 * scale`` of the centre (rounded as Pillow does);
- each row of weights is normalised to sum to 1, so flat areas stay flat.

Pillow resizes horizontally first into a float32 image, then vertically, and skips an axis
whose size does not change; so does :func:`lanczos_resize`.
"""

from __future__ import annotations

import functools

import numpy as np

#: half-width of the Lanczos kernel in (output) pixels: Lanczos-3
SUPPORT = 3.0
#: weight matrices of at most this many entries are kept: a digit's crop of up to 1,024 px to
#: its 20 px fit is 20,480. Larger ones are made per call, so whatever sizes a caller asks
#: for, the cache (256 matrices) stays under 64 MiB.
CACHED_ENTRIES = 32 * 1024


def _lanczos(t: np.ndarray) -> np.ndarray:
    """The Lanczos-3 kernel sinc(t) sinc(t/3) on [-3, 3), 0 outside (np.sinc is sin(pi t)/(pi t))."""
    return np.where((t >= -SUPPORT) & (t < SUPPORT), np.sinc(t) * np.sinc(t / SUPPORT), 0.0)


def _weights(in_size: int, out_size: int) -> np.ndarray:
    """The (out_size, in_size) float64 matrix of one Lanczos pass from in_size samples to
    out_size, Pillow's coefficients: row i holds output i's normalised weights."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)  # widen the kernel only when shrinking
    support = SUPPORT * filterscale
    centre = (np.arange(out_size) + 0.5) * scale
    # Pillow's bounds: C's (int) cast of centre -/+ support + 0.5, clipped to the input; the
    # cast truncates toward 0, which for a negative start differs from floor only below 0.
    first = np.maximum(np.trunc(centre - support + 0.5), 0.0)[:, None]
    stop = np.minimum(np.trunc(centre + support + 0.5), in_size)[:, None]
    j = np.arange(in_size, dtype=np.float64)[None, :]
    inside = (j >= first) & (j < stop)
    w = np.where(inside, _lanczos((j - centre[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return w / np.where(total != 0.0, total, 1.0)


@functools.lru_cache(maxsize=256)
def _cached_weights(in_size: int, out_size: int) -> np.ndarray:
    w = _weights(in_size, out_size)
    w.flags.writeable = False  # shared between calls
    return w


def weights(in_size: int, out_size: int) -> np.ndarray:
    """:func:`_weights`, cached for the small sizes every digit meets."""
    if in_size * out_size <= CACHED_ENTRIES:
        return _cached_weights(in_size, out_size)
    return _weights(in_size, out_size)


def lanczos_resize(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Resize an image as Pillow's ``Image.fromarray(x.astype(float32)).resize((out_w, out_h),
    LANCZOS)`` does.

    Args:
        x: (H, W) float image, H, W >= 1.
        out_h, out_w: the output's size, each >= 1.

    Returns:
        (out_h, out_w) float64 holding float32 values, as Pillow's mode "F" image holds them
        (each pass's sums are made in float64 and stored as float32, as Pillow stores them).

    Raises:
        ValueError: not a 2-D image, or a size under 1.
    """
    if x.ndim != 2 or min(x.shape) < 1 or min(out_h, out_w) < 1:
        raise ValueError(
            f"lanczos_resize: needs a non-empty (H, W) image and sizes >= 1, "
            f"got {x.shape} -> {(out_h, out_w)}"
        )
    # float32 @ float64 weights: NumPy casts the float32 values (exactly) and sums in float64
    y = x.astype(np.float32)
    h, w = x.shape
    if out_w != w:
        y = (y @ weights(w, out_w).T).astype(np.float32)
    if out_h != h:
        y = (weights(h, out_h) @ y).astype(np.float32)
    return y.astype(np.float64)
