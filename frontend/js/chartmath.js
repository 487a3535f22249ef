// @ts-check
/**
 * The arithmetic behind the charts: scales, ticks, smoothing and per-pixel decimation.
 * A run of 10 epochs at batch 64 is ~8,600 mini-batch points; the canvas is ~600 pixels wide, so
 * each pixel column shows the min and max of the points that fall in it (the curve's envelope,
 * noise included) and the chart costs O(width) to draw however long the run.
 * Pure module: no DOM.
 */
import { fmt, percent } from "./learnmath.js";

/**
 * A growable column of numbers (typed array, amortised doubling).
 */
export class Column {
  constructor(capacity = 1024) { this.data = new Float64Array(capacity); this.length = 0; }
  /** @param {number} v */
  push(v) {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  clear() { this.length = 0; }
  /** @returns {Float64Array} a view of the filled part */
  view() { return this.data.subarray(0, this.length); }
}

/**
 * A linear or log scale mapping [d0, d1] to [r0, r1].
 * @param {number} d0 @param {number} d1 @param {number} r0 @param {number} r1 @param {boolean} [log]
 * @returns {(v: number) => number}
 */
export function makeScale(d0, d1, r0, r1, log = false) {
  if (log) {
    const l0 = Math.log10(Math.max(d0, 1e-12)), l1 = Math.log10(Math.max(d1, 1e-12));
    const k = l1 === l0 ? 0 : (r1 - r0) / (l1 - l0);
    return (v) => r0 + (Math.log10(Math.max(v, 1e-12)) - l0) * k;
  }
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/**
 * Inverse of a linear/log scale. @param {number} d0 @param {number} d1 @param {number} r0 @param {number} r1 @param {boolean} [log]
 * @returns {(px: number) => number}
 */
export function invertScale(d0, d1, r0, r1, log = false) {
  if (log) {
    const l0 = Math.log10(Math.max(d0, 1e-12)), l1 = Math.log10(Math.max(d1, 1e-12));
    return (p) => 10 ** (l0 + ((p - r0) / (r1 - r0 || 1)) * (l1 - l0));
  }
  return (p) => d0 + ((p - r0) / (r1 - r0 || 1)) * (d1 - d0);
}

/**
 * Whether [lo, hi] is one value: narrower than 10⁻¹² of its size, a few thousand rounding errors
 * of a double (a smoothed point beside its raw one: 0.5 and 0.5000000000000001).
 * @param {number} lo @param {number} hi
 */
const isFlat = (lo, hi) => hi - lo <= (Math.abs(lo) + Math.abs(hi)) * 1e-12;

/**
 * Round tick values ("nice numbers": 1, 2, 5 × 10^k) covering [lo, hi].
 * @param {number} lo @param {number} hi @param {number} [count] about how many
 * @returns {number[]}
 */
export function niceTicks(lo, hi, count = 5) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  // A range within rounding of one value has one tick: a step below the values' own precision
  // would never move `v` (adding it gives `v` back), and the loop would grow without end.
  if (isFlat(lo, hi)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  // Counted, not stepped by addition: at most about count + 1 ticks, whatever the rounding.
  const first = Math.ceil(lo / step), last = Math.floor(hi / step + 1e-9);
  const out = [];
  for (let i = first; i <= last && out.length <= 2 * count + 2; i++) {
    const v = i * step;
    out.push(Math.abs(v) < step * 1e-9 ? 0 : +v.toPrecision(12));
  }
  return out;
}

/**
 * Powers of ten (and 2×, 5× when the range is short) within [lo, hi], for a log axis.
 * @param {number} lo @param {number} hi @returns {number[]}
 */
export function logTicks(lo, hi) {
  lo = Math.max(lo, 1e-12);
  if (hi <= lo) return [lo];
  const e0 = Math.floor(Math.log10(lo)), e1 = Math.ceil(Math.log10(hi));
  const mult = e1 - e0 <= 3 ? [1, 2, 5] : [1];
  const out = [];
  for (let e = e0; e <= e1; e++) for (const m of mult) {
    const v = +(m * 10 ** e).toPrecision(6);
    if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
  }
  return out;
}

/**
 * Exponential moving average with bias correction (TensorBoard's smoothing): the first points are
 * not pulled towards zero. smoothing 0 = raw, 0.99 = very smooth. Non-finite points are skipped
 * (they keep the previous smoothed value).
 * @param {ArrayLike<number>} ys @param {number} smoothing in [0, 1) @param {number} [n] length
 * @returns {Float64Array}
 */
export function smooth(ys, smoothing, n = ys.length) {
  const out = new Float64Array(n);
  let acc = 0, weight = 0, last = NaN;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (Number.isFinite(y)) {
      acc = acc * smoothing + (1 - smoothing) * y;
      weight = weight * smoothing + (1 - smoothing);
      last = acc / weight;
    }
    out[i] = last;
  }
  return out;
}

/**
 * Incremental version of `smooth` for live streams: feed points one by one.
 */
export class Smoother {
  /** @param {number} smoothing */
  constructor(smoothing) { this.smoothing = smoothing; this.acc = 0; this.weight = 0; this.last = NaN; }
  /** @param {number} y @returns {number} */
  push(y) {
    if (Number.isFinite(y)) {
      this.acc = this.acc * this.smoothing + (1 - this.smoothing) * y;
      this.weight = this.weight * this.smoothing + (1 - this.smoothing);
      this.last = this.acc / this.weight;
    }
    return this.last;
  }
}

/**
 * First index with xs[i] >= x (xs ascending). @param {ArrayLike<number>} xs @param {number} x @param {number} [n]
 */
export function lowerBound(xs, x, n = xs.length) {
  let lo = 0, hi = n;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

/**
 * Index of the point whose x is nearest (xs ascending), or -1 if empty.
 * @param {ArrayLike<number>} xs @param {number} x @param {number} [n]
 */
export function nearestIndex(xs, x, n = xs.length) {
  if (n === 0) return -1;
  const i = lowerBound(xs, x, n);
  if (i <= 0) return 0;
  if (i >= n) return n - 1;
  return x - xs[i - 1] <= xs[i] - x ? i - 1 : i;
}

/**
 * @typedef {{px: Float64Array, min: Float64Array, max: Float64Array, first: Float64Array, last: Float64Array, count: number}} Decimated
 */

/**
 * Min/max per pixel column. Points with x in [x0, x1] map to columns 0..width-1; each non-empty
 * column keeps its x pixel, min, max, first and last y (first/last join neighbouring columns so the
 * line stays continuous). Non-finite ys are skipped.
 * @param {ArrayLike<number>} xs ascending @param {ArrayLike<number>} ys
 * @param {number} x0 @param {number} x1 visible range @param {number} width columns
 * @param {number} [n] number of points
 * @returns {Decimated}
 */
export function decimate(xs, ys, x0, x1, width, n = xs.length) {
  width = Math.max(1, Math.floor(width));
  const px = new Float64Array(width), mn = new Float64Array(width), mx = new Float64Array(width);
  const first = new Float64Array(width), last = new Float64Array(width);
  let count = 0, col = -1;
  const span = x1 - x0 || 1;
  const start = Math.max(0, lowerBound(xs, x0, n) - 1);
  for (let i = start; i < n; i++) {
    const x = xs[i];
    if (x > x1) { // one point past the edge keeps the line going to the border
      const y = ys[i];
      if (Number.isFinite(y) && count < width) { px[count] = width; mn[count] = mx[count] = first[count] = last[count] = y; count++; }
      break;
    }
    const y = ys[i];
    if (!Number.isFinite(y)) continue;
    const c = Math.min(width - 1, Math.floor(((x - x0) / span) * width));
    if (c !== col || count === 0) {
      if (count >= width) break;
      col = c;
      px[count] = c; mn[count] = mx[count] = first[count] = last[count] = y;
      count++;
    } else {
      const k = count - 1;
      if (y < mn[k]) mn[k] = y;
      if (y > mx[k]) mx[k] = y;
      last[k] = y;
    }
  }
  return { px, min: mn, max: mx, first, last, count };
}

/**
 * [min, max] of the finite ys with x in [x0, x1] (all if no range); [NaN, NaN] if none.
 * @param {ArrayLike<number>} ys @param {number} [n] @param {ArrayLike<number>} [xs] @param {number} [x0] @param {number} [x1]
 * @returns {[number, number]}
 */
export function extent(ys, n = ys.length, xs, x0 = -Infinity, x1 = Infinity) {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (xs && (xs[i] < x0 || xs[i] > x1)) continue;
    const y = ys[i];
    if (Number.isFinite(y)) { if (y < lo) lo = y; if (y > hi) hi = y; }
  }
  return lo === Infinity ? [NaN, NaN] : [lo, hi];
}

/**
 * Pad a y-range a little and make it non-empty; positive for a log axis.
 * @param {number} lo @param {number} hi @param {boolean} [log] @returns {[number, number]}
 */
export function padRange(lo, hi, log = false) {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return log ? [0.01, 1] : [0, 1];
  if (log) {
    lo = Math.max(lo, 1e-6); hi = Math.max(hi, lo * 1.0001);
    return [lo / 1.2, hi * 1.2];
  }
  // Values a few rounding errors apart (a smoothed curve of equal losses: 0.5 and
  // 0.5000000000000001) are one value: padding their width would leave an axis too narrow for
  // any tick, and a person could not read a difference of 10⁻¹⁶ anyway.
  if (isFlat(lo, hi)) { const d = Math.abs(lo) * 0.1 || 0.5; return [lo - d, hi + d]; }
  const d = (hi - lo) * 0.06;
  return [lo - d, hi + d];
}

/**
 * Where to cut a series' top so a few spikes do not flatten the rest: the `q` quantile of its
 * finite values, and how many values lie above it.
 * @param {ArrayLike<number>} ys @param {number} n @param {number} q in (0, 1]
 * @returns {{top: number, above: number}}
 */
export function clipTop(ys, n, q) {
  const v = [];
  for (let i = 0; i < n; i++) if (Number.isFinite(ys[i])) v.push(ys[i]);
  if (!v.length) return { top: NaN, above: 0 };
  v.sort((a, b) => a - b);
  const top = v[Math.min(v.length - 1, Math.floor(q * (v.length - 1)))];
  let above = 0;
  for (const y of v) if (y > top) above++;
  return { top, above };
}

/** A short number for axes and tooltips. @param {number} v */
export function formatNumber(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 10000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  if (a >= 100) return v.toFixed(0);
  if (a >= 1) return +v.toPrecision(3) + "";
  if (a >= 0.001) return +v.toPrecision(3) + "";
  return fmt(v, 2); // 1.4·10⁻⁴, never "1.4e-4"
}

/**
 * An axis's tick labels, each different from its neighbours: formatNumber's short form, with
 * more significant digits while two ticks would read the same (a step's costs 1.9952…1.9963 are
 * not all "2"; 1.88·10⁻⁶ and 1.9·10⁻⁶ are not both "1.9·10⁻⁶"). @param {number[]} ticks
 */
export function tickLabels(ticks) {
  const distinct = (/** @type {string[]} */ l) => l.every((x, i) => i === 0 || x !== l[i - 1]);
  let labels = ticks.map(formatNumber);
  for (let sig = 3; !distinct(labels) && sig <= 15; sig++) labels = ticks.map((v) => fmt(v, sig));
  return labels;
}

/**
 * The left margin of a chart whose y labels are `width` px wide at most: the labels end 6 px
 * left of the axis and keep clear of the rotated axis title (drawn 5–17 px from the edge).
 * @param {number} width
 */
export const yAxisLeft = (width) => Math.max(52, Math.ceil(width) + 6 + 20);

/**
 * An accuracy as a person reads it everywhere (charts, Runs, Class, menus): cut like `percent`, so
 * 97.48% reads 97.4%, never 97.5%; every digit right is exactly 100%. @param {number} v in [0, 1]
 */
export const accuracyPercent = (v) => percent(v, true);

/**
 * The words of a duration, one form per size; the page passes its language's (i18n.js `duration`:
 * "2 分 41 秒"), English by default.
 * @typedef {{s: (p: {s: number}) => string, min_s: (p: {m: number, s: string}) => string, h_min: (p: {h: number, m: string}) => string}} DurationWords
 * @type {DurationWords}
 */
export const ENGLISH_DURATION = {
  s: ({ s }) => `${s} s`,
  min_s: ({ m, s }) => `${m} min ${s} s`,
  h_min: ({ h, m }) => `${h} h ${m} min`,
};

/** "1 min 05 s" from seconds. @param {number} s @param {DurationWords} [words] */
export function formatDuration(s, words = ENGLISH_DURATION) {
  if (!Number.isFinite(s) || s < 0) return "–";
  s = Math.round(s);
  if (s < 60) return words.s({ s });
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return words.min_s({ m, s: String(r).padStart(2, "0") });
  return words.h_min({ h: Math.floor(m / 60), m: String(m % 60).padStart(2, "0") });
}

/** Before this much steady training a time left is not said: the first seconds run slow (start-up, the first heavy frames). */
export const ETA_AFTER_MS = 10_000;
/** ... and the speed must have held within this fraction over the last ETA_STEADY_MS. */
export const ETA_STEADY = 0.25;
export const ETA_STEADY_MS = 5_000;

/**
 * The speed a time left may be computed from, or null while it is not measured well enough:
 * readings for ETA_AFTER_MS since training (re)started, and the last ETA_STEADY_MS of them within
 * ETA_STEADY of the latest. The first estimate of a run was 1 h 34 min for a 7-minute run (QA4).
 * @param {{at: number, rate: number}[]} readings the server's speeds (ms, samples/s), oldest first
 * @param {number} now ms
 * @returns {number|null}
 */
export function steadyRate(readings, now) {
  if (!readings.length || now - readings[0].at < ETA_AFTER_MS) return null;
  const latest = readings[readings.length - 1].rate;
  if (!(latest > 0)) return null;
  const recent = readings.filter((r) => r.at >= now - ETA_STEADY_MS);
  return recent.every((r) => Math.abs(r.rate - latest) <= ETA_STEADY * latest) ? latest : null;
}

/**
 * Where a mark's label goes: just right of its line, or just left of it (right-aligned) where it
 * would run past the plot's right edge — marks at the newest step (a pause, a new rate) sit at
 * that edge, and their labels were cut to "pa" and "ba".
 * @param {number} X the mark's line, px @param {number} width the widest of its labels, px
 * @param {number} right the plot's right edge, px @param {number} [gap] px between line and text
 * @returns {{x: number, align: "left"|"right"}}
 */
export function markLabelAt(X, width, right, gap = 3) {
  return X + gap + width <= right ? { x: X + gap, align: "left" } : { x: X - gap, align: "right" };
}
