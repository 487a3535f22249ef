import { test } from "node:test";
import assert from "node:assert/strict";
import { downsample, hasInk, smoothPath, isCorner, InFlightThrottle, follow, JITTER, sendBrush, BRUSH, MIN_SEND_BRUSH } from "../js/padmath.js";
import { FrameHistory } from "../js/history.js";

test("downsample averages blocks into [0, 1]", () => {
  const w = 4, h = 4, rgba = new Uint8ClampedArray(w * h * 4);
  // top-left 2x2 block fully white, one pixel of the top-right block white
  for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1], [3, 0]]) rgba[(y * w + x) * 4] = 255;
  const g = downsample(rgba, w, h, 2);
  assert.deepEqual(g, [[1, 0.25], [0, 0]]);
  assert.equal(hasInk(g), true);
  assert.equal(hasInk([[0, 0.01]]), false);
});

test("a 280 pad to 56 cells", () => {
  const rgba = new Uint8ClampedArray(280 * 280 * 4);
  const g = downsample(rgba, 280, 280, 56);
  assert.equal(g.length, 56);
  assert.equal(g[0].length, 56);
});

test("smooth path passes through midpoints and ends at the last point", () => {
  // A gentle bend: a quadratic curve through the midpoint, the point its control.
  const bend = smoothPath([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 20, y: 3 }]);
  assert.deepEqual(bend.start, { x: 0, y: 0 });
  assert.deepEqual(bend.curves[0], [{ x: 10, y: 0 }, { x: 15, y: 1.5 }]);
  assert.deepEqual(bend.curves[bend.curves.length - 1][1], { x: 20, y: 3 });
  // A corner (90°): the path goes through it, straight in and out (QA4: quick strokes lost corners).
  const p = smoothPath([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }]);
  assert.deepEqual(p.curves[0], [{ x: 10, y: 0 }, { x: 10, y: 0 }]);
  assert.deepEqual(p.curves[1], [{ x: 10, y: 5 }, { x: 10, y: 5 }]);
  assert.deepEqual(p.curves[p.curves.length - 1][1], { x: 10, y: 10 });
  assert.equal(isCorner({ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 20, y: 3 }), false);
  assert.equal(isCorner({ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 0, y: 1 }), true, "a flag's turn back");
  assert.equal(smoothPath([{ x: 1, y: 1 }]).curves.length, 0);
  assert.deepEqual(follow(null, { x: 5, y: 5 }), { x: 5, y: 5 });
  // Small steps are jitter, smoothed by k; a quick hand's long steps are not.
  assert.deepEqual(follow({ x: 0, y: 0 }, { x: 2, y: 0 }, 0.5), { x: 1, y: 0 });
  assert.deepEqual(follow({ x: 0, y: 0 }, { x: JITTER.none, y: 0 }, 0.5), { x: JITTER.none, y: 0 });
  assert.deepEqual(follow({ x: 0, y: 0 }, { x: 30, y: 40 }, 0.7), { x: 30, y: 40 });
  const mid = follow({ x: 0, y: 0 }, { x: (JITTER.full + JITTER.none) / 2, y: 0 }, 0.5).x / ((JITTER.full + JITTER.none) / 2);
  assert.ok(Math.abs(mid - 0.75) < 1e-12, `halfway between: half of the smoothing (${mid})`);
});

test("throttle: at most one request in flight, at most one per interval", () => {
  const t = new InFlightThrottle(50);
  assert.equal(t.next(0), false); // nothing wanted
  t.want();
  assert.equal(t.next(0), true);
  t.want();
  assert.equal(t.next(100), false); // still in flight
  t.done();
  assert.equal(t.next(100), true);
  t.done(); t.want();
  assert.equal(t.next(120), false); // too soon
  assert.equal(t.next(150), true);
  t.want();
  assert.equal(t.next(2500), true); // a lost answer stops blocking after 2 s
});

test("frame history stays bounded and spans the run", () => {
  const h = new FrameHistory(10);
  for (let s = 0; s < 1000; s += 10) h.push(s, { s });
  assert.ok(h.length <= 10);
  assert.equal(h.items[0].step, 0);
  assert.equal(h.latest().step, 990);
  assert.ok(h.at(500).step <= 500);
  assert.equal(h.at(-5).step, 0);
  h.push(0, { s: 0 }); // a new run starts over
  assert.equal(h.length, 1);
});

import { inkExtent, tooSmall, MIN_EXTENT } from "../js/padmath.js";

test("a dot is too small to read; a digit that fills the pad is not (issue 9, item 13)", () => {
  const grid = (/** @type {number} */ n, /** @type {(x: number, y: number) => number} */ f) => Array.from({ length: n }, (_, y) => Array.from({ length: n }, (_, x) => f(x, y)));
  const dot = grid(56, (x, y) => (Math.abs(x - 28) < 2 && Math.abs(y - 28) < 2 ? 1 : 0));
  assert.ok(tooSmall(dot));
  assert.deepEqual(inkExtent(dot), { w: 3 / 56, h: 3 / 56 });
  const one = grid(56, (x, y) => (x >= 27 && x <= 29 && y >= 8 && y <= 48 ? 1 : 0)); // a tall thin 1
  assert.ok(!tooSmall(one));
  const corner = grid(56, (x, y) => (x < 10 && y < 10 && (x + y) % 3 === 0 ? 1 : 0)); // a small digit in a corner
  assert.ok(tooSmall(corner) === (10 / 56 < MIN_EXTENT));
  assert.deepEqual(inkExtent(grid(4, () => 0)), { w: 0, h: 0 });
});

test("a small drawing is sent with thinner strokes, a big one as drawn (QA3 hand #6)", () => {
  const bar = (/** @type {number} */ len) => [[{ x: 20, y: 20 }, { x: 20, y: 20 + len }]];
  assert.equal(sendBrush(bar(200)), BRUSH); // most of the pad: the pen's width
  assert.equal(sendBrush(bar(140)), BRUSH); // half the pad and more: as drawn
  assert.equal(sendBrush(bar(70)), 10); // a quarter: a seventh of its extent (≈ 2.5 of 20 px)
  assert.equal(sendBrush([[{ x: 50, y: 50 }]]), MIN_SEND_BRUSH); // a dot stays a dot
  assert.equal(sendBrush([]), BRUSH);
});
