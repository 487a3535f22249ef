"""Data augmentation: new handwriting from old, on the fly and seeded.

People write differently from MNIST's 1990s census writers: slanted, bigger or smaller, thicker
or thinner, a little wobbly. Showing the network such variations of its training digits makes it
read people better. Three transforms, each switchable:

* **affine** — a random rotation, scale, shear and shift, about the digit's centre of mass,
  kept inside the frame (the shift is clamped and, if need be, the scale reduced so the ink's
  bounding box stays within the 28×28 image: nothing the label depends on is cut off);
* **elastic** — Simard, Steinkraus & Platt (2003): a random displacement field per image,
  smoothed with a Gaussian of width σ and scaled by α, warps the strokes like an unsteady hand;
* **stroke** — thicker or thinner strokes: a grey-level dilation or erosion (max or min over
  the 4-neighbourhood), blended with the original by a random amount.

Both geometric transforms are one bilinear resampling of the batch. Randomness comes from the
run's seed and the batch's position (epoch, step) only, so an augmented epoch is the same every
time and a run resumed mid-epoch sees exactly the digits it would have seen.

Shapes: x (N, 1, H, W) float32 in [0, 1] -> the same shape and range.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["Augment", "augment_batch", "batch_rng"]

_TAG = 0x6175676D  # "augm": keeps these streams apart from the run's other random numbers


@dataclass(frozen=True)
class Augment:
    """Which transforms to apply and how strongly (the defaults suit 28×28 digits)."""

    affine: bool = True
    elastic: bool = True
    stroke: bool = True
    rotation: float = 10.0  # degrees, ±
    scale: tuple[float, float] = (0.9, 1.1)
    shear: float = 0.1  # x-shear factor, ±
    shift: float = 2.0  # pixels, ± in each direction
    alpha: float = 30.0  # elastic: displacement scale (Simard et al. use 34 with σ = 4)
    sigma: float = 5.0  # elastic: smoothing width in pixels (wider = gentler, more hand-like)
    stroke_rate: float = 0.5  # share of images whose stroke width changes

    def __post_init__(self) -> None:
        checks = (
            (0 <= self.rotation <= 45, "rotation must be in [0, 45] degrees"),
            (
                0.5 <= self.scale[0] <= self.scale[1] <= 1.5,
                "scale must be (lo, hi) with 0.5 <= lo <= hi <= 1.5",
            ),
            (0 <= self.shear <= 0.5, "shear must be in [0, 0.5]"),
            (0 <= self.shift <= 6, "shift must be in [0, 6] pixels"),
            (0 <= self.alpha <= 60, "alpha must be in [0, 60]"),
            (0.5 <= self.sigma <= 10, "sigma must be in [0.5, 10]"),
            (0 <= self.stroke_rate <= 1, "stroke_rate must be in [0, 1]"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"augment: {message}")

    @property
    def active(self) -> bool:
        return self.affine or self.elastic or self.stroke

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["scale"] = list(self.scale)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Augment:
        """From a JSON object (unknown keys refused, so a typo is not silently ignored)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"augment: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        values = dict(values)
        if "scale" in values:
            scale = values["scale"]
            if not (isinstance(scale, list | tuple) and len(scale) == 2):
                raise ValueError("augment: scale must be two numbers [lo, hi]")
            values["scale"] = (float(scale[0]), float(scale[1]))
        for name in ("affine", "elastic", "stroke"):
            if name in values and not isinstance(values[name], bool):
                raise ValueError(f"augment: {name} must be true or false")
        return cls(**values)


def batch_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    """The random numbers of one mini-batch: a function of (seed, epoch, step) only."""
    return np.random.default_rng([int(seed), int(epoch), int(step), _TAG])


@functools.lru_cache(maxsize=16)
def _smoothing_matrix(n: int, sigma: float) -> np.ndarray:
    """G (n, n): G @ f smooths a signal f with a normalised Gaussian (zeros beyond the edges).

    Cached (read-only): every batch of a run uses the same one."""
    radius = math.ceil(4 * sigma)
    kernel = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma * sigma))
    offsets = np.arange(n)[None, :] - np.arange(n)[:, None]  # g[i, j] weighs f[j] for output i
    g = np.exp(-(offsets**2) / (2 * sigma * sigma)) / kernel.sum()
    g[np.abs(offsets) > radius] = 0.0
    g.setflags(write=False)
    return g


def _centre_of_mass(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cy, cx) per image of x (N, H, W); the frame's centre where there is no ink."""
    _, h, w = x.shape
    mass = x.sum(axis=(1, 2))
    safe = np.where(mass > 0, mass, 1)
    cy = (x.sum(axis=2) * np.arange(h)).sum(axis=1) / safe
    cx = (x.sum(axis=1) * np.arange(w)).sum(axis=1) / safe
    return np.where(mass > 0, cy, (h - 1) / 2), np.where(mass > 0, cx, (w - 1) / 2)


def _ink_box(x: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """(N, 4) [top, bottom, left, right] of the pixels above ``threshold`` (the whole frame if none)."""
    n, h, w = x.shape
    rows, cols = x.max(axis=2) > threshold, x.max(axis=1) > threshold
    box = np.empty((n, 4))
    any_ink = rows.any(axis=1)
    box[:, 0] = np.where(any_ink, rows.argmax(axis=1), 0)
    box[:, 1] = np.where(any_ink, h - 1 - rows[:, ::-1].argmax(axis=1), h - 1)
    box[:, 2] = np.where(any_ink, cols.argmax(axis=1), 0)
    box[:, 3] = np.where(any_ink, w - 1 - cols[:, ::-1].argmax(axis=1), w - 1)
    return box


def _affine(x: np.ndarray, cfg: Augment, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-image inverse maps for the resampling: (M (N, 2, 2), offset (N, 2)) such that the
    output pixel p (row, col) samples the input at M @ p + offset."""
    n, h, w = x.shape
    angle = np.radians(rng.uniform(-cfg.rotation, cfg.rotation, n))
    scale = rng.uniform(cfg.scale[0], cfg.scale[1], n)
    shear = rng.uniform(-cfg.shear, cfg.shear, n)
    shift = rng.uniform(-cfg.shift, cfg.shift, (n, 2))
    cos, sin = np.cos(angle), np.sin(angle)
    # forward map A (row, col): rotate, then shear columns by rows, then scale
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    sh = np.zeros((n, 2, 2))
    sh[:, 0, 0] = sh[:, 1, 1] = 1
    sh[:, 1, 0] = shear
    a = scale[:, None, None] * (sh @ rot)
    cy, cx = _centre_of_mass(x)
    centre = np.stack([cy, cx], -1)
    target = np.array([(h - 1) / 2, (w - 1) / 2])
    # Keep the ink inside the frame: where the corners of its box land, then clamp the shift and,
    # if the box is too big even unshifted, shrink.
    box = _ink_box(x, threshold=0.02)  # every visible stroke, the faint edges too
    corners = np.stack(
        [box[:, [0, 2]], box[:, [0, 3]], box[:, [1, 2]], box[:, [1, 3]]], axis=1
    )  # (N, 4, 2) row, col
    moved = np.einsum("nij,nkj->nki", a, corners - centre[:, None, :])  # relative to the new centre
    lo, hi = moved.min(axis=1), moved.max(axis=1)  # (N, 2)
    size = hi - lo
    # A margin of max(1, scale) pixels: bilinear sampling reaches 1/scale input pixels beyond
    # the last stroke, i.e. `scale` output pixels, so the ink's interpolated edge stays inside.
    first = np.maximum(1.0, scale)[:, None]  # (N, 1)
    last = np.array([h - 1, w - 1], dtype=float) - first  # (N, 2)
    shrink = np.minimum(1.0, ((last - first) / np.maximum(size, 1e-9)).min(axis=1))
    a *= shrink[:, None, None]
    lo, hi = lo * shrink[:, None], hi * shrink[:, None]
    dest = np.clip(target + shift, first - lo, last - hi)  # first <= dest + lo, dest + hi <= last
    inv = np.linalg.inv(a)
    # output p -> input: centre + inv @ (p - dest)
    offset = centre - np.einsum("nij,nj->ni", inv, dest)
    return inv, offset


def _resample(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear samples of x (N, H, W) at real coordinates rows, cols (N, H, W); 0 outside.

    The images get a border of zeros and the coordinates are clamped into it, so every sample
    reads four real neighbours (no masks) and anything outside the frame reads 0.
    """
    n, h, w = x.shape
    p = np.zeros((n, h + 2, w + 2), dtype=np.float32)
    p[:, 1:-1, 1:-1] = x
    r = np.clip(rows + 1, 0, h + 0.999).astype(np.float32)
    c = np.clip(cols + 1, 0, w + 0.999).astype(np.float32)
    r0, c0 = r.astype(np.int32), c.astype(np.int32)  # floor: r, c >= 0
    fr, fc = r - r0, c - c0
    stride = w + 2
    idx = (np.arange(n, dtype=np.int32) * ((h + 2) * stride))[:, None, None] + r0 * stride + c0
    flat = p.reshape(-1)
    top = flat[idx] * (1 - fc) + flat[idx + 1] * fc
    bottom = flat[idx + stride] * (1 - fc) + flat[idx + stride + 1] * fc
    return top * (1 - fr) + bottom * fr


def _stroke(x: np.ndarray, cfg: Augment, rng: np.random.Generator) -> np.ndarray:
    """Thicker or thinner strokes for a share of the images (x (N, H, W))."""
    n = x.shape[0]
    which = rng.random(n)
    amount = rng.uniform(0.3, 1.0, n)[:, None, None]
    grow = which < cfg.stroke_rate / 2
    shrink = (which >= cfg.stroke_rate / 2) & (which < cfg.stroke_rate)
    out = x.copy()
    for chosen, reduce, share in ((grow, np.maximum, amount), (shrink, np.minimum, amount / 2)):
        if not chosen.any():
            continue
        # max (dilation) or min (erosion) over each pixel and its 4 neighbours
        p = np.pad(x[chosen], ((0, 0), (1, 1), (1, 1)))
        m = reduce.reduce(
            [p[:, 1:-1, 1:-1], p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
        )
        # blended with the original; thinning at most halfway, so a thin stroke does not vanish
        out[chosen] = (1 - share[chosen]) * x[chosen] + share[chosen] * m
    # a thicker stroke must not grow into the frame's outermost pixels
    out[:, [0, -1], :] = x[:, [0, -1], :]
    out[:, :, [0, -1]] = x[:, :, [0, -1]]
    return out


def augment_batch(x: np.ndarray, cfg: Augment, rng: np.random.Generator) -> np.ndarray:
    """A randomly transformed copy of a batch of digits, x (N, 1, H, W) float32 in [0, 1]."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"augment: expected images of shape (N, 1, H, W), got {x.shape}")
    if not cfg.active or x.shape[0] == 0:
        return x
    imgs = x[:, 0].astype(np.float32)
    n, h, w = imgs.shape
    if cfg.affine or cfg.elastic:
        grid_r, grid_c = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
        rows = np.broadcast_to(grid_r, (n, h, w)).copy()
        cols = np.broadcast_to(grid_c, (n, h, w)).copy()
        if cfg.affine:
            inv, offset = _affine(imgs, cfg, rng)
            rows, cols = (
                inv[:, 0, 0, None, None] * grid_r
                + inv[:, 0, 1, None, None] * grid_c
                + offset[:, 0, None, None],
                inv[:, 1, 0, None, None] * grid_r
                + inv[:, 1, 1, None, None] * grid_c
                + offset[:, 1, None, None],
            )
        if cfg.elastic:
            g_h, g_w = _smoothing_matrix(h, cfg.sigma), _smoothing_matrix(w, cfg.sigma)
            field = rng.uniform(-1, 1, (2, n, h, w))
            smooth = g_h @ field @ g_w.T  # each field smoothed along rows and columns
            # Calmer near the edges: a pixel there moves less, so no stroke is pushed out of frame.
            edge = np.minimum(np.minimum(grid_r, h - 1 - grid_r), np.minimum(grid_c, w - 1 - grid_c))
            taper = np.clip(edge / 4.0, 0.0, 1.0)
            rows = rows + cfg.alpha * taper * smooth[0]
            cols = cols + cfg.alpha * taper * smooth[1]
        imgs = _resample(imgs, rows, cols)
    if cfg.stroke:
        imgs = _stroke(imgs, cfg, rng)
    return np.clip(imgs, 0.0, 1.0).astype(np.float32)[:, None]
