"""Phone-photo-like pictures of real MNIST test digits, made here (deterministic, offline): dark
ink on grey paper, with grain, light falling off across the page, a shadow over a corner, or a
dark table round the sheet — what a person's photo of a digit on paper brings."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("clean", "grain", "light", "shadow", "table", "all")


def photo(digit: np.ndarray, rng: np.random.Generator, kind: str) -> bytes:
    """A JPEG of ``digit`` (28, 28) uint8 (MNIST: bright ink on black) written on paper."""
    w, h = int(rng.integers(700, 1400)), int(rng.integers(900, 1800))
    side = int(rng.integers(int(0.25 * min(w, h)), int(0.6 * min(w, h))))
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255
    page = np.zeros((h, w), np.float32)
    top, left = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
    page[top : top + side, left : left + side] = np.clip(ink, 0, 1)
    paper, dark = rng.uniform(0.65, 0.92), rng.uniform(0.08, 0.3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.ones((h, w), np.float32)
    if kind in ("light", "all", "table"):  # light falling off 10-25% across the page
        a, g = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.25)
        light = 1 + g * (np.cos(a) * (xx / w - 0.5) + np.sin(a) * (yy / h - 0.5)) * 2
    img = (paper * (1 - page) + dark * page) * light
    if kind in ("shadow", "all"):  # a hard-edged shadow over a corner, 25-45% darker
        img = img * np.where(xx + yy < rng.uniform(0.3, 0.6) * (w + h), rng.uniform(0.55, 0.75), 1.0)
    if kind in ("grain", "all", "table"):  # sensor noise of 1.5-4% (4-10 grey levels)
        img = img + rng.normal(0, rng.uniform(0.015, 0.04), img.shape).astype(np.float32)
    if kind == "table":  # the sheet on a dark table
        m = int(0.12 * min(w, h))
        table = np.full((h + 2 * m, w + 2 * m), rng.uniform(0.05, 0.3), np.float32)
        table += rng.normal(0, 0.02, table.shape).astype(np.float32)
        table[m : m + h, m : m + w] = img
        img = table
    if kind == "clean":  # a clean scan: black on white
        img = 1.0 - page
    out = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    if kind != "clean":
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))  # focus
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=int(rng.integers(70, 92)))
    return buffer.getvalue()
