"""The Lanczos resize as matrix products gives Pillow's numbers (Pillow is the oracle: it is
what the preparation used before, and MNIST's own recipe is a Lanczos-like filter)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from glassnet.data.resample import CACHED_ENTRIES, lanczos_resize, weights

# float32 rounding of values up to 1 (each pass stores float32, as Pillow's mode "F" does)
TOLERANCE = 2.5e-7


def pillow(x: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    img = Image.fromarray(x.astype(np.float32)).resize((out_w, out_h), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float64)


@pytest.mark.parametrize("seed", range(4))
def test_every_size_a_digit_meets_resizes_as_pillow_does(seed: int) -> None:
    # Crops of 1..60 px to fitted sides of 1..28, shrinking and growing, sharp pen strokes
    # (0/1: the ringing Lanczos makes at an edge) and smooth values.
    rng = np.random.default_rng(seed)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 61, 2))
        out_h, out_w = (int(v) for v in rng.integers(1, 29, 2))
        x = rng.random((h, w))
        if rng.random() < 0.5:
            x = (x > 0.6).astype(np.float64)
        got = lanczos_resize(x, out_h, out_w)
        assert got.shape == (out_h, out_w)
        np.testing.assert_allclose(got, pillow(x, out_h, out_w), rtol=0, atol=TOLERANCE)


def test_large_shrinks_and_one_unchanged_axis_as_pillow() -> None:
    rng = np.random.default_rng(7)
    for (h, w), (out_h, out_w) in [
        ((320, 200), (20, 13)),  # a photo's work image to a digit's fit
        ((20, 640), (20, 1)),  # only the width changes: Pillow skips the vertical pass
        ((1700, 20), (20, 20)),  # 1,700 x 20 weights: over CACHED_ENTRIES, made per call
        ((5, 5), (5, 5)),  # nothing to do: the input as float32
    ]:
        x = rng.random((h, w))
        got = lanczos_resize(x, out_h, out_w)
        np.testing.assert_allclose(got, pillow(x, out_h, out_w), rtol=0, atol=TOLERANCE)


def test_weights_rows_sum_to_one_and_flat_stays_flat() -> None:
    for n_in, n_out in [(1, 20), (3, 20), (20, 20), (57, 20), (2000, 7)]:
        w = weights(n_in, n_out)
        assert w.shape == (n_out, n_in)
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    flat = np.full((37, 23), 0.625)
    np.testing.assert_allclose(lanczos_resize(flat, 20, 12), 0.625, atol=1e-6)


def test_cached_weights_are_read_only_and_large_ones_not_kept() -> None:
    small = weights(25, 20)
    assert small is weights(25, 20)  # the same array: cached
    with pytest.raises(ValueError):
        small[0, 0] = 1.0  # shared between calls, so no caller can change it
    assert weights(1024, 20) is weights(1024, 20)  # a digit's largest crop to its fit
    large = CACHED_ENTRIES // 20 + 1
    assert weights(large, 20) is not weights(large, 20)  # made per call: no cache grows with sizes


@pytest.mark.parametrize(
    ("x", "size"),
    [
        (np.zeros(5), (2, 2)),
        (np.zeros((0, 3)), (2, 2)),
        (np.zeros((3, 3)), (0, 2)),
        (np.zeros((3, 3)), (2, -1)),
    ],
)
def test_bad_shapes_and_sizes_are_value_errors(x: np.ndarray, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="lanczos_resize"):
        lanczos_resize(x, *size)
