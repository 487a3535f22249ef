"""Hand-written digits as pen strokes on the 280x280 pad: polylines and curves shaped the way a
person writes each digit (not MNIST images), smoothed with Catmull-Rom splines and drawn with
page.mouse down/move/up."""

from __future__ import annotations

import itertools
import math

Point = tuple[float, float]


def catmull_rom(points: list[Point], per_segment: int = 8) -> list[Point]:
    """A smooth curve through every control point."""
    if len(points) < 3:
        return points
    pts = [points[0], *points, points[-1]]
    out: list[Point] = []
    for i in range(1, len(pts) - 2):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[i + 1], pts[i + 2]
        for k in range(per_segment):
            t = k / per_segment
            t2, t3 = t * t, t * t * t
            out.append(
                tuple(
                    0.5
                    * (
                        2 * p1[j]
                        + (-p0[j] + p2[j]) * t
                        + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t2
                        + (-p0[j] + 3 * p1[j] - 3 * p2[j] + p3[j]) * t3
                    )
                    for j in range(2)
                )
            )
    out.append(points[-1])
    return out


def ellipse(
    cx: float, cy: float, rx: float, ry: float, start: float = -100, sweep: float = -380
) -> list[Point]:
    """An oval drawn like a pen: starting near the top, going round anticlockwise, a little
    overlap at the end (angles in degrees, y down)."""
    n = 40
    return [
        (
            cx + rx * math.cos(math.radians(start + sweep * i / n)),
            cy + ry * math.sin(math.radians(start + sweep * i / n)),
        )
        for i in range(n + 1)
    ]


def tilt(points: list[Point], slant: float = 0.12, cy: float = 140) -> list[Point]:
    """Slant like handwriting: the top of the digit leans right."""
    return [(x - (y - cy) * slant, y) for x, y in points]


# Each digit: a list of strokes; each stroke a list of control points (pad pixels, 0..280).
DIGITS: dict[int, list[list[Point]]] = {
    0: [tilt(ellipse(140, 142, 58, 92), 0.1)],
    1: [
        catmull_rom([(118, 78), (138, 58), (152, 42)]),
        catmull_rom(tilt([(152, 42), (150, 120), (146, 190), (143, 245)], 0.08)),
    ],
    2: [
        catmull_rom(
            [
                (82, 95),
                (100, 60),
                (140, 44),
                (182, 58),
                (196, 95),
                (182, 135),
                (145, 175),
                (105, 212),
                (80, 238),
                (130, 236),
                (175, 236),
                (208, 238),
            ]
        )
    ],
    3: [
        catmull_rom(
            [
                (82, 68),
                (125, 44),
                (172, 50),
                (192, 85),
                (175, 118),
                (132, 134),
                (178, 150),
                (198, 188),
                (182, 225),
                (135, 244),
                (84, 230),
            ]
        )
    ],
    4: [
        catmull_rom(tilt([(108, 45), (100, 105), (94, 160), (145, 158), (205, 156)], 0.05)),
        catmull_rom(tilt([(178, 52), (176, 130), (174, 190), (172, 248)], 0.05)),
    ],
    5: [
        catmull_rom(tilt([(195, 48), (150, 48), (112, 50)], 0.05)),
        catmull_rom(
            tilt(
                [
                    (112, 50),
                    (104, 95),
                    (100, 130),
                    (140, 120),
                    (182, 138),
                    (198, 182),
                    (182, 222),
                    (140, 243),
                    (95, 232),
                    (80, 215),
                ],
                0.05,
            )
        ),
    ],
    6: [
        catmull_rom(
            [
                (182, 46),
                (140, 70),
                (108, 112),
                (92, 165),
                (102, 215),
                (140, 242),
                (182, 222),
                (192, 180),
                (168, 150),
                (128, 150),
                (100, 180),
            ]
        )
    ],
    7: [
        catmull_rom([(72, 62), (140, 60), (208, 58)]),
        catmull_rom([(208, 58), (180, 115), (152, 175), (132, 246)]),
    ],
    8: [
        catmull_rom(
            [
                (182, 72),
                (150, 44),
                (110, 50),
                (96, 88),
                (122, 124),
                (160, 144),
                (190, 180),
                (182, 225),
                (140, 245),
                (100, 228),
                (92, 190),
                (120, 152),
                (160, 128),
                (184, 100),
                (182, 72),
            ]
        )
    ],
    9: [
        catmull_rom(
            [
                (178, 80),
                (150, 50),
                (112, 54),
                (90, 88),
                (102, 126),
                (142, 134),
                (176, 108),
                (184, 72),
                (182, 120),
                (178, 180),
                (174, 248),
            ]
        )
    ],
}


def draw(page, strokes: list[list[Point]], steps_between: int = 2) -> None:
    """Draw strokes on the pad with the mouse (pad coordinates, 0..280)."""
    pad = page.get_by_test_id("pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    sx, sy = box["width"] / 280, box["height"] / 280
    for stroke in strokes:
        pts = stroke if len(stroke) > 2 else catmull_rom(stroke)
        x0, y0 = pts[0]
        page.mouse.move(box["x"] + x0 * sx, box["y"] + y0 * sy)
        page.mouse.down()
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            for k in range(1, steps_between + 1):
                t = k / steps_between
                page.mouse.move(box["x"] + (ax + (bx - ax) * t) * sx, box["y"] + (ay + (by - ay) * t) * sy)
        page.mouse.up()


def boxy_six(rng, size: float = 280) -> list[list[Point]]:
    """A 6 drawn the way a digital clock shows it — one stroke of straight segments: across the
    top right to left, down the left side, along the bottom, up to the middle, back left. A
    consistent style that MNIST's writers rarely used (the bundled cnn mostly reads it as a 5).
    Each call jitters the corners, size, slant and position like a hand would."""
    scale = rng.uniform(0.8, 1.0)
    slant = rng.uniform(-0.08, 0.15)
    dx, dy = rng.uniform(-18, 18), rng.uniform(-12, 12)
    left, right, top, mid, bottom = 95, 185, 55, 148, 240
    corners = [(right, top), (left, top), (left, bottom), (right, bottom), (right, mid), (left, mid)]

    def place(x: float, y: float) -> Point:
        x, y = x + rng.normal(0, 5), y + rng.normal(0, 5)
        x, y = 140 + (x - 140) * scale, 140 + (y - 140) * scale
        return (x - (y - 140) * slant + dx, y + dy)

    placed = [place(x, y) for x, y in corners]
    points: list[Point] = []
    for (ax, ay), (bx, by) in itertools.pairwise(placed):  # straight segments, a point every ~8 px
        n = max(2, int(math.hypot(bx - ax, by - ay) / 8))
        points.extend((ax + (bx - ax) * k / n, ay + (by - ay) * k / n) for k in range(n))
    points.append(placed[-1])
    return [points]
