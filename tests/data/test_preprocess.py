"""Tests for glassnet.data.preprocess: decoding uploads and MNIST-style digit preparation."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx
from glassnet.data.preprocess import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    ImageError,
    decode_image,
    load_image_file,
    prepare_digit,
    prepare_pixels,
)

# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def draw_seven(
    canvas_hw: tuple[int, int],
    box: tuple[int, int, int, int],
    *,
    width: int = 4,
    ink: int = 255,
    paper: int = 0,
) -> np.ndarray:
    """A "7" with a crossbar inside box = (top, left, height, width) on an H x W canvas.

    Returns (H, W) uint8.
    """
    top, left, h, w = box
    img = Image.new("L", (canvas_hw[1], canvas_hw[0]), paper)
    draw = ImageDraw.Draw(img)
    draw.line([(left, top), (left + w, top), (left + int(0.35 * w), top + h)], fill=ink, width=width)
    draw.line(
        [(left + int(0.3 * w), top + h // 2), (left + int(0.85 * w), top + h // 2)],
        fill=ink,
        width=width,
    )
    return np.asarray(img)


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(x.shape)
    return float((x * rows).sum() / x.sum()), float((x * cols).sum() / x.sum())


def bbox_size(x: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero((x > 0).any(axis=1))
    cols = np.flatnonzero((x > 0).any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def png_with_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims width x height (a decompression-bomb probe)."""
    data = bytearray(png_bytes(Image.new("L", (1, 1))))
    # IHDR is the first chunk: 8-byte signature, 4-byte length, b"IHDR", then 13 bytes.
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.fixture(scope="module")
def mnist_test_digits() -> np.ndarray:
    """The first 20 MNIST test images, (20, 28, 28) uint8 (the labels file is not needed)."""
    return read_idx(DEFAULT_DATASET_DIR / "t10k-images-idx3-ubyte.gz")[:20]


# --------------------------------------------------------------------------------------
# prepare_digit
# --------------------------------------------------------------------------------------


def test_output_is_28x28_float32_in_unit_range() -> None:
    out = prepare_digit(draw_seven((100, 80), (10, 10, 70, 50), width=6))
    assert out is not None
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)


def test_polarity_does_not_matter() -> None:
    light_on_dark = draw_seven((120, 90), (15, 20, 80, 50), ink=255, paper=0)
    dark_on_light = draw_seven((120, 90), (15, 20, 80, 50), ink=0, paper=255)
    a, b = prepare_digit(light_on_dark), prepare_digit(dark_on_light)
    assert a is not None and b is not None
    np.testing.assert_allclose(a, b, atol=1e-5)
    # Floats in [0, 1] and uint8 give the same answer.
    c = prepare_digit(dark_on_light.astype(np.float64) / 255)
    assert c is not None
    np.testing.assert_allclose(a, c, atol=1e-5)


def test_grey_paper_and_grey_ink() -> None:
    # Pencil on grey paper: low contrast, the background level is removed and ink stretched.
    pencil = draw_seven((120, 90), (15, 20, 80, 50), ink=90, paper=170)
    crisp = draw_seven((120, 90), (15, 20, 80, 50), ink=0, paper=255)
    a, b = prepare_digit(pencil), prepare_digit(crisp)
    assert a is not None and b is not None
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_small_off_centre_digit_is_fitted_and_centred() -> None:
    # A 40x28 digit near the top-left corner of a 300x400 canvas.
    image = draw_seven((300, 400), (20, 30, 40, 28), width=4, ink=0, paper=255)
    out = prepare_digit(image)
    assert out is not None
    h, w = bbox_size(out)
    assert 19 <= max(h, w) <= 21
    assert w < h  # the aspect ratio is kept
    row, col = centre_of_mass(out)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1


def test_wide_digit_keeps_aspect_ratio() -> None:
    # A wide dash-like mark: longer side horizontal, fitted to 20 px wide.
    image = np.zeros((50, 200), dtype=np.uint8)
    image[20:30, 40:160] = 255
    out = prepare_digit(image)
    assert out is not None
    h, w = bbox_size(out)
    assert 19 <= w <= 21 and h <= 3


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((28, 28), dtype=np.uint8),
        np.full((28, 28), 255, dtype=np.uint8),
        np.full((50, 40), 0.5),
        np.full((50, 40), 0.3, dtype=np.float32),
        np.full((50, 40), 0.7),
    ],
    ids=["black", "white", "grey-0.5", "grey-0.3", "grey-0.7"],
)
def test_blank_or_uniform_images_are_empty(image: np.ndarray) -> None:
    assert prepare_digit(image) is None


def test_faint_noise_and_specks_are_empty() -> None:
    rng = np.random.default_rng(0)
    faint = rng.uniform(0.0, 0.05, (64, 64))  # less than 10% contrast
    assert prepare_digit(faint) is None
    speck = np.zeros((280, 280))
    speck[100, 100] = 1.0
    assert prepare_digit(speck) is None


def test_tiny_images_work() -> None:
    image = np.zeros((3, 3))
    image[:, 1] = 1.0  # a 1-pixel-wide "1"
    out = prepare_digit(image)
    assert out is not None
    assert max(bbox_size(out)) == 20


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.array([[0.0, np.nan], [0.0, 0.0]]), "NaN or Infinity"),
        (np.array([[0.0, np.inf], [0.0, 0.0]]), "NaN or Infinity"),
        (np.zeros((2, 28, 28)), "2-D"),
        (np.zeros(784), "2-D"),
        (np.zeros((0, 5)), "empty"),
        (np.full((4, 4), 1.5), r"\[0, 1\]"),
        (np.full((4, 4), -0.2, dtype=np.float32), r"\[0, 1\]"),
        (np.full((4, 4), 300, dtype=np.int16), "0..255"),
        (np.full((4, 4), "a"), "numbers"),
    ],
    ids=["nan", "inf", "3d", "1d", "empty", "above-1", "negative", "int-above-255", "strings"],
)
def test_bad_arrays_raise_value_error(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_digit(image)


def test_already_prepared_mnist_digit_passes_through(mnist_test_digits: np.ndarray) -> None:
    # MNIST digits are already fitted and centred: preparation barely changes them.
    original = mnist_test_digits[0]
    out = prepare_digit(original)
    assert out is not None
    assert correlation(out, original / 255) > 0.95


# --------------------------------------------------------------------------------------
# prepare_pixels (JSON input)
# --------------------------------------------------------------------------------------


def test_pixels_flat_and_grid_agree(mnist_test_digits: np.ndarray) -> None:
    grid = (mnist_test_digits[1] / 255).tolist()
    flat = (mnist_test_digits[1] / 255).ravel().tolist()
    a, b = prepare_pixels(grid), prepare_pixels(flat)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a, b)
    assert a.shape == (28, 28) and a.dtype == np.float32


def test_pixels_integers_are_activations_not_bytes() -> None:
    grid = np.zeros((28, 28), dtype=np.int64)
    grid[4:24, 12:15] = 1  # JSON 0/1 integers: a "1" at full brightness
    out = prepare_pixels(grid.tolist())
    expected = prepare_digit(grid.astype(np.float64))
    assert out is not None and expected is not None
    np.testing.assert_array_equal(out, expected)


def test_pixels_any_pad_resolution() -> None:
    pad = draw_seven((200, 200), (30, 50, 140, 100), width=14).astype(np.float64) / 255
    out = prepare_pixels(pad.tolist())
    assert out is not None and out.shape == (28, 28)


def test_blank_pixels_are_empty() -> None:
    assert prepare_pixels([0.0] * 784) is None


@pytest.mark.parametrize(
    ("pixels", "message"),
    [
        ([0.1, 0.2, 0.3], r"pixels must be 784 numbers or a 28x28 grid, got shape \(3,\)"),
        ([[[0.0]]], r"got shape \(1, 1, 1\)"),
        ([], r"got shape \(0,\)"),
        ([[0.0, 1.0], [0.5]], "rows of equal length"),
        ([float("nan")] * 784, "pixels contain NaN or Infinity"),
        ([float("inf")] + [0.0] * 783, "pixels contain NaN or Infinity"),
        ([2.0] + [0.0] * 783, r"pixels must lie in \[0, 1\]"),
        ([-1] + [0] * 783, r"pixels must lie in \[0, 1\]"),
        (["0.5"] * 784, "numbers only"),
        (
            [[0.5] * 784],
            r"a 1x784 grid \(one row\) cannot hold a drawn digit; if it is one digit's 784 "
            r"numbers, send them flat \(no inner list\) or as an HxW grid of rows such as 28x28$",
        ),
        ([[0.5]] * 784, r"a 784x1 grid \(one column\)"),
        ([[0.5] * 30] * 2, r"a 2x30 grid \(15 times as long as wide\)"),
        ([[1.0]], r"a 1x1 grid"),
    ],
    ids=[
        *("short", "3d", "empty", "ragged", "nan", "inf", "above-1", "negative", "strings"),
        *("one-row", "one-column", "strip", "one-pixel"),
    ],
)
def test_bad_pixels_raise_value_error(pixels: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_pixels(pixels)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# decode_image / load_image_file
# --------------------------------------------------------------------------------------


def test_decode_grayscale_png_values() -> None:
    arr = np.array([[0, 128, 255], [255, 64, 0]], dtype=np.uint8)
    out = decode_image(png_bytes(Image.fromarray(arr)))
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_allclose(out, arr / 255, atol=1e-6)


def test_decode_rgb_jpeg_and_16_bit_png() -> None:
    rgb = Image.new("RGB", (16, 12), (255, 255, 255))
    out = decode_image(png_bytes(rgb, "JPEG"), "photo.jpg")
    assert out.shape == (12, 16) and out.min() > 0.95
    deep = Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16))
    np.testing.assert_allclose(decode_image(png_bytes(deep)), 1.0)


def test_transparent_canvas_either_ink_colour() -> None:
    # Strokes on a fully transparent canvas: black ink and white ink must both survive.
    mask = Image.fromarray(draw_seven((100, 100), (10, 20, 80, 50), width=8))
    results = []
    for colour in ((0, 0, 0), (255, 255, 255)):
        layer = Image.new("RGBA", (100, 100), (*colour, 0))
        layer.paste(Image.new("RGBA", (100, 100), (*colour, 255)), mask=mask)
        gray = decode_image(png_bytes(layer), "pad.png")
        assert gray.std() > 0.2  # the ink is visible, not swallowed by the backdrop
        prepared = prepare_digit(gray)
        assert prepared is not None
        results.append(prepared)
    np.testing.assert_allclose(results[0], results[1], atol=1e-5)
    # Black ink composites to dark-on-white.
    black = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    black.paste(Image.new("RGBA", (100, 100), (0, 0, 0, 255)), mask=mask)
    gray = decode_image(png_bytes(black))
    assert gray[0, 0] == pytest.approx(1.0) and gray.min() == pytest.approx(0.0)


def test_mnist_digit_round_trips_through_png(mnist_test_digits: np.ndarray) -> None:
    # A real MNIST test digit, scaled 5x and drawn dark-on-light, comes back close to itself.
    original = mnist_test_digits[0]
    big = Image.fromarray(255 - original).resize((140, 140), Image.Resampling.BICUBIC)
    gray = decode_image(png_bytes(big), "seven.png")
    assert gray.shape == (140, 140)
    out = prepare_digit(gray)
    assert out is not None
    assert correlation(out, original / 255) > 0.9


def test_mnist_digits_round_trip_within_a_pixel(mnist_test_digits: np.ndarray) -> None:
    # Centring rounds to whole pixels, so allow the best of the 1-pixel shifts.
    for original in mnist_test_digits:
        big = Image.fromarray(original).resize((140, 140), Image.Resampling.NEAREST)
        out = prepare_digit(decode_image(png_bytes(big)))
        assert out is not None
        best = max(
            correlation(np.roll(out, (dr, dc), axis=(0, 1)), original / 255)
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
        )
        assert best > 0.9


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "upload.png: empty"),
        (b"this is plain text, not a picture", r"upload.png: not an image glassnet reads \(PNG, JPEG"),
        (b"\x89PNG\r\n\x1a\n", "upload.png"),
    ],
    ids=["empty", "text", "bare-signature"],
)
def test_not_images_raise_image_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_image(data, "upload.png")


def test_oversize_bytes_raise_image_error() -> None:
    with pytest.raises(ImageError, match="over the limit"):
        decode_image(b"\x00" * (MAX_IMAGE_BYTES + 1), "huge.png")


def test_truncated_image_raises_image_error() -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))
    for fmt in ("PNG", "JPEG"):
        data = png_bytes(noisy, fmt)
        with pytest.raises(ImageError, match="cut: truncated or corrupt"):
            decode_image(data[: len(data) // 2], "cut")


@pytest.mark.parametrize("side", [6000, 10000, 20000])
def test_too_many_pixels_raise_image_error(side: int) -> None:
    # 36M pixels (our limit), 100M (Pillow's warning), 400M (Pillow's error): all refused
    # from the header alone, before anything is decoded.
    assert side * side > MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match=r"bomb\.png: .*pixels"):
        decode_image(png_with_size(side, side), "bomb.png")


def test_image_error_is_value_error() -> None:
    assert issubclass(ImageError, ValueError)


def test_load_image_file_reads_a_phone_photo_as_it_comes(tmp_path: Path) -> None:
    """A 12 MP phone JPEG is 3-8 MB and a 50 MP one 8160x6120: over an upload's limits (2 MiB,
    16 M pixels), but a file of one's own for ``glassnet predict`` (QA5-LIB: refused before)."""
    rng = np.random.default_rng(0)
    paper = rng.integers(180, 221, (3024, 4032), dtype=np.uint8)  # grain: a big JPEG
    ink = draw_seven((3024, 4032), (700, 1500, 1600, 1000), width=120)
    photo = tmp_path / "phone.jpg"
    Image.fromarray(np.where(ink > 0, 30, paper).astype(np.uint8)).save(photo, quality=92)
    data = photo.read_bytes()
    assert len(data) > MAX_IMAGE_BYTES
    with pytest.raises(ImageError, match="over the limit"):
        decode_image(data, "upload.jpg")  # an upload keeps its limit
    gray = load_image_file(photo)
    assert max(gray.shape) <= 1024  # reduced right after decoding
    assert prepare_digit(gray) is not None

    big = tmp_path / "scan.png"  # 36 M pixels: over an upload's 16 M, under a file's 64 M
    Image.fromarray(draw_seven((6000, 6000), (1000, 1500, 4000, 3000), width=300, ink=0, paper=255)).save(
        big, compress_level=1
    )
    assert MAX_IMAGE_PIXELS < 6000 * 6000
    assert prepare_digit(load_image_file(big)) is not None
    too_big = tmp_path / "too-big.png"
    too_big.write_bytes(png_with_size(9000, 9000))
    with pytest.raises(ImageError, match=r"too-big\.png: 9000x9000 is 81000000 pixels, over the limit"):
        load_image_file(too_big)


def test_load_image_file(tmp_path: Path) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(png_bytes(Image.fromarray(draw_seven((60, 60), (5, 5, 50, 40)))))
    gray = load_image_file(path)
    assert gray.shape == (60, 60)
    assert prepare_digit(gray) is not None
    with pytest.raises(ImageError, match=r"missing\.png: file not found"):
        load_image_file(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageError, match=r"notes\.txt: not an image glassnet reads \(PNG, JPEG"):
        load_image_file(tmp_path / "notes.txt")
