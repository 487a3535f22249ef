import { test } from "node:test";
import assert from "node:assert/strict";
import { makeScale, invertScale, niceTicks, logTicks, smooth, Smoother, decimate, nearestIndex, extent, padRange, Column, formatDuration, formatNumber, accuracyPercent, steadyRate, markLabelAt } from "../js/chartmath.js";

test("linear and log scales map and invert", () => {
  const s = makeScale(0, 10, 0, 100);
  assert.equal(s(5), 50);
  assert.equal(invertScale(0, 10, 0, 100)(25), 2.5);
  const l = makeScale(0.01, 1, 0, 200, true);
  assert.ok(Math.abs(l(0.1) - 100) < 1e-9);
  assert.ok(Math.abs(invertScale(0.01, 1, 0, 200, true)(100) - 0.1) < 1e-12);
  // inverted pixel range (y axes grow upwards)
  assert.equal(makeScale(0, 1, 100, 0)(1), 0);
});

test("nice ticks are round numbers covering the range", () => {
  assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 2.3, 4), [0, 0.5, 1, 1.5, 2]);
  assert.deepEqual(niceTicks(0, 8000, 4), [0, 2000, 4000, 6000, 8000]);
  assert.deepEqual(logTicks(0.05, 3), [0.05, 0.1, 0.2, 0.5, 1, 2]);
  assert.deepEqual(logTicks(0.001, 10), [0.001, 0.01, 0.1, 1, 10]);
});

test("smoothing: 0 is raw, bias-corrected start, NaN skipped", () => {
  assert.deepEqual([...smooth([1, 2, 3], 0)], [1, 2, 3]);
  const s = smooth([2, 2, 2, 2], 0.9);
  for (const v of s) assert.ok(Math.abs(v - 2) < 1e-12); // no pull towards 0
  const t = smooth([1, NaN, 3], 0.5);
  assert.equal(t[1], 1);
  const inc = new Smoother(0.6);
  const batch = smooth([5, 1, 4, 2], 0.6);
  [5, 1, 4, 2].forEach((y, i) => assert.ok(Math.abs(inc.push(y) - batch[i]) < 1e-12));
});

test("decimation keeps min and max per pixel column", () => {
  const n = 100000;
  const xs = new Float64Array(n), ys = new Float64Array(n);
  for (let i = 0; i < n; i++) { xs[i] = i; ys[i] = Math.sin(i / 1000) + (i % 2 ? 0.5 : -0.5); }
  ys[54321] = 10; // a spike must survive
  const d = decimate(xs, ys, 0, n - 1, 500);
  assert.ok(d.count <= 500);
  assert.ok(d.count >= 499);
  let spike = -Infinity, low = Infinity;
  for (let i = 0; i < d.count; i++) { spike = Math.max(spike, d.max[i]); low = Math.min(low, d.min[i]); }
  assert.equal(spike, 10);
  assert.ok(low < -1.4);
});

test("decimation of a visible window and of sparse data", () => {
  const xs = [0, 10, 20, 30], ys = [1, 2, NaN, 4];
  const d = decimate(xs, ys, 5, 25, 100);
  // the point before the window and the one after keep the line reaching the edges
  assert.deepEqual([...d.min.slice(0, d.count)], [1, 2, 4]);
  assert.equal(d.px[d.count - 1], 100);
});

test("nearest index, extent, padding", () => {
  assert.equal(nearestIndex([0, 10, 20], 14), 1);
  assert.equal(nearestIndex([0, 10, 20], 16), 2);
  assert.equal(nearestIndex([], 3), -1);
  assert.deepEqual(extent([3, NaN, -1, 7]), [-1, 7]);
  assert.deepEqual(extent([3, 5, 9], 3, [0, 1, 2], 1, 2), [5, 9]);
  assert.deepEqual(padRange(1, 1), [0.9, 1.1]);
  const [lo] = padRange(0, 2, true);
  assert.ok(lo > 0);
});

test("column grows and formats read well", () => {
  const c = new Column(2);
  for (let i = 0; i < 5; i++) c.push(i);
  assert.deepEqual([...c.view()], [0, 1, 2, 3, 4]);
  assert.equal(formatDuration(65), "1 min 05 s");
  assert.equal(formatNumber(0.012345), "0.0123");
  assert.equal(formatNumber(NaN), "–");
});

import { clipTop } from "../js/chartmath.js";

test("a spike is clipped at the 99.5th percentile and counted (issue 9, item 12)", () => {
  const ys = Array.from({ length: 1000 }, (_, i) => 1 - i / 2000);
  ys[500] = 40; // one spike
  const c = clipTop(ys, ys.length, 0.995);
  assert.equal(c.above, 5);
  assert.ok(c.top < 1.01);
  assert.deepEqual(clipTop([NaN, NaN], 2, 0.995), { top: NaN, above: 0 });
  assert.equal(formatNumber(0.00014), "1.4·10⁻⁴"); // never 1.4e-4
});

import { tickLabels, yAxisLeft } from "../js/chartmath.js";

test("QA3 #8: y tick labels differ from each other and stay clear of the axis title", () => {
  // the cnn's step curve (costs near 1.9·10⁻⁶) and the notes network's (1.9952…1.9963)
  const small = niceTicks(1.876e-6, 1.93e-6, 3);
  const labels = tickLabels(small);
  assert.equal(new Set(labels).size, labels.length, labels.join(" | "));
  const near = niceTicks(1.9952, 1.9963, 3);
  assert.ok(near.length >= 2);
  const nearLabels = tickLabels(near);
  assert.equal(new Set(nearLabels).size, nearLabels.length, nearLabels.join(" | "));
  assert.ok(!nearLabels.includes("2"), nearLabels.join(" | "));
  assert.deepEqual(tickLabels([0, 0.5, 1]), ["0", "0.5", "1"]); // short labels stay short
  // labels end 6 px left of the axis; the rotated title takes the first 17 px
  for (const w of [10, 40, 58, 90]) assert.ok(yAxisLeft(w) - 6 - w >= 20, String(w));
  assert.equal(yAxisLeft(10), 52); // the usual margin when labels are short
});

test("accuracies are cut, never rounded up (qa3-dash #10)", () => {
  assert.equal(accuracyPercent(0.9748), "97.4%");
  assert.equal(accuracyPercent(0.9386), "93.8%");
  assert.equal(accuracyPercent(0.981), "98.1%");
  assert.equal(accuracyPercent(0.9999), "99.9%");
  assert.equal(accuracyPercent(1), "100%"); // every digit right is exactly 100%
  assert.equal(accuracyPercent(0), "0.0%");
});

test("a duration in the page's language (QA4 NEWCOMER-6): one format, the words passed in", async () => {
  const { readFileSync } = await import("node:fs");
  const { format } = await import("../js/messages.js");
  const zh = JSON.parse(readFileSync(new URL("../i18n/zh-CN.json", import.meta.url), "utf8"));
  const words = { s: (/** @type {any} */ p) => format(zh["duration.s"], p), min_s: (/** @type {any} */ p) => format(zh["duration.min_s"], p), h_min: (/** @type {any} */ p) => format(zh["duration.h_min"], p) };
  assert.equal(formatDuration(161, words), "2 分 41 秒");
  assert.equal(formatDuration(5640, words), "1 小时 34 分");
  assert.equal(formatDuration(42, words), "42 秒");
  assert.equal(formatDuration(161), "2 min 41 s");
});

test("no time left until the speed is measured well enough (QA4: a first 1 h 34 min for a 7-minute run)", () => {
  const at = (/** @type {number[][]} */ pairs) => pairs.map(([ms, rate]) => ({ at: ms, rate }));
  // The first second of a run reads slow: 9 s in, nothing is said, however steady.
  assert.equal(steadyRate(at([[0, 90], [2000, 800], [9000, 860]]), 9000), null);
  // 10 s in, the last 5 s within 25% of the latest: that speed.
  assert.equal(steadyRate(at([[0, 90], [2000, 800], [6000, 850], [10000, 860]]), 10000), 860);
  // Still settling (the last 5 s went 400 → 860): nothing yet.
  assert.equal(steadyRate(at([[0, 90], [7000, 400], [12000, 860]]), 12000), null);
  assert.equal(steadyRate([], 60000), null);
});

test("a mark's label stays inside the plot: right of its line, or left of it at the right edge", () => {
  assert.deepEqual(markLabelAt(100, 40, 500), { x: 103, align: "left" });
  // the newest step's mark sits at the edge: its label turns to the line's left, whole
  assert.deepEqual(markLabelAt(498, 40, 500), { x: 495, align: "right" });
  assert.deepEqual(markLabelAt(457, 40, 500), { x: 460, align: "left" }); // just fits
  assert.deepEqual(markLabelAt(458, 40, 500), { x: 455, align: "right" });
});

test("a range a rounding error wide is one value: one tick, and padded like a flat line", () => {
  // 0.5 and the next double up: a step of 10⁻¹⁷ would never move the tick loop (a page's
  // "Invalid array length" on the loss chart after a resume).
  const lo = 0.5, hi = 0.5000000000000001;
  assert.deepEqual(niceTicks(lo, hi, 5), [lo]);
  const [a, b] = padRange(lo, hi);
  assert.ok(Math.abs(a - 0.45) < 1e-12 && Math.abs(b - 0.55) < 1e-12, `${a}, ${b}`);
  assert.deepEqual(niceTicks(a, b, 5), [0.46, 0.48, 0.5, 0.52, 0.54]);
  // Every count of ticks stays bounded, even for ranges near the edge of a double's precision.
  for (const w of [1e-15, 1e-13, 1e-11, 1e-9]) {
    const ticks = niceTicks(2.302585, 2.302585 * (1 + w), 4);
    assert.ok(ticks.length >= 1 && ticks.length <= 10, `${w}: ${ticks.length}`);
    assert.ok(ticks.every(Number.isFinite));
  }
});
