"""Augmentation (issue 12, bar 4): deterministic for a seed, and every transform keeps the ink —
what the label depends on — inside the frame (centre of mass and ink bounding box)."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.data.augment import Augment, augment_batch, batch_rng
from glassnet.data.mnist import load_split_images

EDGE = 0.1  # a pixel brighter than this is ink


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_split_images(None, "test")
    return (images[:1000] / 255.0).astype(np.float32)[:, None], labels[:1000].astype(np.int64)


def centre_of_mass(x: np.ndarray) -> np.ndarray:
    """(N, 2) row, column of each image's ink (x (N, 1, H, W))."""
    img = x[:, 0].astype(np.float64)
    mass = img.sum(axis=(1, 2))
    rows = (img.sum(axis=2) * np.arange(img.shape[1])).sum(axis=1) / mass
    cols = (img.sum(axis=1) * np.arange(img.shape[2])).sum(axis=1) / mass
    return np.stack([rows, cols], axis=1)


def touches_edge(x: np.ndarray) -> np.ndarray:
    """(N,) whether any ink lies in the frame's outermost row or column."""
    ink = x[:, 0] > EDGE
    return (
        ink[:, 0, :].any(axis=1)
        | ink[:, -1, :].any(axis=1)
        | ink[:, :, 0].any(axis=1)
        | ink[:, :, -1].any(axis=1)
    )


def test_deterministic_for_a_seed(digits) -> None:
    x, _ = digits
    a = augment_batch(x[:64], Augment(), batch_rng(7, 2, 31))
    b = augment_batch(x[:64], Augment(), batch_rng(7, 2, 31))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, augment_batch(x[:64], Augment(), batch_rng(7, 2, 32)))  # next batch
    assert not np.array_equal(a, augment_batch(x[:64], Augment(), batch_rng(8, 2, 31)))  # another seed
    assert a.dtype == np.float32 and a.shape == (64, 1, 28, 28)
    assert a.min() >= 0 and a.max() <= 1
    assert not np.array_equal(a, x[:64])


CASES = {
    "affine": (Augment(elastic=False, stroke=False), 3.2),
    "affine, strongest settings": (
        Augment(elastic=False, stroke=False, rotation=45, scale=(1.5, 1.5), shear=0.5, shift=6),
        7.0,
    ),
    "elastic": (Augment(affine=False, stroke=False), 4.0),
    "stroke": (Augment(affine=False, elastic=False), 0.6),
    "all three": (Augment(), 5.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_ink_stays_inside_the_frame(digits, name: str) -> None:
    x, _ = digits
    cfg, max_shift = CASES[name]
    y = augment_batch(x, cfg, batch_rng(0, 0, 0))
    # no stroke pushed against the edge that was not there before
    new = touches_edge(y) & ~touches_edge(x)
    assert not new.any(), f"{name}: {int(new.sum())} digits pushed against the frame's edge"
    # the ink keeps its place: the centre of mass moves by at most a few pixels
    shift = np.abs(centre_of_mass(y) - centre_of_mass(x)).max()
    assert shift <= max_shift, f"{name}: centre of mass moved {shift:.2f} px"
    # and the ink is still there
    assert (y.reshape(len(y), -1) > EDGE).sum(axis=1).min() >= 20


def test_rigid_moves_lose_no_ink(digits) -> None:
    """Rotation and the largest shift, no scaling: the ink's mass is kept (nothing cut off)."""
    x, _ = digits
    y = augment_batch(
        x,
        Augment(elastic=False, stroke=False, scale=(1, 1), shear=0, rotation=20, shift=6),
        batch_rng(3, 0, 0),
    )
    ratio = y.sum(axis=(1, 2, 3)) / x.sum(axis=(1, 2, 3))
    assert ratio.min() > 0.98 and ratio.max() < 1.02, (ratio.min(), ratio.max())


def test_the_affine_digit_is_centred_within_the_shift(digits) -> None:
    x, _ = digits
    cfg = Augment(elastic=False, stroke=False)
    y = augment_batch(x, cfg, batch_rng(5, 1, 9))
    # the transform puts the centre of mass at the frame's centre plus the random shift — unless
    # the ink's box would then leave the frame, when the shift is cut back (a lopsided digit,
    # like a 7 heavy at the top, can then sit a little off-centre)
    off = np.abs(centre_of_mass(y) - 13.5).max(axis=1)
    assert np.percentile(off, 99) <= cfg.shift + 0.5
    assert off.max() <= cfg.shift + 3.0


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"rotation": 90}, "rotation"),
        ({"scale": [1.2, 0.9]}, "scale"),
        ({"scale": [1]}, "two numbers"),
        ({"alpha": -1}, "alpha"),
        ({"sigma": 0}, "sigma"),
        ({"affine": "yes"}, "true or false"),
        ({"twist": 3}, "unknown setting"),
    ],
)
def test_bad_settings_are_named(values: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Augment.from_dict(values)


def test_round_trip_of_settings() -> None:
    cfg = Augment(elastic=False, rotation=5)
    assert Augment.from_dict(cfg.as_dict()) == cfg


def test_wrong_shape_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        augment_batch(np.zeros((2, 28, 28), np.float32), Augment(), batch_rng(0, 0, 0))
