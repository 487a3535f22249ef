// @ts-check
/**
 * Maps of exact numbers drawn as grids of coloured cells — the Learn view's pictures of inputs,
 * kernels, errors and gradients. Unlike the live stream's uint8 pictures these hold the real
 * numbers: the colour is only a picture of them, the number is printed in the cell when it is big
 * enough and shown exactly on hover (`hitCell` finds the cell under the pointer).
 */
import { cssColor } from "./colormap.js";
import { fmt } from "./learnmath.js";

/**
 * @typedef {{h: number, w: number, at: (r: number, c: number) => number}} Map2D
 * @typedef {{r: number, c: number, h: number, w: number, color: string, width?: number}} Box
 * @typedef {{cell: number, gap: number, h: number, w: number}} GridLayout
 */

/**
 * The colour of v on a scale: "diverging" puts 0 in the middle (blue −, white 0, red +) and
 * scales by `absMax`; "viridis" maps [lo, hi] from dark to bright.
 * @param {number} v @param {{scale: "diverging"|"viridis", absMax?: number, lo?: number, hi?: number}} s
 */
export function colorOf(v, s) {
  if (!Number.isFinite(v)) return "#888";
  if (s.scale === "diverging") {
    const m = s.absMax || 1;
    return cssColor("diverging", 0.5 + 0.5 * Math.max(-1, Math.min(1, v / m)));
  }
  const lo = s.lo ?? 0, hi = s.hi ?? 1;
  return cssColor("viridis", hi > lo ? (v - lo) / (hi - lo) : 0.5);
}

/**
 * The scale a map is drawn with: diverging when it has both signs (or is an error/gradient),
 * shared across the maps given so they compare.
 * @param {Map2D[]} maps @param {"diverging"|"viridis"} [scale]
 */
export function scaleFor(maps, scale) {
  let lo = Infinity, hi = -Infinity;
  for (const m of maps) for (let r = 0; r < m.h; r++) for (let c = 0; c < m.w; c++) { const v = m.at(r, c); if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  const kind = scale ?? (lo < 0 ? "diverging" : "viridis");
  return { scale: kind, absMax: Math.max(Math.abs(lo), Math.abs(hi)), lo: kind === "viridis" ? Math.min(0, lo) : lo, hi };
}

/**
 * Draw `m` into `canvas` as cells of `cell` CSS px. Numbers are printed in cells ≥ 30 px, each in a
 * font small enough to fit its cell (down to 8 px; a number that still does not fit is left to the
 * hover, never drawn over its neighbours).
 * @param {HTMLCanvasElement} canvas @param {Map2D} m
 * @param {{cell: number, scale: ReturnType<typeof scaleFor>, boxes?: Box[], dim?: (r: number, c: number) => boolean, text?: boolean}} opt
 *   `dim(r, c)` true: the cell is drawn faded (not filled yet, or cut off).
 * @returns {GridLayout}
 */
export function drawGrid(canvas, m, opt) {
  const dpr = window.devicePixelRatio || 1;
  const gap = opt.cell >= 8 ? 1 : 0;
  const W = m.w * opt.cell, H = m.h * opt.cell;
  canvas.style.width = `${W}px`; canvas.style.height = `${H}px`;
  if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const showText = (opt.text ?? true) && opt.cell >= 30;
  const size = Math.max(9, Math.min(12, opt.cell / 3.2));
  ctx.font = `${size}px system-ui, sans-serif`;
  ctx.textAlign = "center"; ctx.textBaseline = "middle";
  for (let r = 0; r < m.h; r++) {
    for (let c = 0; c < m.w; c++) {
      const v = m.at(r, c);
      ctx.globalAlpha = opt.dim?.(r, c) ? 0.18 : 1;
      ctx.fillStyle = colorOf(v, opt.scale);
      ctx.fillRect(c * opt.cell, r * opt.cell, opt.cell - gap, opt.cell - gap);
      if (showText && !opt.dim?.(r, c)) {
        const text = fmt(v, 2), room = opt.cell - gap - 3, wide = ctx.measureText(text).width;
        const fit = wide <= room ? size : Math.floor((size * room) / wide);
        if (fit >= 8) {
          ctx.font = `${fit}px system-ui, sans-serif`;
          ctx.fillStyle = textOn(v, opt.scale);
          ctx.fillText(text, c * opt.cell + opt.cell / 2, r * opt.cell + opt.cell / 2);
          ctx.font = `${size}px system-ui, sans-serif`;
        }
      }
    }
  }
  ctx.globalAlpha = 1;
  for (const b of opt.boxes ?? []) {
    ctx.strokeStyle = b.color; ctx.lineWidth = b.width ?? 2;
    ctx.strokeRect(b.c * opt.cell + 1, b.r * opt.cell + 1, b.w * opt.cell - 2, b.h * opt.cell - 2);
  }
  return { cell: opt.cell, gap, h: m.h, w: m.w };
}

/** Black or white text on a cell's colour. @param {number} v @param {ReturnType<typeof scaleFor>} s */
function textOn(v, s) {
  if (s.scale === "diverging") return Math.abs(v) / (s.absMax || 1) > 0.6 ? "#fff" : "#111";
  const t = (s.hi ?? 1) > (s.lo ?? 0) ? (v - (s.lo ?? 0)) / ((s.hi ?? 1) - (s.lo ?? 0)) : 0.5;
  return t > 0.6 ? "#111" : "#fff";
}

/**
 * The cell under a pointer, or null.
 * @param {HTMLCanvasElement} canvas @param {GridLayout} g @param {number} x clientX @param {number} y clientY
 */
export function hitCell(canvas, g, x, y) {
  const rect = canvas.getBoundingClientRect();
  const c = Math.floor(((x - rect.left) / rect.width) * g.w), r = Math.floor(((y - rect.top) / rect.height) * g.h);
  return r >= 0 && c >= 0 && r < g.h && c < g.w ? { r, c } : null;
}

/**
 * A cell size that fits `cols` cells into `width` CSS px, between `min` and `max`.
 * @param {number} cols @param {number} width @param {number} [min] @param {number} [max]
 */
export function fitCell(cols, width, min = 3, max = 36) {
  return Math.max(min, Math.min(max, Math.floor(width / Math.max(1, cols))));
}

/**
 * A labelled legend strip for a scale: the colours with the real end values.
 * @param {HTMLElement} el @param {ReturnType<typeof scaleFor>} s
 */
export function legend(el, s) {
  const lo = s.scale === "diverging" ? -s.absMax : s.lo ?? 0, hi = s.scale === "diverging" ? s.absMax : s.hi ?? 1;
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => colorOf(lo + t * (hi - lo), s)).join(", ");
  const bar = document.createElement("i");
  bar.style.background = `linear-gradient(to right, ${stops})`; // CSSOM, not an inline style attribute (CSP)
  const a = document.createElement("span"), b = document.createElement("span");
  a.textContent = fmt(lo, 3); b.textContent = fmt(hi, 3);
  el.classList.add("legend");
  el.replaceChildren(a, bar, b);
}
