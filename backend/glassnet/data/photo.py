"""A digit photographed on paper, made to look like a clean scan before MNIST's preparation.

:func:`.preprocess.prepare_digits` reads a clean image — a flat background, ink of one contrast,
no noise (the drawing pad, a scan, an MNIST digit) — by one background level and a threshold at
10% of the brightest ink. A phone photo breaks all three: light falls off across the page (one
side of the paper is darker than the ink is faint), a shadow lies over a corner, the sensor adds
grain, and a dark table may frame the sheet. Each of those passed the threshold as "ink", the
digit's bounding box became the whole frame, and the digit shrank into a corner of the 28x28
field (QA: 6 of 7 photographed digits read wrong, a clean 7 at 28% with noise of 2%).

:func:`clean_photo` removes them, in this order (each step's why is at the step):

1. reduce to WORK_SIDE pixels on the long side by averaging (box filter): the digit still spans
   tens of pixels, and averaging n x n pixels divides the grain by n;
2. polarity: ink is what departs from the paper's local level (a shade or a lit corner does
   not), on the dark side for pen on paper;
3. a table framing the page (bright after the flip, broad, touching most of the picture's edge)
   is painted over with the paper's level;
4. the paper's level is estimated locally by a grey opening (a window wider than a stroke: it
   keeps broad shapes with their edges, removes thin ones) and subtracted: uneven light and
   shadows go;
5. the threshold is set above the remaining grain (a multiple of its robust spread); ink pixels
   without ink neighbours (specks), ink still touching the table, and ink far from the densest
   stroke (a ruled line, a glint) are dropped.

What is returned is a clean image, ink bright on 0, that the rest of the preparation crops,
fits and centres as it does any digit. Only NumPy and Pillow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: the long side the photo is reduced to: a digit that fills a quarter of the frame keeps ~80 px
WORK_SIDE = 320
#: ink must stand this many robust standard deviations of the grain above the paper
GRAIN_SIGMAS = 5.0
#: a region touching this share of the picture's edge is a frame (a table), not a stroke
FRAME_EDGE_SHARE = 0.6


def looks_photographed(edge: np.ndarray, median: np.ndarray) -> np.ndarray:
    """Which images need :func:`clean_photo`, from their border pixels, sorted (B, M) in [0, 1],
    and the border's median (B,): those whose border is not one flat level — grain (most of
    the border more than 2 grey levels of 255 from its median) or uneven light (the middle half
    of the border spread over more than 0.03, about 8 grey levels). A pad drawing, a scan or an
    MNIST digit has a flat border, also where a stroke reaches the edge (a stroke is never most
    of the border, nor a quarter of it). Cheap: the pad's predictions pass here many times a
    second."""
    m = edge.shape[1]
    # .sum over booleans: np.count_nonzero with an axis costs more in its Python wrapper
    grainy = (np.abs(edge - median[:, None]) > 2 / 255).sum(axis=1) > m // 2
    uneven = edge[:, (3 * (m - 1)) // 4] - edge[:, (m - 1) // 4] > 0.03
    return grainy | uneven


def _ink_is_dark(x: np.ndarray) -> bool:
    """Polarity of a photo (H, W): ink is what departs from the paper around it. The paper's
    level is the median of each cell, a tenth of the long side (wide against a stroke: ink is
    under half of a cell; of 8th to 40th parts, tenths told the test photos apart best); a pixel departs by
    the least of its differences from its own and its 8 neighbouring cells' levels, so the edge
    of a shade, a lit corner or a table (a pixel there matches the level on its side) departs by
    nothing, while a stroke departs from all of them. What departs by more than the grain goes
    to the dark or the light side, weighted by how far; pen on paper is dark. (The picture's
    median and its tails alone took a lit corner under a big shadow for ink.)"""
    h, w = x.shape
    c = max(2, max(h, w) // 10)
    gh, gw = h // c, w // c
    if gh < 3 or gw < 3:  # too small for cells
        return _tails_say_dark(x)
    x = x[: gh * c, : gw * c]
    cells = x.reshape(gh, c, gw, c).transpose(0, 2, 1, 3).reshape(gh, gw, c * c)
    around = np.pad(np.median(cells, axis=2), 1, mode="edge")
    blocks = x.reshape(gh, c, gw, c)
    r = None
    for i in range(3):
        for j in range(3):
            d = blocks - around[i : i + gh, None, j : j + gw, None]
            r = d if r is None else np.where(np.abs(d) < np.abs(r), d, r)
    assert r is not None
    grain = 1.4826 * float(np.median(np.abs(r))) + 1e-3
    dark = float(np.maximum(-r - 3 * grain, 0).sum())
    light = float(np.maximum(r - 3 * grain, 0).sum())
    return dark > light


def _tails_say_dark(x: np.ndarray) -> bool:
    """Polarity from the picture's median (the background: most of it) and its tails: ink is the
    far tail. Right for flat pictures; used to tell a sheet on a dark table (the paper is most
    of it, the table and the pen its dark tail) from a bold digit on black."""
    lo, mid, hi = np.percentile(x, [1, 50, 99])
    return bool(mid - lo > hi - mid)


def dark_ink(images: np.ndarray) -> np.ndarray:
    """:func:`_tails_say_dark` for each of (B, H, W): whether a crowded flat image is paper on a
    dark table (the tails' rule is right for flat pictures; :func:`_ink_is_dark` is for photos)."""
    return np.array([_tails_say_dark(x) for x in images], dtype=bool)


def _reduce(x: np.ndarray) -> np.ndarray:
    h, w = x.shape
    if max(h, w) <= WORK_SIDE:
        return x
    scale = WORK_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(x.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float64)


def _edge(mask: np.ndarray) -> np.ndarray:
    return np.concatenate([mask[0], mask[-1], mask[1:-1, 0], mask[1:-1, -1]])


def _reach(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` connected (4-neighbours) to ``seed``: grown one pixel a round, as
    far as the mask goes (a frame is reached from the picture's edge in its thickness's rounds)."""
    reach = seed & mask
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= mask
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def _dilate(mask: np.ndarray, t: int) -> np.ndarray:
    """``mask`` grown by t pixels every way (a (2t + 1)-square)."""
    return _sliding(_sliding(mask, 2 * t + 1, 0, np.maximum), 2 * t + 1, 1, np.maximum)


def _sliding(x: np.ndarray, k: int, axis: int, op: np.ufunc) -> np.ndarray:
    """``op`` (np.minimum or np.maximum) over a centred window of k (odd) pixels along ``axis``,
    the edges repeated. By doubling: after the loop m[i] covers y[i : i + L] (L a power of two),
    and a window of k is the union of two such spans: log2(k) array operations, not k."""
    r = k // 2
    y = np.moveaxis(np.pad(x, [(r, r) if a == axis else (0, 0) for a in range(x.ndim)], mode="edge"), axis, 0)
    m, span = y, 1
    while 2 * span <= k:
        m = op(m[:-span], m[span:])
        span *= 2
    n = x.shape[axis]
    return np.moveaxis(op(m[:n], m[k - span : k - span + n]), 0, axis)


def _paper_level(x: np.ndarray) -> np.ndarray:
    """The paper's level under every pixel of x (H, W), ink bright: a grey-level opening (the
    least value over a k x k window, then the greatest of those): it removes every bright shape
    narrower than the window — strokes — and keeps broad ones with their edges: lit and shaded
    paper, a table, light falling off. k is an eighth of the long side, wider than a stroke."""
    k = max(9, round(max(x.shape) / 8)) | 1
    r = k // 2
    # The picture is extended by its edge first: a window that fits the shaded corner only by
    # reaching past the picture's edge must count (else a band along the edge stays "ink").
    x = np.pad(x, r, mode="edge")
    low = _sliding(_sliding(x, k, 0, np.minimum), k, 1, np.minimum)
    return _sliding(_sliding(low, k, 0, np.maximum), k, 1, np.maximum)[r:-r, r:-r]


def clean_photo(x: np.ndarray) -> np.ndarray:
    """A photographed digit (H, W) float64 in [0, 1], either polarity -> a clean image (h, w)
    float64 (h, w <= WORK_SIDE): ink bright, everything else exactly 0. See the module's steps."""
    x = _reduce(x)
    # (2) polarity from the whole picture, not its border (a table would decide it).
    if _ink_is_dark(x):
        x = 1.0 - x
    mid = float(np.median(x))
    # (3) a table round the page: brighter than the paper by more than half the way to the
    # brightest, reaching most of the picture's edge. Painted with the paper's level (with its
    # blurred rim), it is gone; ink that still touches it later (a glint along the sheet's edge,
    # a JPEG's ringing) is dropped in (5).
    bright = x > mid + 0.5 * (float(x.max()) - mid)
    # only its broad parts: a stroke that touches the table is not the table
    k = max(3, max(x.shape) // 20) | 1
    broad = _dilate(~_dilate(~bright, k // 2), k // 2)
    outside = np.zeros_like(bright)
    outside[0], outside[-1], outside[:, 0], outside[:, -1] = True, True, True, True
    frame = _reach(outside, broad & bright)
    table = None
    if _edge(frame).mean() >= FRAME_EDGE_SHARE:
        table = _dilate(frame, max(1, round(max(x.shape) / 100)))
        if not table.all():
            x = np.where(table, np.median(x[~table]), x)
    # (4) the paper's own level, here and there, subtracted.
    x = np.maximum(x - _paper_level(x), 0.0)
    # (5) above the grain. What the opening leaves of bare paper is grain, sitting a little above
    # 0 (an opening follows the grain's lows): ink stands GRAIN_SIGMAS of its spread (from the
    # median absolute deviation: ink is the minority) above its median.
    rest = float(np.median(x))
    grain = 1.4826 * float(np.median(np.abs(x - rest)))
    ink = x > max(0.1 * float(x.max()), rest + GRAIN_SIGMAS * grain)
    # a speck: an ink pixel with fewer than 2 ink neighbours of 8
    padded = np.pad(ink, 1)
    h, w = ink.shape
    neighbours = sum(padded[i : i + h, j : j + w].astype(np.int8) for i in range(3) for j in range(3)) - ink
    ink &= neighbours >= 2
    if table is not None:
        ink &= ~_reach(ink & _dilate(table, 2), ink)
    return np.where(_near_the_digit(ink), x, 0.0)


def _near_the_digit(ink: np.ndarray) -> np.ndarray:
    """The ink of the digit: the stroke through the densest ink (the most ink in a window of a
    twentieth of the side), with every ink pixel within a quarter of its size around it (a 5's
    separate bar, a broken stroke). Specks, a ruled line or a glint far from it are not the digit
    and would stretch its box."""
    if not ink.any():
        return ink
    t = max(1, max(ink.shape) // 40)
    # ink pixels in the (2t + 1)-square round each pixel, from a summed-area table
    area = np.pad(np.pad(ink, t).cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    k = 2 * t + 1
    density = area[k:, k:] - area[:-k, k:] - area[k:, :-k] + area[:-k, :-k]
    seed = np.zeros_like(ink)
    seed[np.unravel_index(int(np.argmax(np.where(ink, density, -1))), ink.shape)] = True
    main = _reach(seed, ink)
    rows, cols = np.flatnonzero(main.any(axis=1)), np.flatnonzero(main.any(axis=0))
    pad = max(2, (max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1) // 4)
    near = np.zeros_like(ink)
    near[max(0, rows[0] - pad) : rows[-1] + pad + 1, max(0, cols[0] - pad) : cols[-1] + pad + 1] = True
    return main | (ink & near)
