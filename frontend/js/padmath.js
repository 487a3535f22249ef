// @ts-check
/**
 * The drawing pad's arithmetic: stroke smoothing, and the pad's pixels downsampled to the grid
 * sent to the server (ink bright = 1 on dark = 0, values in [0, 1]); the server then prepares it
 * the way MNIST was made (crop to the ink, fit 20×20, centre of mass at the centre of 28×28).
 * Pure module: no DOM.
 */

/** @typedef {{x: number, y: number}} Point */

/** The pad is this many units wide whatever its size on screen (strokes are kept in them). */
export const PAD_UNITS = 280;
/** The brush: 20 units of 280, a marker (MNIST strokes are ~2–3 px of a 20 px digit). */
export const BRUSH = 20;
/**
 * Below this share of the pad a drawing is too small to read: a single dot or a digit in a corner
 * blown up to 20×20 is a blob, and the network would only guess. (The brush alone is 20/280.)
 */
export const MIN_EXTENT = 0.25;

/**
 * The brush the strokes are sent to the server with, in pad units. The pad draws every stroke
 * BRUSH wide, as a pen would, whatever the drawing's size; but the server fits the drawing to 20×20
 * (as MNIST did), so a small digit's strokes would come out fat: a digit a quarter of the pad high
 * got ~6 px strokes against MNIST's 2–3, and a small "1" with a base read as a 2 (QA3 hand #6).
 * Sent, a stroke is never wider than a seventh of the drawing's own extent (≈ 2.5 of 20 px after
 * the fit); a digit half the pad or bigger is sent exactly as drawn.
 * @param {Point[][]} strokes @returns {number}
 */
export function sendBrush(strokes) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of strokes) for (const p of s) { x0 = Math.min(x0, p.x); x1 = Math.max(x1, p.x); y0 = Math.min(y0, p.y); y1 = Math.max(y1, p.y); }
  if (x1 < x0) return BRUSH;
  return Math.min(BRUSH, Math.max(MIN_SEND_BRUSH, Math.max(x1 - x0, y1 - y0) / 7));
}
/** The thinnest stroke sent (pad units): a dot stays a visible dot. */
export const MIN_SEND_BRUSH = 4;

/**
 * The ink's bounding box as a share of the grid: {w, h} in [0, 1] (0 without ink).
 * @param {number[][]} grid @param {number} [threshold]
 */
export function inkExtent(grid, threshold = 0.05) {
  let x0 = Infinity, x1 = -1, y0 = Infinity, y1 = -1;
  grid.forEach((row, y) => row.forEach((v, x) => {
    if (v > threshold) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
  }));
  const n = grid.length || 1, m = grid[0]?.length || 1;
  return x1 < 0 ? { w: 0, h: 0 } : { w: (x1 - x0 + 1) / m, h: (y1 - y0 + 1) / n };
}

/** Whether a drawing is too small to read (its taller or wider side under MIN_EXTENT). @param {number[][]} grid */
export function tooSmall(grid) {
  const e = inkExtent(grid);
  return Math.max(e.w, e.h) < MIN_EXTENT;
}

/**
 * Average `factor`×`factor` blocks of one RGBA channel into an (h/factor)×(w/factor) grid in [0, 1].
 * @param {Uint8ClampedArray|Uint8Array} rgba ImageData.data of the pad (ink bright)
 * @param {number} w @param {number} h pad size in pixels
 * @param {number} out grid size (e.g. 56)
 * @param {number} [channel] 0 = red
 * @returns {number[][]} rows, rounded to 3 decimals (short JSON)
 */
export function downsample(rgba, w, h, out, channel = 0) {
  const fx = w / out, fy = h / out;
  /** @type {number[][]} */
  const rows = [];
  for (let gy = 0; gy < out; gy++) {
    const y0 = Math.floor(gy * fy), y1 = Math.max(y0 + 1, Math.floor((gy + 1) * fy));
    const row = new Array(out);
    for (let gx = 0; gx < out; gx++) {
      const x0 = Math.floor(gx * fx), x1 = Math.max(x0 + 1, Math.floor((gx + 1) * fx));
      let sum = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += rgba[(y * w + x) * 4 + channel];
      const v = sum / ((y1 - y0) * (x1 - x0) * 255);
      row[gx] = Math.round(Math.min(1, Math.max(0, v)) * 1000) / 1000;
    }
    rows.push(row);
  }
  return rows;
}

/** Whether any cell holds ink. @param {number[][]} grid @param {number} [threshold] */
export const hasInk = (grid, threshold = 0.05) => grid.some((r) => r.some((v) => v > threshold));

/**
 * The path a stroke is drawn along: quadratic curves through the midpoints of successive points
 * (a smooth curve that passes near every sampled point, like a pen), except at a corner — a turn
 * sharper than CORNER_DEGREES — which the path goes through: the curve would cut it by half a
 * segment, and with a quick hand (points ~30 px apart) a small European 1's flag became a hook
 * (read 7) and a small closed 4 a blob (QA round 4). Returns segments [start, control, end] for
 * ctx.moveTo/quadraticCurveTo (a segment whose control is its end is a straight line).
 * @param {Point[]} pts
 * @returns {{start: Point, curves: Array<[Point, Point]>}} curves: [control, end]
 */
export function smoothPath(pts) {
  if (pts.length === 0) return { start: { x: 0, y: 0 }, curves: [] };
  if (pts.length < 3) return { start: pts[0], curves: pts.slice(1).map((p) => /** @type {[Point, Point]} */ ([p, p])) };
  /** @type {Array<[Point, Point]>} */
  const curves = [];
  for (let i = 1; i < pts.length - 1; i++) {
    const mid = { x: (pts[i].x + pts[i + 1].x) / 2, y: (pts[i].y + pts[i + 1].y) / 2 };
    if (isCorner(pts[i - 1], pts[i], pts[i + 1])) {
      curves.push([pts[i], pts[i]], [mid, mid]); // straight into the corner and out of it
    } else {
      curves.push([pts[i], mid]);
    }
  }
  const last = pts[pts.length - 1];
  curves.push([last, last]);
  return { start: pts[0], curves };
}

/** A turn sharper than this (the angle between the way in and the way out) is a corner. */
export const CORNER_DEGREES = 50;

/** Whether the path a → b → c turns by more than CORNER_DEGREES at b. @param {Point} a @param {Point} b @param {Point} c */
export function isCorner(a, b, c) {
  const ux = b.x - a.x, uy = b.y - a.y, vx = c.x - b.x, vy = c.y - b.y;
  const n = Math.hypot(ux, uy) * Math.hypot(vx, vy);
  return n > 0 && (ux * vx + uy * vy) / n < Math.cos((CORNER_DEGREES * Math.PI) / 180);
}

/** Pointer steps (pad units) up to which follow() smooths fully, and from which not at all. */
export const JITTER = { full: 3, none: 12 };

/**
 * Light input smoothing: each new pointer position moves the pen part of the way (a low-pass
 * filter that removes mouse/touch jitter without lag you can see). Only small steps are jitter:
 * a step of JITTER.none pad units or more (a quick hand) goes all the way, or the pen never
 * reaches a corner; between JITTER.full and JITTER.none the share grows from k to 1.
 * @param {Point|null} prev @param {Point} next @param {number} [k] 0..1, 1 = no smoothing
 * @returns {Point}
 */
export function follow(prev, next, k = 0.6) {
  if (!prev) return next;
  const d = Math.hypot(next.x - prev.x, next.y - prev.y);
  const t = Math.min(1, Math.max(0, (d - JITTER.full) / (JITTER.none - JITTER.full)));
  const share = k + (1 - k) * t;
  return { x: prev.x + (next.x - prev.x) * share, y: prev.y + (next.y - prev.y) * share };
}

/**
 * Throttle with at most one request in flight: `want()` marks new input; `next(now)` says whether
 * to send now (nothing in flight and at least `minMs` since the last send); `done()` when the answer
 * arrives. Pure state machine so it can be tested without timers.
 */
export class InFlightThrottle {
  /** @param {number} minMs */
  constructor(minMs = 40) { this.minMs = minMs; this.pending = false; this.inFlight = false; this.lastSent = -Infinity; this.sentAt = 0; }
  want() { this.pending = true; }
  /** @param {number} now ms */
  next(now) {
    if (!this.pending || now - this.lastSent < this.minMs) return false;
    // A lost answer must not block the pad for ever: give up waiting after 2 s.
    if (this.inFlight && now - this.sentAt < 2000) return false;
    this.pending = false; this.inFlight = true; this.lastSent = now; this.sentAt = now;
    return true;
  }
  done() { this.inFlight = false; }
}
