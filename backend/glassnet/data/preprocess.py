"""Prepare a user's digit the way MNIST's digits were prepared.

The networks learned from MNIST, where every digit is bright ink (activation near 1) on a
black background (activation 0), scaled so its longer side is 20 pixels, and placed in a
28x28 field so that its centre of mass (the intensity-weighted mean pixel position) sits at
the centre. A digit photographed on paper or drawn on a big canvas looks nothing like that,
so it is put through the same steps before the network sees it (`prepare_digit`).

Entry points: `decode_image` / `load_image_file` for uploaded files (the CLI ``predict`` and
the REST API), `prepare_pixels` for the JSON grid the drawing pad sends.

This module imports only NumPy and Pillow.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .photo import clean_photo, dark_ink, looks_photographed
from .resample import lanczos_resize

__all__ = [
    "FILE_MAX_IMAGE_BYTES",
    "FILE_MAX_IMAGE_PIXELS",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "SIZE",
    "ImageError",
    "decode_image",
    "load_image_file",
    "pixel_grid",
    "prepare_digit",
    "prepare_digits",
    "prepare_pixel_batch",
    "prepare_pixels",
]

MAX_IMAGE_BYTES = 2 * 1024 * 1024
# Decoded pixels allowed, checked from the header before decoding: a 4000x4000 photo (64 MiB as
# RGBA) passes; a 34 KiB PNG claiming 5000x5000 does not.
MAX_IMAGE_PIXELS = 16_000_000
# A file the user names on their own machine (``glassnet predict``, `load_image_file`) is not an
# upload from anyone: it may be a phone's photo as it is, 3-8 MB for 12 MP and up to 50 MP
# (8160x6120). Still bounded: a PNG of 64 M pixels decodes to at most 256 MiB (RGBA) before it is
# reduced, and Pillow's own decompression-bomb limit (89 M pixels) stays out of reach.
FILE_MAX_IMAGE_BYTES = 64 * 1024 * 1024
FILE_MAX_IMAGE_PIXELS = 64_000_000
# Larger images are reduced to this side right after decoding (JPEGs are decoded reduced): the
# digit ends up 20x20 anyway, and the float conversions then cost megabytes, not gigabytes.
WORK_SIDE = 1024

SIZE = 28  # the network's input field, SIZE x SIZE
FIT = 20  # MNIST fitted each digit into a FIT x FIT box inside the field
CENTRE = SIZE / 2  # (14, 14) in array-index coordinates: MNIST's mean centre of mass
_POSITIONS = np.arange(FIT, dtype=np.float64)  # row / column indices of a fitted digit
_EXPECTED_GRID = f"pixels must be {SIZE * SIZE} numbers or a {SIZE}x{SIZE} grid"

# Pillow formats accepted for uploads: the common raster formats, nothing exotic (a smaller
# attack surface for bytes that arrive over HTTP).
_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")

# After background removal, contrast below this (on a 0..1 scale) is not ink: a blank or
# uniformly grey image is "empty".
_MIN_CONTRAST = 0.1
# A pixel is ink when it is brighter than this fraction of the brightest ink.
_INK_THRESHOLD = 0.1
# A digit needs more than a speck of ink: at least this many ink pixels, and at least this
# fraction of the longer side (strokes grow with the canvas).
_MIN_INK_PIXELS = 3
_MIN_INK_FRACTION_OF_SIDE = 0.01


class ImageError(ValueError):
    """An uploaded image is empty, too large, not an image, or corrupt.

    The message starts with the image's name and says what is wrong.
    """


# --------------------------------------------------------------------------------------
# Decoding uploads
# --------------------------------------------------------------------------------------


def _allowed_formats() -> tuple[str, ...]:
    Image.init()  # register the plugins so Image.OPEN lists what this Pillow can read
    return tuple(f for f in _FORMATS if f in Image.OPEN)


def _to_gray(img: Image.Image) -> np.ndarray:
    """A decoded Pillow image -> (H, W) float32 grayscale in [0, 1].

    Transparency is composited onto white, the right answer for the common cases: dark ink
    on a transparent canvas, or an opaque picture with some transparent margin. The one
    exception: when the opaque pixels are a minority (strokes on a transparent canvas) and
    light, white would swallow them, so they go onto black instead. Either way the ink
    contrasts with the background and `prepare_digit`'s polarity step takes it from there.
    """
    mode = img.mode
    if mode.startswith("I;16"):
        gray = np.asarray(img, dtype=np.float64) / 65535.0
    elif mode in {"I", "F"}:
        # 32-bit integer (old Pillow's 16-bit PNG) or float images: guess the range.
        gray = np.asarray(img, dtype=np.float64)
        top = float(np.nanmax(gray)) if gray.size else 0.0
        gray = gray / (65535.0 if top > 255 else 255.0 if top > 1 else 1.0)
    elif "A" in mode or "a" in mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255.0
        lum = np.asarray(rgba.convert("L"), dtype=np.float64) / 255.0
        opaque = alpha > 0.5
        light_strokes = opaque.any() and opaque.mean() < 0.5 and float(np.median(lum[opaque])) > 0.5
        backdrop = 0.0 if light_strokes else 1.0
        gray = lum * alpha + backdrop * (1.0 - alpha)  # "over" compositing
    else:
        gray = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    gray = np.nan_to_num(gray, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(gray, 0.0, 1.0).astype(np.float32)


def _reduced(img: Image.Image) -> Image.Image:
    """``img`` with its longer side at most WORK_SIDE (box-filtered: every pixel counts)."""
    if max(img.size) <= WORK_SIDE:
        return img
    if img.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        transparent = "A" in img.mode or "transparency" in img.info
        img = img.convert("I" if img.mode.startswith("I;16") else "RGBA" if transparent else "L")
    img = img.copy() if img.readonly else img
    img.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return img


def decode_image(
    data: bytes,
    name: str = "image",
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Decode an uploaded image to grayscale.

    Args:
        data: the file's bytes: PNG or JPEG (GIF, BMP and WebP are accepted too; for
            animations the first frame). Alpha is composited onto white; a JPEG's EXIF
            orientation is applied.
        name: how error messages refer to the image (e.g. the upload's file name).
        max_bytes, max_pixels: the limits (an upload's by default; `load_image_file` passes
            the larger FILE_MAX_IMAGE_BYTES and FILE_MAX_IMAGE_PIXELS).

    Returns:
        (H, W) float32 grayscale in [0, 1] (0 = black, 1 = white), as the image shows it.

    Raises:
        ImageError: empty data, more than ``max_bytes``, not an image, a truncated or
            corrupt image, or more than ``max_pixels`` pixels.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{name}: expected bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise ImageError(f"{name}: empty file")
    if size > max_bytes:
        raise ImageError(
            f"{name}: {size} bytes is over the limit of {max_bytes} bytes ({max_bytes // (1024 * 1024)} MiB)"
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit raises) on decompression bombs; make
            # the warning an error too, so nothing huge is ever decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_allowed_formats()) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{name}: {width}x{height} is {width * height} pixels, over the limit of {max_pixels}"
                    )
                if width == 0 or height == 0:
                    raise ImageError(f"{name}: image has no pixels ({width}x{height})")
                img.draft(None, (WORK_SIDE, WORK_SIDE))  # JPEG: decode at 1/2..1/8 scale
                img.load()  # decode now, inside the try: truncation shows up here
                oriented = _reduced(ImageOps.exif_transpose(img) or img)
                return _to_gray(oriented)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own sentence names its own (higher) limit; ours is the one that applies.
        raise ImageError(f"{name}: image is too large (over the limit of {max_pixels} pixels)") from exc
    except UnidentifiedImageError as exc:
        readable = ", ".join(_allowed_formats())
        raise ImageError(f"{name}: not an image glassnet reads ({readable})") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # Pillow reports truncated or corrupt data as OSError ("image file is truncated"),
        # SyntaxError (broken chunks) or struct.error.
        raise ImageError(f"{name}: truncated or corrupt image ({exc})") from exc


def load_image_file(path: str | Path) -> np.ndarray:
    """Read an image file and `decode_image` it; (H, W) float32 grayscale in [0, 1].

    A local file may be larger than an upload: up to FILE_MAX_IMAGE_BYTES (64 MiB) and
    FILE_MAX_IMAGE_PIXELS (64 M pixels), a phone's photo as it comes.

    Raises:
        ImageError: the file cannot be read, or any `decode_image` error (named by path).
    """
    path = Path(path)
    try:
        # Read at most one byte past the limit: enough to tell it is too big.
        with open(path, "rb") as f:
            data = f.read(FILE_MAX_IMAGE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ImageError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ImageError(f"{path}: cannot read file ({exc})") from exc
    if len(data) > FILE_MAX_IMAGE_BYTES:
        raise ImageError(
            f"{path}: file is over the limit of {FILE_MAX_IMAGE_BYTES} bytes "
            f"({FILE_MAX_IMAGE_BYTES // (1024 * 1024)} MiB)"
        )
    return decode_image(
        data, name=str(path), max_bytes=FILE_MAX_IMAGE_BYTES, max_pixels=FILE_MAX_IMAGE_PIXELS
    )


# --------------------------------------------------------------------------------------
# MNIST-style preparation
# --------------------------------------------------------------------------------------


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    """Validate a 2-D image and return it as float64 in [0, 1].

    Integer images are read as 0..255 pixels, float images as 0..1 activations.
    """
    if image.ndim != 2:
        raise ValueError(f"image must be a 2-D grayscale array (H, W), got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    kind = image.dtype.kind
    if kind == "b":
        return image.astype(np.float64)
    if kind in "iu":
        lo, hi = int(image.min()), int(image.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"integer image values must lie in 0..255, got range {lo}..{hi}")
        return image.astype(np.float64) / 255.0
    if kind == "f":
        x = image.astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError("image contains NaN or Infinity")
        lo, hi = float(x.min()), float(x.max())
        # Allow float rounding error at the ends, nothing more.
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"float image values must lie in [0, 1], got range [{lo}, {hi}]")
        return np.clip(x, 0.0, 1.0)
    raise ValueError(f"image must hold numbers, got dtype {image.dtype}")


def _border(x: np.ndarray) -> np.ndarray:
    """The pixels on the outer edge of each image: (B, H, W) -> (B, 2H + 2W - 4), or all of
    them for tiny images."""
    b, h, w = x.shape
    if h <= 2 or w <= 2:
        return x.reshape(b, -1)
    return np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)


def _median(x: np.ndarray) -> np.ndarray:
    """np.median(x, axis=1), the same numbers (the mean of the middle two for an even count)
    without np.median's Python-level overhead, which cost more than the partition itself."""
    m = x.shape[1]
    half = m // 2
    if m % 2:
        return np.partition(x, half, axis=1)[:, half]
    part = np.partition(x, (half - 1, half), axis=1)
    return (part[:, half - 1] + part[:, half]) / 2


def _centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted mean (row, col) of a non-negative (H, W) array with positive sum."""
    h, w = x.shape
    # np.add.reduce is what .sum() runs, without its Python wrapper (a prediction's hot path)
    total = np.add.reduce(x, axis=None)
    positions = _POSITIONS if max(h, w) <= FIT else np.arange(max(h, w), dtype=np.float64)
    rows, cols = np.add.reduce(x, axis=1), np.add.reduce(x, axis=0)
    return float(rows @ positions[:h] / total), float(cols @ positions[:w] / total)


def prepare_digit(image: np.ndarray) -> np.ndarray | None:
    """Turn an image of one handwritten digit into an MNIST-like 28x28 input.

    Steps, as MNIST was made:

    a. Read the (H, W) image as grayscale in [0, 1] (uint8 / 255, floats as they are).
    b. Polarity: MNIST is light ink on a dark background. If the background (the median of
       the border pixels) is light (> 0.5), invert.
    c. Remove the background level (subtract that median) and stretch so the brightest ink
       is 1. Pixels fainter than 10% of it are background, set to 0. If the contrast was
       under 0.1, or there are only a few ink pixels (a speck), there is no digit: None.
    d. Crop to the ink's bounding box.
    e. Resize so the longer side is 20 px, keeping the aspect ratio (Lanczos resampling of
       a float image, which antialiases when shrinking; the ringing is clipped to [0, 1];
       then the brightest pixel is stretched back to 1, since shrinking a thin stroke
       dims it).
    f. Paste into a 28x28 black field so the digit's centre of mass lands on (14, 14)
       (rounded to whole pixels), keeping the whole digit inside the field.

    Args:
        image: (H, W) uint8 in 0..255 or float in [0, 1], any H, W >= 1.

    Returns:
        (28, 28) float32 activations in [0, 1], ink bright; or None if there is no ink.

    Raises:
        ValueError: wrong rank, empty, NaN/Inf, or values out of range (naming which).
    """
    return prepare_digits(_as_unit_float(np.asarray(image))[None])[0]


def prepare_digits(images: np.ndarray) -> list[np.ndarray | None]:
    """:func:`prepare_digit` for a batch of same-sized images at once.

    Steps a-d run on the whole batch in a few array operations (what made one digit cost
    ~0.2 ms was mostly the per-call overhead of two dozen small NumPy calls); the resize and
    the centring, whose sizes differ from digit to digit, run per digit.

    Args:
        images: (B, H, W) float64 in [0, 1] (already validated, e.g. by :func:`prepare_digit`).

    Returns:
        B entries: a (28, 28) float32 digit, or None where there is no ink.
    """
    x = images
    h, w = x.shape[1:]
    # Per-image numbers are read into Python lists: one digit's decisions in NumPy were a dozen
    # calls on one-element arrays, each costing more than the arithmetic (_per_image).
    # The border, sorted: its median is the background's level (steps b and c), and its spread
    # tells a photo (grain, uneven light) from a flat image — the pad, a scan, MNIST.
    edge = np.sort(_border(x), axis=1)
    m = edge.shape[1]
    median = (edge[:, (m - 1) // 2] + edge[:, m // 2]) / 2
    medians: list[float] = median.tolist()
    # (b) polarity, per image.
    if any(level > 0.5 for level in medians):
        x = np.where((median > 0.5)[:, None, None], 1.0 - x, x)
    # (c) background removal and ink detection (the flipped border's median is 1 - median:
    # whichever of the two is the darker, as a flip happens exactly when median > 0.5).
    x = np.maximum(x - _per_image([min(level, 1.0 - level) for level in medians]), 0.0)
    peaks: list[float] = np.maximum.reduce(x, axis=(1, 2)).tolist()  # .max() without its wrapper
    present = [peak >= _MIN_CONTRAST for peak in peaks]
    x /= _per_image([peak if ok else 1.0 for peak, ok in zip(peaks, present, strict=True)])
    ink = x > _INK_THRESHOLD
    counts: list[int] = np.add.reduce(ink, axis=(1, 2)).tolist()  # counted as integers
    min_ink = _min_ink(h, w)
    x *= ink  # the background to 0 (x >= 0 here: one call, not a mask and an assignment)
    # A photo is cleaned first (photo.py); the flat images go on through the steps below. So
    # is an image whose "ink" is a third of it or more while the bulk of the picture is light
    # (a sheet on a dark table: its flat dark border made the paper the ink).
    photographed: list[bool] = looks_photographed(edge, median).tolist()
    crowded = [i for i, count in enumerate(counts) if count > 0.3 * h * w]
    if crowded:  # the tails' rule only for the crowded ones (a batch's bold 0 or 8)
        for i, dark in zip(crowded, dark_ink(images[crowded]).tolist(), strict=True):
            photographed[i] = photographed[i] or dark
    # (d) the bounding box of the ink: first and last rows / columns holding any.
    rows: list[list[bool]] = ink.any(axis=2).tolist()
    cols: list[list[bool]] = ink.any(axis=1).tolist()
    out: list[np.ndarray | None] = []
    for i, photo in enumerate(photographed):
        if photo:
            out.append(_prepare_photo(images[i]))
        elif not (present[i] and counts[i] >= min_ink):
            out.append(None)
        else:
            (t, bm), (lt, rt) = _span(rows[i]), _span(cols[i])
            out.append(_fit_and_centre(x[i, t : bm + 1, lt : rt + 1]))
    return out


def _per_image(values: list[float]) -> float | np.ndarray:
    """One number per image, shaped to broadcast against (B, H, W): for one image the plain
    float (the same arithmetic as a one-element array, without making one)."""
    return values[0] if len(values) == 1 else np.array(values)[:, None, None]


def _span(flags: list[bool]) -> tuple[int, int]:
    """The first and the last index holding True (there is one)."""
    return flags.index(True), len(flags) - 1 - flags[::-1].index(True)


def _min_ink(h: int, w: int) -> int:
    """Ink pixels an (h, w) image needs to hold a digit rather than a speck."""
    return max(_MIN_INK_PIXELS, math.ceil(_MIN_INK_FRACTION_OF_SIDE * max(h, w)))


def _prepare_photo(image: np.ndarray) -> np.ndarray | None:
    """Steps c-f for one photographed digit (H, W): cleaned by :func:`.photo.clean_photo`
    (which removes the background and the grain), then stretched, cropped, fitted and centred
    like any digit."""
    x = clean_photo(image)
    peak = float(x.max())
    ink = x > 0
    if peak < _MIN_CONTRAST or ink.sum() < _min_ink(*x.shape):
        return None
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return _fit_and_centre(x[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / peak)


def _fit_and_centre(x: np.ndarray) -> np.ndarray | None:
    """Steps e and f of :func:`prepare_digit` for one cropped digit (h, w) float64."""
    # (e) fit the longer side to FIT pixels, keeping the aspect ratio.
    h, w = x.shape
    scale = FIT / max(h, w)
    new_h = max(1, min(FIT, round(h * scale)))
    new_w = max(1, min(FIT, round(w * scale)))
    # Lanczos as Pillow computes it, as two matrix products (resample.py: Pillow's round trip
    # cost more than the rest of a drawn digit's preparation); its ringing clipped to [0, 1].
    fitted = lanczos_resize(x, new_h, new_w)
    np.maximum(fitted, 0.0, out=fitted)
    top_value = float(np.maximum.reduce(fitted, axis=None))
    if top_value > 1.0:  # only then is there anything above 1 to clip (and the top is 1)
        np.minimum(fitted, 1.0, out=fitted)
        top_value = 1.0
    if top_value <= 0.0:
        return None  # cannot happen for real ink, but never divide by zero
    fitted /= top_value

    # (f) centre of mass onto the centre of the 28x28 field.
    com_row, com_col = _centre_of_mass(fitted)
    top = min(max(round(CENTRE - com_row), 0), SIZE - new_h)
    left = min(max(round(CENTRE - com_col), 0), SIZE - new_w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + new_h, left : left + new_w] = fitted
    return out


def prepare_pixels(
    pixels: Sequence[float] | Sequence[Sequence[float]] | np.ndarray,
) -> np.ndarray | None:
    """Validate a JSON pixel grid (from the drawing pad or a REST client) and prepare it.

    Args:
        pixels: 784 numbers (a flattened 28x28 image, row-major) or a 2-D grid of any
            H x W (the pad may send its own resolution), each a finite number in [0, 1].
            Either polarity works: `prepare_digit` detects it.

    Returns:
        (28, 28) float32 in [0, 1], or None if the grid holds no ink.

    Raises:
        ValueError: wrong shape ("pixels must be 784 numbers or a 28x28 grid, got shape
            (3,)"), non-numbers, NaN/Infinity, values outside [0, 1], or too many pixels.
    """
    return prepare_digits(pixel_grid(pixels)[None])[0]


def prepare_pixel_batch(batch: Sequence[Any]) -> list[np.ndarray | ValueError | None]:
    """:func:`prepare_pixels` for many grids: each entry's digit, None (no ink), or the
    ValueError that entry raised; grids of the same size are prepared together."""
    out: list[np.ndarray | ValueError | None] = [None] * len(batch)
    groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
    for i, pixels in enumerate(batch):
        try:
            grid = pixel_grid(pixels)
        except ValueError as exc:
            out[i] = exc
            continue
        groups.setdefault(grid.shape, []).append((i, grid))
    for members in groups.values():
        # one grid (a drawing pad's usual request): a view, not np.stack's copy and its overhead
        stacked = members[0][1][None] if len(members) == 1 else np.stack([grid for _, grid in members])
        digits = prepare_digits(stacked)
        for (i, _), digit in zip(members, digits, strict=True):
            out[i] = digit
    return out


def pixel_grid(pixels: Sequence[float] | Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """The validated (H, W) float64 grid of :func:`prepare_pixels` (its ValueErrors)."""
    expected = _EXPECTED_GRID
    try:
        arr = np.asarray(pixels)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{expected}, with rows of equal length") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{expected} (numbers only), got {arr.dtype} values")
    if arr.ndim == 1 and arr.shape[0] == SIZE * SIZE:
        arr = arr.reshape(SIZE, SIZE)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{expected}, got shape {arr.shape}")
    # A grid is a picture: one row or one column (a "batch of one", x.reshape(1, -1)), or a strip
    # far longer than it is wide, cannot hold a drawn digit; it would be cropped and read as a dash.
    max_aspect = 10  # a tightly cropped "1" is about 20 high and 2 to 4 wide
    short, long = min(arr.shape), max(arr.shape)
    if short < 2 or long > max_aspect * short:
        h, w = arr.shape
        why = "one row" if h == 1 else "one column" if w == 1 else f"{long / short:g} times as long as wide"
        if arr.size == SIZE * SIZE:  # one digit's numbers in a list of their own: say just that
            raise ValueError(
                f"pixels: a {h}x{w} grid ({why}) cannot hold a drawn digit; if it is one digit's "
                f"{SIZE * SIZE} numbers, send them flat (no inner list) or as an HxW grid of rows "
                f"such as {SIZE}x{SIZE}"
            )
        raise ValueError(
            f"pixels: a {h}x{w} grid ({why}) cannot hold a drawn digit; send {SIZE * SIZE} numbers "
            f"flat, or an HxW grid of rows (each side at least 2, the longer at most {max_aspect} "
            f"times the shorter)"
        )
    if arr.size > MAX_IMAGE_PIXELS:
        raise ValueError(f"pixels: {arr.size} values is over the limit of {MAX_IMAGE_PIXELS}")
    arr = arr.astype(np.float64)  # 0/1 integers are activations here, not 0..255 pixels
    # NaN anywhere makes both NaN (min and max, as .min() and .max() run them: no wrappers)
    lo, hi = float(np.minimum.reduce(arr, axis=None)), float(np.maximum.reduce(arr, axis=None))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("pixels contain NaN or Infinity")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"pixels must lie in [0, 1], got range [{lo}, {hi}]")
    return arr
